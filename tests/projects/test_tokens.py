"""Project tokens on the settings page: shown once, stored hashed, revocable."""

from django.urls import reverse

from projects.models import ProjectToken


def create(client, project, name="GitHub Actions"):
    return client.post(
        reverse("projects:token-create", args=[project.pk]), {"name": name}
    )


def test_a_new_token_is_shown_once_and_stored_only_as_a_digest(client, owner, project):
    client.force_login(owner)
    response = create(client, project)
    assert response.status_code == 200
    token = ProjectToken.objects.get(project=project)
    raw = response.context["new_token"]
    assert raw.startswith("plbp_") and raw.encode() in response.content
    assert "shown only once" in response.content.decode()
    assert token.digest == ProjectToken.digest_of(raw) != raw
    assert raw not in {getattr(token, f.attname) for f in token._meta.fields}
    again = client.get(reverse("projects:settings", args=[project.pk]))
    assert raw.encode() not in again.content
    assert token.hint.encode() in again.content
    assert b"never" in again.content  # last used


def test_a_token_needs_a_name(client, owner, project):
    client.force_login(owner)
    response = create(client, project, name="  ")
    assert response.status_code == 400
    assert "Give the token a name" in response.content.decode()
    assert not ProjectToken.objects.exists()


def test_revoking_a_token_marks_it_and_keeps_it_listed(client, owner, project):
    client.force_login(owner)
    token, _ = ProjectToken.issue(project, name="ci")
    response = client.post(reverse("projects:token-revoke", args=[token.pk]))
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    page = client.get(reverse("projects:settings", args=[project.pk])).content.decode()
    assert "revoked" in page


def test_outsiders_get_404_and_viewers_403_on_tokens(client, outsider, viewer, project):
    token, _ = ProjectToken.issue(project, name="ci")
    client.force_login(outsider)
    assert create(client, project).status_code == 404
    assert (
        client.post(reverse("projects:token-revoke", args=[token.pk])).status_code
        == 404
    )
    client.force_login(viewer)
    assert create(client, project).status_code == 403
    assert (
        client.post(reverse("projects:token-revoke", args=[token.pk])).status_code
        == 403
    )
    token.refresh_from_db()
    assert token.is_active
    assert ProjectToken.objects.count() == 1


def test_token_views_take_only_post_and_need_a_login(client, owner, project):
    token, _ = ProjectToken.issue(project, name="ci")
    url = reverse("projects:token-create", args=[project.pk])
    assert client.post(url, {"name": "x"}).status_code == 302  # to the login page
    client.force_login(owner)
    assert client.get(url).status_code == 405
    assert (
        client.get(reverse("projects:token-revoke", args=[token.pk])).status_code == 405
    )
