"""Drift counts per day on the health page, and who may start a full pass."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from syncapp.drift.models import DriftDay, DriftPass
from tests.factories import FlowFactory
from tests.web.conftest import as_role  # noqa: F401 - the fixture, shared with the web tests

pytestmark = pytest.mark.django_db

FULL_PASS_URL = "/admin/drift/driftpass/full-pass/"


@pytest.fixture
def flow():
    return FlowFactory(name="customers-dd")


def test_the_health_page_shows_each_days_drift_counts(as_role, flow):  # noqa: F811
    today = timezone.localdate()
    DriftDay.objects.create(flow=flow, day=today, checked=50, drifted=3, requeued=2, raised=1)
    DriftDay.objects.create(flow=flow, day=today - timedelta(days=1), checked=60, drifted=0)
    DriftDay.objects.create(flow=flow, day=today - timedelta(days=9), checked=70)  # older than a week

    page = as_role("marketing").get("/health/").content.decode()

    assert "Drift checks" in page
    assert (f'data-day="{today:%Y-%m-%d}">' in page and '<td class="drift-checked">50</td>' in page
            and '<td class="drift-drifted">3</td>' in page and '<td class="drift-requeued">2</td>' in page)
    assert 'href="/exceptions/?reason=drifted_at_destination">1</a>' in page
    assert '<td class="drift-checked">60</td>' in page and '<td class="drift-checked">70</td>' not in page


@pytest.mark.parametrize(("role", "button"), [("marketing", False), ("finance", False), ("admin", True)])
def test_only_integration_admins_see_the_full_pass_button(as_role, flow, role, button):  # noqa: F811
    page = as_role(role).get("/health/").content.decode()
    assert "no checks in the last 7 days" in page
    assert (FULL_PASS_URL in page) is button


@pytest.fixture
def enqueued(monkeypatch):
    started: list[int] = []
    monkeypatch.setattr("syncapp.drift.admin.drift_pass_enqueue", lambda pass_id: started.append(pass_id) or True)
    return started


@pytest.mark.parametrize("role", ["anonymous", "marketing", "finance", "admin"])
def test_only_integration_admins_start_a_full_pass(as_role, flow, enqueued, role):  # noqa: F811
    response = as_role(role).post(FULL_PASS_URL, {"flow": flow.pk})
    if role == "admin":
        assert response.status_code == 302 and response.url == "/health/"
        drift_pass = DriftPass.objects.get()
        assert (drift_pass.kind, drift_pass.status, drift_pass.requested_by.username) == ("full", "queued", "admin")
        assert enqueued == [drift_pass.pk]
    else:
        assert response.status_code == (302 if role == "anonymous" else 403)
        if role == "anonymous":
            assert response.url.startswith("/login/?next=")
        assert not DriftPass.objects.exists() and not enqueued


def test_starting_a_full_pass_needs_a_post(as_role, flow, enqueued):  # noqa: F811
    assert as_role("admin").get(FULL_PASS_URL).status_code == 405
    assert not DriftPass.objects.exists()


def test_a_second_press_while_a_pass_runs_starts_nothing_new(as_role, flow, enqueued):  # noqa: F811
    client = as_role("admin")
    client.post(FULL_PASS_URL, {"flow": flow.pk})
    again = client.post(FULL_PASS_URL, {"flow": flow.pk, "next": "//evil.example.com/"})
    assert DriftPass.objects.count() == 1 and len(enqueued) == 1
    assert again.url == "/health/"  # never back to another site


def test_the_passes_are_listed_in_the_admin_for_integration_admins_only(as_role, flow):  # noqa: F811
    DriftPass.objects.create(flow=flow, kind="sample", status="done", checked=5)
    page = as_role("admin").get("/admin/drift/driftpass/")
    assert page.status_code == 200 and "Run a full pass: customers-dd" in page.content.decode()
    assert as_role("marketing").get("/admin/drift/driftpass/").status_code == 302  # to the admin's login


def test_the_button_on_the_health_page_posts_with_its_csrf_token(flow, enqueued):
    import re

    from django.test import Client

    from syncapp.roles import INTEGRATION_ADMIN
    from tests.web.factories import UserFactory

    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory(username="admin", role=INTEGRATION_ADMIN))
    page = client.get("/health/").content.decode()
    form = page[page.index(f'action="{FULL_PASS_URL}"'):]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)

    assert client.post(FULL_PASS_URL, {"flow": flow.pk}).status_code == 403  # no token, no pass
    assert client.post(FULL_PASS_URL, {"flow": flow.pk, "csrfmiddlewaretoken": token}).status_code == 302
    assert DriftPass.objects.count() == 1
