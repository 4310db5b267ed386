"""Each role against each page and action of the exceptions room, and the Django admin."""
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command

from exceptions.models import DuplicateEmailConflict, SyncException
from syncapp.admin_access import admin_allowed
from syncapp.models import Flow
from syncapp.roles import INTEGRATION_ADMIN
from tests.web.factories import UserFactory

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "marketing", "finance", "admin")


def _pages(problems) -> list[str]:
    exception = SyncException.objects.get(record_key="C001")
    return ["/exceptions/", f"/exceptions/{exception.pk}/", "/exceptions/?reason=invalid_email&status=all",
            "/conflicts/", "/conflicts/?status=resolved"]


@pytest.mark.parametrize("role", ROLES)
def test_every_page_by_role(as_role, problems, role):
    client = as_role(role)
    for url in _pages(problems):
        response = client.get(url)
        if role == "anonymous":
            assert response.status_code == 302 and response.url.startswith("/login/?next="), url
        else:
            assert response.status_code == 200, (role, url)


# action -> roles allowed to take it
ALLOWED = {
    "retry": {"marketing", "admin"},
    "ignore": {"marketing", "admin"},
    "retry_matching": {"marketing", "admin"},
    "resolve": {"marketing", "admin"},
    "policy": {"admin"},
}


def _act(client, action: str, problems):
    exception = SyncException.objects.get(record_key="C001")
    conflict = DuplicateEmailConflict.objects.get()
    return {
        "retry": lambda: client.post(f"/exceptions/{exception.pk}/retry/"),
        "ignore": lambda: client.post(f"/exceptions/{exception.pk}/ignore/", {"note": "not a customer"}),
        "retry_matching": lambda: client.post("/exceptions/retry-matching/?reason=missing_email", {"expected": 1}),
        "resolve": lambda: client.post(f"/conflicts/{conflict.pk}/resolve/", {"resolution": "reject"}),
        "policy": lambda: client.post(f"/conflicts/policy/{problems.pk}/", {"duplicate_policy": "merge"}),
    }[action]()


def _state(problems):
    return (SyncException.objects.get(record_key="C001").status, DuplicateEmailConflict.objects.get().status,
            Flow.objects.get(pk=problems.pk).duplicate_policy)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", sorted(ALLOWED))
def test_every_action_by_role(as_role, problems, erp_fixed, role, action):
    before = _state(problems)
    response = _act(as_role(role), action, problems)
    if role in ALLOWED[action]:
        assert response.status_code == 302 and not response.url.startswith("/login/")
        assert _state(problems) != before
    else:
        expected = 302 if role == "anonymous" else 403
        assert response.status_code == expected
        if role == "anonymous":
            assert response.url.startswith("/login/")
        assert _state(problems) == before  # nothing happened


def test_every_action_needs_post_and_its_csrf_token(client, problems):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(UserFactory(username="marketing", role="Marketing"))
    exception = SyncException.objects.get(record_key="C001")
    assert strict.post(f"/exceptions/{exception.pk}/ignore/", {"note": "x"}).status_code == 403
    assert strict.get(f"/exceptions/{exception.pk}/ignore/").status_code == 405
    assert SyncException.objects.get(pk=exception.pk).status == "open"


# -- the Django admin ----------------------------------------------------------------

# Users, groups and API tokens are the superusers' alone: tests/accounts/.
ADMIN_PAGES = ["/admin/", "/admin/exceptions/syncexception/", "/admin/syncapp/flow/",
               "/admin/django_celery_beat/periodictask/", "/admin/esp/espaccount/", "/admin/erp/erpconnection/"]


@pytest.mark.parametrize("role", ROLES)
def test_only_integration_admins_use_the_django_admin(as_role, problems, role):
    client = as_role(role)
    for url in ADMIN_PAGES:
        response = client.get(url)
        if role == "admin":
            assert response.status_code == 200, url
        else:
            assert response.status_code == 302 and response.url.startswith("/admin/login/"), (role, url)


def test_a_superuser_uses_the_admin_without_a_role(client, db):
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw"))
    assert client.get("/admin/exceptions/syncexception/").status_code == 200


def test_a_staff_flag_alone_does_not_open_the_admin(client, db):
    client.force_login(UserFactory(username="staffer", role="Marketing", is_staff=True))
    assert client.get("/admin/").status_code == 302


def test_the_admin_login_accepts_integration_admins_only(client, db):
    UserFactory(username="admin", role=INTEGRATION_ADMIN)  # not staff: the role is what counts
    UserFactory(username="marketing", role="Marketing", is_staff=True)
    refused = client.post("/admin/login/", {"username": "marketing", "password": "pw", "next": "/admin/"})
    assert refused.status_code == 200 and "Only integration admins" in refused.content.decode()
    accepted = client.post("/admin/login/", {"username": "admin", "password": "pw", "next": "/admin/"})
    assert accepted.status_code == 302 and accepted.url == "/admin/"


def test_integration_admins_hold_every_permission_of_the_projects_apps(db):
    group = Group.objects.get(name=INTEGRATION_ADMIN)
    held = set(group.permissions.values_list("content_type__app_label", "codename"))
    for app in ("syncapp", "erp", "esp", "exceptions", "django_celery_beat"):
        every = set(Permission.objects.filter(content_type__app_label=app)
                    .values_list("content_type__app_label", "codename"))
        assert every and every <= held, app
    assert not {app for app, _ in held} & {"auth", "accounts"}  # identities: superusers only
    assert not Group.objects.get(name="Marketing").permissions.exists()


def test_roles_decide_admin_access_and_inactive_users_have_none(db):
    admin = UserFactory(username="admin", role=INTEGRATION_ADMIN)
    assert admin_allowed(admin)
    admin.is_active = False
    admin._sync_roles = None
    assert not admin_allowed(admin)


# -- anonymous users and the demo users ----------------------------------------------

def test_anonymous_users_see_only_the_login_page(client, problems):
    for url in ("/", "/exceptions/", "/conflicts/"):
        response = client.get(url, follow=True)
        assert response.redirect_chain and response.redirect_chain[-1][0].startswith("/login/"), url
        page = response.content.decode()
        assert "Log in" in page and "C001" not in page and 'href="/exceptions/"' not in page


def test_demo_users_log_in_with_their_roles(client, db):
    call_command("seed_demo_users")
    call_command("seed_demo_users")  # again: same users, nothing doubled
    users = get_user_model().objects.filter(username__in=["marketing", "finance", "admin"])
    assert {u.username: [g.name for g in u.groups.all()] for u in users} == {
        "marketing": ["Marketing"], "finance": ["Finance"], "admin": [INTEGRATION_ADMIN]}
    for name, can_act in (("marketing", True), ("finance", False), ("admin", True)):
        client.logout()
        assert client.post("/login/", {"username": name, "password": name}).status_code == 302
        assert client.get("/exceptions/").status_code == 200
        assert client.post("/exceptions/retry-matching/").status_code == (302 if can_act else 403)
    assert client.get("/admin/").status_code == 200  # the last one in is admin


def test_demo_users_are_never_created_in_production(settings, db):
    from django.core.management.base import CommandError

    settings.SYNC_ENVIRONMENT = "production"
    with pytest.raises(CommandError):
        call_command("seed_demo_users")
    assert not get_user_model().objects.filter(username="admin").exists()

