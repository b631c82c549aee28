from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, reverse_lazy

from audits import ci_upload
from findings import views as finding_views
from projects import views as project_views

from .api import api

# Django's own account views, with our templates (templates/registration/)
# and the password validators of settings.AUTH_PASSWORD_VALIDATORS. The reset
# form answers the same whether or not the email is registered.
account_patterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("signup/", project_views.signup, name="signup"),
    path(
        "password/change/",
        auth_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "password/change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path(
        "password/reset/",
        auth_views.PasswordResetView.as_view(
            success_url=reverse_lazy("password_reset_done")
        ),
        name="password_reset",
    ),
    path(
        "password/reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "password/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
]

# A page per check of the catalogue; public, like any linter's rule docs.
check_patterns = [
    path("", finding_views.check_list, name="list"),
    path("<slug:check_id>/", finding_views.check_detail, name="detail"),
]

urlpatterns = [
    path("", include("projects.urls")),
    path("", include("audits.urls")),
    path("", include("findings.urls")),
    path(
        "api/v1/projects/<slug:slug>/uploads",
        ci_upload.upload_create,
        name="api-upload-create",
    ),
    path("api/v1/", api.urls),
    path("accounts/", include(account_patterns)),
    path("checks/", include((check_patterns, "checks"))),
    path("invitations/", project_views.invitation_list, name="invitations"),
    path(
        "invitations/<int:invitation_id>/respond/",
        project_views.invitation_respond,
        name="invitation-respond",
    ),
    path(
        "invitations/<str:token>/",
        project_views.invitation_detail,
        name="invitation",
    ),
    path("admin/", admin.site.urls),
]

handler400 = "projects.views.error_400"
handler404 = "projects.views.error_404"
handler500 = "projects.views.error_500"
handler403 = "projects.views.error_403"
