"""The notification settings page and a project's webhooks."""

from projects.models import NotificationPreference, Webhook


def test_notification_settings_save_events_and_projects(client, owner, project):
    client.force_login(owner)
    page = client.get("/account/notifications/")
    assert page.status_code == 200
    # Every event is offered ticked until the user chooses.
    assert set(page.context["form"].initial["events"]) == {
        "new_finding",
        "regression",
        "sla_breached",
        "audit_failed",
        "gate_failed",
    }
    response = client.post(
        "/account/notifications/",
        {
            "email": "on",
            "events": ["regression", "gate_failed"],
            "projects": [project.pk],
        },
    )
    assert response.status_code == 302
    preference = NotificationPreference.objects.get(user=owner)
    assert preference.email
    assert preference.events == ["regression", "gate_failed"]
    assert list(preference.projects.all()) == [project]


def test_notification_settings_need_an_email_address(client, owner):
    owner.email = ""
    owner.save()
    client.force_login(owner)
    response = client.post(
        "/account/notifications/", {"email": "on", "events": ["regression"]}
    )
    assert response.status_code == 400
    assert "no email address" in response.content.decode()


def test_notification_settings_offer_only_the_users_projects(client, outsider, project):
    client.force_login(outsider)
    response = client.post(
        "/account/notifications/", {"events": ["regression"], "projects": [project.pk]}
    )
    assert response.status_code == 400
    assert not NotificationPreference.objects.exists()


def test_adding_a_webhook_shows_its_secret_once(client, owner, project, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    client.force_login(owner)
    response = client.post(
        f"/projects/{project.pk}/webhooks/",
        {"webhook-url": "http://127.0.0.1:9/hook", "webhook-events": ["gate_failed"]},
    )
    assert response.status_code == 200
    secret = response.context["new_webhook_secret"]
    assert secret in response.content.decode()
    webhook = Webhook.objects.get()
    assert webhook.signing_secret == secret
    assert secret not in webhook.secret_encrypted
    assert webhook.events == ["gate_failed"]
    again = client.get(f"/projects/{project.pk}/settings/").content.decode()
    assert secret not in again and "http://127.0.0.1:9/hook" in again


def test_a_webhook_to_a_private_address_is_refused_by_default(client, owner, project):
    client.force_login(owner)
    response = client.post(
        f"/projects/{project.pk}/webhooks/", {"webhook-url": "http://10.1.2.3/hook"}
    )
    assert response.status_code == 400
    assert "private or local address" in response.content.decode()
    response = client.post(
        f"/projects/{project.pk}/webhooks/", {"webhook-url": "ftp://example.com/x"}
    )
    assert response.status_code == 400
    assert not Webhook.objects.exists()


def test_only_managers_see_and_change_webhooks(client, member, viewer, project):
    Webhook.objects.create(project=project, url="https://hooks.example/secret-path")
    for user in (member, viewer):
        client.force_login(user)
        page = client.get(f"/projects/{project.pk}/settings/").content.decode()
        assert "secret-path" not in page
        response = client.post(
            f"/projects/{project.pk}/webhooks/", {"webhook-url": "https://example.com/"}
        )
        assert response.status_code == 403
    assert Webhook.objects.count() == 1


def test_removing_a_webhook(client, owner, project):
    webhook = Webhook.objects.create(project=project, url="https://hooks.example/x")
    client.force_login(owner)
    response = client.post(f"/webhooks/{webhook.pk}/delete/")
    assert response.status_code == 302
    assert not Webhook.objects.exists()


def test_the_settings_page_sets_the_gate(client, owner, project):
    client.force_login(owner)
    response = client.post(
        f"/projects/{project.pk}/settings/",
        {
            "project-name": "Shop",
            "project-slug": "shop",
            "project-audit_interval_hours": 24,
            "project-sla_critical_days": 7,
            "project-sla_high_days": 30,
            "project-sla_medium_days": 90,
            "project-sla_low_days": 180,
            "project-gate_new_severity": "critical",
            "project-gate_overdue_critical": "on",
        },
    )
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.gate_new_severity == "critical"
    assert not project.gate_regressions
    assert project.gate_overdue_critical
