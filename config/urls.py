from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from audits import ci_upload
from projects import views as project_views

from .api import api

urlpatterns = [
    path("", include("projects.urls")),
    path("", include("audits.urls")),
    path("", include("findings.urls")),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/signup/", project_views.signup, name="signup"),
    path(
        "api/v1/projects/<slug:slug>/uploads",
        ci_upload.upload_create,
        name="api-upload-create",
    ),
    path("api/v1/", api.urls),
    path("admin/", admin.site.urls),
]

handler404 = "projects.views.error_404"
handler500 = "projects.views.error_500"
handler403 = "projects.views.error_403"
