from django.urls import path

from . import views

app_name = "projects"
urlpatterns = [
    path("", views.project_list, name="list"),
    path("projects/new/", views.project_create, name="create"),
    path("projects/<int:pk>/", views.project_overview, name="overview"),
    path("projects/<int:pk>/settings/", views.project_settings, name="settings"),
    path("projects/<int:pk>/delete/", views.project_delete, name="delete"),
    path("projects/<int:pk>/targets/", views.target_create, name="target-create"),
    path("targets/<int:pk>/", views.target_edit, name="target-edit"),
    path("targets/<int:pk>/delete/", views.target_delete, name="target-delete"),
    path("targets/<int:pk>/test/", views.target_test, name="target-test"),
    path("projects/<int:pk>/webhooks/", views.webhook_create, name="webhook-create"),
    path("webhooks/<int:pk>/delete/", views.webhook_delete, name="webhook-delete"),
    path("account/api-tokens/", views.api_token_list, name="api-tokens"),
    path(
        "account/api-tokens/<int:pk>/revoke/",
        views.api_token_revoke,
        name="api-token-revoke",
    ),
    path(
        "account/notifications/",
        views.notification_settings,
        name="notifications",
    ),
    path("projects/<int:pk>/tokens/", views.token_create, name="token-create"),
    path("tokens/<int:pk>/revoke/", views.token_revoke, name="token-revoke"),
    path("teams/new/", views.team_create, name="team-create"),
    path("teams/<slug:slug>/members/", views.team_members, name="members"),
    path("teams/<slug:slug>/leave/", views.team_leave, name="team-leave"),
    path(
        "teams/<slug:slug>/invitations/<int:invitation_id>/cancel/",
        views.invitation_cancel,
        name="invitation-cancel",
    ),
    path(
        "teams/<slug:slug>/members/<int:membership_id>/",
        views.member_update,
        name="member-update",
    ),
]
