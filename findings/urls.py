from django.urls import path

from . import exports, views

app_name = "findings"
urlpatterns = [
    path("projects/<int:pk>/findings/", views.finding_list, name="list"),
    path("projects/<int:pk>/findings/bulk/", views.finding_bulk, name="bulk"),
    path(
        "projects/<int:pk>/findings/export.csv", exports.export_csv, name="export-csv"
    ),
    path(
        "projects/<int:pk>/findings/export.md",
        exports.export_markdown,
        name="export-markdown",
    ),
    path(
        "projects/<int:pk>/findings/export.sarif",
        exports.export_sarif,
        name="export-sarif",
    ),
    path("findings/mine/", views.finding_mine, name="mine"),
    path("findings/<int:pk>/", views.finding_detail, name="detail"),
    path("findings/<int:pk>/status/", views.finding_status, name="status"),
    path("findings/<int:pk>/assign/", views.finding_assign, name="assign"),
    path("findings/<int:pk>/severity/", views.finding_severity, name="severity"),
    path("findings/<int:pk>/due/", views.finding_due, name="due"),
    path("findings/<int:pk>/comment/", views.finding_comment, name="comment"),
]
