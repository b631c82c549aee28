from django.urls import path

from . import views

app_name = "findings"
urlpatterns = [
    path("projects/<int:pk>/findings/", views.finding_list, name="list"),
    path("findings/mine/", views.finding_mine, name="mine"),
    path("findings/<int:pk>/", views.finding_detail, name="detail"),
    path("findings/<int:pk>/status/", views.finding_status, name="status"),
    path("findings/<int:pk>/assign/", views.finding_assign, name="assign"),
    path("findings/<int:pk>/comment/", views.finding_comment, name="comment"),
]
