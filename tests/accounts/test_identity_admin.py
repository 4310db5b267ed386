"""Only superusers manage identities: users, groups, permissions, and others' tokens."""
import importlib

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission

from audit.models import AuditEntry
from syncapp.roles import INTEGRATION_ADMIN, MARKETING
from tests.web.factories import UserFactory

pytestmark = pytest.mark.django_db


def _change_form(user, **overrides) -> dict:
    """What the admin's user change form posts for `user`, with `overrides` on top."""
    data = {"username": user.username, "first_name": "", "last_name": "", "email": "", "is_active": "on",
            "is_staff": "on", "date_joined_0": "2024-01-01", "date_joined_1": "00:00:00",
            "groups": [group.pk for group in user.groups.all()]}
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


@pytest.fixture
def root(db):
    return get_user_model().objects.create_superuser("root", "root@example.com", "root-password")


@pytest.fixture
def integration_admin(client, db):
    admin = UserFactory(username="ia", role=INTEGRATION_ADMIN, is_staff=True)
    client.force_login(admin)
    return admin


def test_an_integration_admin_cannot_make_itself_superuser(client, root, integration_admin):
    url = f"/admin/auth/user/{integration_admin.pk}/change/"
    assert client.get(url).status_code == 403
    response = client.post(url, _change_form(integration_admin, is_superuser="on"))
    assert response.status_code == 403
    integration_admin.refresh_from_db()
    assert not integration_admin.is_superuser


def test_an_integration_admin_cannot_change_the_superusers_password(client, root, integration_admin):
    url = f"/admin/auth/user/{root.pk}/password/"
    assert client.get(url).status_code == 403
    response = client.post(url, {"password1": "taken-over-1", "password2": "taken-over-1", "usable_password": "true"})
    assert response.status_code == 403
    root.refresh_from_db()
    assert root.check_password("root-password")


def test_a_permission_given_directly_does_not_let_a_non_superuser_escalate(client, root, integration_admin):
    integration_admin.user_permissions.add(*Permission.objects.filter(content_type__app_label="auth"))
    integration_admin = get_user_model().objects.get(pk=integration_admin.pk)  # no cached permissions
    client.force_login(integration_admin)
    for url in ("/admin/auth/user/", f"/admin/auth/user/{root.pk}/change/", "/admin/auth/group/",
                "/admin/auth/user/add/", f"/admin/auth/user/{root.pk}/password/"):
        assert client.get(url).status_code == 403, url
    client.post(f"/admin/auth/user/{integration_admin.pk}/change/", _change_form(integration_admin, is_superuser="on"))
    client.post(f"/admin/auth/user/{root.pk}/password/", {"password1": "taken-over-1", "password2": "taken-over-1"})
    integration_admin.refresh_from_db()
    root.refresh_from_db()
    assert not integration_admin.is_superuser and root.check_password("root-password")


def test_the_integration_admin_group_holds_no_identity_permissions(db):
    held = Group.objects.get(name=INTEGRATION_ADMIN).permissions.values_list("content_type__app_label", flat=True)
    assert not {"auth", "authtoken", "accounts"} & set(held)


def test_the_migration_strips_identity_permissions_from_an_existing_group(db):
    group = Group.objects.get(name=INTEGRATION_ADMIN)
    group.permissions.add(*Permission.objects.filter(content_type__app_label="auth"))
    kept = set(group.permissions.exclude(content_type__app_label="auth"))
    migration = importlib.import_module("accounts.migrations.0003_strip_identity_permissions_from_integration_admins")
    migration.identity_permissions_strip(apps, None)
    assert set(group.permissions.all()) == kept


def test_a_superuser_changes_a_users_groups_and_superuser_flag_and_it_is_audited(client, root):
    marketer = UserFactory(username="mia", role=MARKETING)
    client.force_login(root)
    admins = Group.objects.get_or_create(name=INTEGRATION_ADMIN)[0]
    response = client.post(f"/admin/auth/user/{marketer.pk}/change/",
                           _change_form(marketer, is_superuser="on", groups=[admins.pk]))
    assert response.status_code == 302, response.content.decode()[:2000]
    marketer.refresh_from_db()
    assert marketer.is_superuser and list(marketer.groups.values_list("name", flat=True)) == [INTEGRATION_ADMIN]
    entries = AuditEntry.objects.filter(content_type__model="user", object_id=str(marketer.pk), actor="root")
    changes = [change for entry in entries for change in entry.changes]  # newest first
    assert [change.after for change in changes if change.field == "is_superuser"] == [True]
    groups = [change for change in changes if change.field == "groups"]
    assert groups[0].after == [INTEGRATION_ADMIN] and groups[-1].before == [MARKETING]


def test_a_password_change_is_audited_without_the_password(client, root):
    marketer = UserFactory(username="mia", role=MARKETING)
    client.force_login(root)
    response = client.post(f"/admin/auth/user/{marketer.pk}/password/",
                           {"password1": "new-secret-42", "password2": "new-secret-42", "usable_password": "true"})
    assert response.status_code == 302
    marketer.refresh_from_db()
    assert marketer.check_password("new-secret-42")
    entry = AuditEntry.objects.filter(content_type__model="user", object_id=str(marketer.pk), action="update").first()
    assert [(c.field, c.after) for c in entry.changes] == [("password", "(changed)")]
    stored = str(entry.before) + str(entry.after)
    assert "new-secret-42" not in stored and marketer.password not in stored


def test_creating_and_deleting_a_user_and_a_group_is_audited(client, root):
    client.force_login(root)
    response = client.post("/admin/auth/user/add/", {"username": "newbie", "password1": "newbie-pw-42",
                                                     "password2": "newbie-pw-42", "usable_password": "true"})
    assert response.status_code == 302
    newbie = get_user_model().objects.get(username="newbie")
    group = Group.objects.create(name="Auditors")
    group.permissions.add(Permission.objects.get(codename="view_user"))
    client.post(f"/admin/auth/user/{newbie.pk}/delete/", {"post": "yes"})
    actions = list(AuditEntry.objects.filter(content_type__model="user", object_id=str(newbie.pk))
                   .order_by("id").values_list("action", flat=True))
    assert actions == ["create", "delete"]
    group_entries = AuditEntry.objects.filter(content_type__model="group", object_id=str(group.pk))
    assert {entry.action for entry in group_entries} == {"create", "update"}
    assert not any("newbie-pw-42" in str(entry.after) for entry in AuditEntry.objects.all())
