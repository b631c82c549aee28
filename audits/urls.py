from django.urls import path

from . import views

app_name = "audits"
urlpatterns = [
    path("projects/<int:pk>/audits/", views.audit_list, name="list"),
    path("projects/<int:pk>/audits/run/", views.audit_run, name="run"),
    path("audits/<int:pk>/", views.audit_detail, name="detail"),
    path("audits/<int:pk>/status/", views.audit_status, name="status"),
    path("audits/<int:pk>/cancel/", views.audit_cancel, name="cancel"),
    path("audits/<int:pk>/report.md", views.audit_report, name="report"),
    path("projects/<int:pk>/import/", views.audit_import, name="import"),
]
