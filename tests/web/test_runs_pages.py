"""The Runs pages (issue 14, part 1): every run with its trigger and counts, and each run's
records, which went with the payload sent and the destination's answer, which failed and
why; who may see them; outcomes pruned after SYNC_RUN_OUTCOME_DAYS, counts kept."""
from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
import yaml
from django.core.management import call_command
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from rest_framework.test import APIClient

from exceptions.models import SyncException
from syncapp.models import Flow, RunOutcome, RunTrigger, SyncRun, SyncRunOutcome
from syncapp.run_outcomes import run_outcomes_prune
from syncapp.schedules import schedules_install_defaults
from tests.factories import FlowFactory
from tests.hub import partner
from tests.web.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def synced(hub):
    """One pull and one push through the sandboxes: C001 and C003 go, dotdigital refuses
    C002 (suppressed there), C004's email is not an address (refused before sending)."""
    hub.dd.suppress("c002@example.com")
    hub.sap.add_business_partners([partner("C001"), partner("C002"), partner("C003"),
                                   partner("C004", EmailAddress="not-an-email")])
    pulled, pushed = hub.sync()
    return hub, pulled, pushed


def _page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def _run(flow, *, minutes_ago: int = 0, **fields) -> SyncRun:
    run = SyncRun.objects.create(flow=flow, kind=fields.pop("kind", SyncRun.Kind.PUSH),
                                 status=fields.pop("status", SyncRun.Status.SUCCEEDED), **fields)
    started = timezone.now() - timedelta(minutes=minutes_ago)
    SyncRun.objects.filter(pk=run.pk).update(started_at=started, finished_at=started + timedelta(seconds=2))
    run.refresh_from_db()
    return run


@pytest.mark.parametrize("role", ["marketing", "finance", "admin"])
def test_whoever_may_see_exceptions_may_open_runs(as_role, role):
    run = _run(FlowFactory())
    client = as_role(role)
    assert 'href="/runs/">Runs</a>' in _page(client, "/exceptions/")  # the nav link
    assert f"Run {run.pk}" in _page(client, "/runs/")
    _page(client, f"/runs/{run.pk}/")


def test_anonymous_visitors_log_in_and_people_without_a_role_are_refused(as_role, client):
    run = _run(FlowFactory())
    for url in ("/runs/", f"/runs/{run.pk}/"):
        assert as_role("anonymous").get(url).status_code == 302
    client.force_login(UserFactory(username="nobody", role=None))
    for url in ("/runs/", f"/runs/{run.pk}/"):
        assert client.get(url).status_code == 403


def test_runs_are_listed_newest_first_with_trigger_duration_and_counts(as_role):
    flow = FlowFactory(name="contacts")
    mia = UserFactory(username="mia", role="Marketing")
    older = _run(flow, minutes_ago=30, trigger=RunTrigger.SCHEDULE, records_accepted=7)
    newer = _run(flow, minutes_ago=5, trigger=RunTrigger.RETRY, triggered_by=mia, records_accepted=3,
                 records_failed=2, records_retried=1, records_waiting=4, status=SyncRun.Status.PARTIAL)
    html = _page(as_role("marketing"), "/runs/")
    assert html.index(f"Run {newer.pk}") < html.index(f"Run {older.pk}")
    row = html[html.index(f"Run {newer.pk}"):html.index(f"Run {older.pk}")]
    assert "Retry (mia)" in row and "Succeeded with exceptions" in row and "2.0 s" in row
    assert "<td>3</td><td>2</td>\n    <td>1</td><td>4</td>" in row  # accepted, refused, retried, waiting


def test_the_runs_page_pages_by_key_without_counting(as_role):
    flow = FlowFactory()
    runs = [_run(flow, minutes_ago=minutes) for minutes in range(55)]  # runs[0] is the newest
    client = as_role("finance")
    first = _page(client, "/runs/")
    assert f"Run {runs[49].pk}<" in first and f"Run {runs[50].pk}<" not in first
    second = _page(client, f"/runs/?after={runs[49].pk}")
    assert f"Run {runs[50].pk}<" in second and f"Run {runs[54].pk}<" in second and f"Run {runs[49].pk}<" not in second


def test_a_flows_runs_include_the_pulls_that_plan_its_records(as_role):
    customers, other = FlowFactory(name="customers"), FlowFactory(name="other")
    push = _run(customers)
    pull = _run(None, kind=SyncRun.Kind.PULL, connection=customers.connection, entity="business_partners")
    stock_pull = _run(None, kind=SyncRun.Kind.PULL, connection=customers.connection, entity="item_stock")
    others = _run(other)
    html = _page(as_role("marketing"), f"/runs/?flow={customers.pk}")
    assert f"Run {push.pk}<" in html and f"Run {pull.pk}<" in html
    assert f"Run {stock_pull.pk}<" not in html and f"Run {others.pk}<" not in html
    assert f"Run {others.pk}<" in _page(as_role("marketing"), "/runs/?trigger=schedule")


def test_a_push_shows_which_records_went_with_their_payload_and_which_failed_why(synced, as_role):
    _, pulled, pushed = synced
    assert (pushed.records_accepted, pushed.records_failed, pushed.trigger) == (2, 1, "schedule")
    client = as_role("marketing")

    refused = _page(client, f"/runs/{pushed.pk}/")  # what went wrong first
    assert "C002 · Customer C002" in refused and "Contact is suppressed" in refused
    exception = SyncException.objects.get(record_key="C002")
    assert f'href="/exceptions/{exception.pk}/"' in refused

    accepted = _page(client, f"/runs/{pushed.pk}/?outcome=accepted")
    assert "C001 · Customer C001" in accepted and "C003 · Customer C003" in accepted and "C002" not in accepted
    assert "c001@example.com" in accepted and "FULLNAME: Customer C001" in accepted  # the payload sent
    assert dict(SyncRunOutcome.objects.filter(run=pushed).values_list("record_key", "outcome")) == {
        "C001": "accepted", "C003": "accepted", "C002": "refused"}

    # The pull refused C004 before anything was sent, and planned the other three.
    planned = dict(SyncRunOutcome.objects.filter(run=pulled).values_list("record_key", "outcome"))
    assert planned == {"C001": "planned", "C002": "planned", "C003": "planned", "C004": "refused"}
    pull_page = _page(client, f"/runs/{pulled.pk}/")
    assert "C004 · Customer C004" in pull_page and "Invalid email address" in pull_page


def test_payloads_follow_the_exception_pages_email_rule(synced, as_role):
    _, _, pushed = synced
    assert "c001@example.com" in _page(as_role("admin"), f"/runs/{pushed.pk}/?outcome=accepted")
    finance = _page(as_role("finance"), f"/runs/{pushed.pk}/?outcome=accepted")
    assert "c001@example.com" not in finance and "c***@example.com" in finance


def test_a_person_retrying_a_record_starts_runs_that_name_them(hub, as_role, monkeypatch,
                                                              django_capture_on_commit_callbacks):
    hub.sap.add_business_partners([partner("C001", EmailAddress="jane.doe@")])
    hub.sync()
    hub.patch_in_sap("C001", EmailAddress="jane.doe@example.com")
    woken = []
    monkeypatch.setattr("syncapp.tasks.flow_push_task.delay", lambda *args: woken.append(args))
    client = as_role("marketing")
    exception = SyncException.objects.get(record_key="C001")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/exceptions/{exception.pk}/retry/")

    mia = SyncRun.objects.get(kind=SyncRun.Kind.PLAN)
    assert (mia.trigger, mia.triggered_by.username, mia.records_planned) == ("retry", "marketing", 1)
    assert list(mia.outcomes.values_list("record_key", "outcome")) == [("C001", RunOutcome.PLANNED)]
    assert woken == [(hub.flow.pk, 20, "retry", mia.triggered_by_id)]  # the push it wakes says so too
    assert "Retry, by marketing" in _page(client, f"/runs/{mia.pk}/")


def test_a_backfill_says_so_on_its_runs(hub):
    hub.sap.add_business_partners([partner("C001"), partner("C002")])
    call_command("backfill", entity="customers", no_progress=True, stdout=StringIO())
    runs = dict(SyncRun.objects.values_list("kind", "trigger"))
    assert runs == {"pull": "backfill", "plan": "backfill"}
    plan = SyncRun.objects.get(kind=SyncRun.Kind.PLAN)
    assert plan.flow == hub.flow and plan.status == "succeeded"
    assert list(plan.outcomes.order_by("record_key").values_list("record_key", flat=True)) == ["C001", "C002"]


def test_old_runs_lose_their_records_and_keep_their_counts(as_role):
    flow = FlowFactory()
    old = _run(flow, minutes_ago=15 * 24 * 60, records_accepted=2)
    new = _run(flow, minutes_ago=60, records_accepted=1)
    for run in (old, new):
        SyncRunOutcome.objects.create(run=run, flow=flow, record_key=f"K{run.pk}", outcome=RunOutcome.ACCEPTED)

    assert run_outcomes_prune() == 1  # SYNC_RUN_OUTCOME_DAYS: 14
    assert run_outcomes_prune() == 0  # done once
    old.refresh_from_db()
    assert not old.outcomes.exists() and old.records_accepted == 2 and old.outcomes_pruned_at
    assert new.outcomes.count() == 1
    assert "its record-by-record outcomes were removed" in _page(as_role("marketing"), f"/runs/{old.pk}/")


def test_the_pruning_has_a_beat_entry_and_a_configurable_period(settings):
    schedules_install_defaults()
    assert PeriodicTask.objects.filter(task="syncapp.run_outcomes_prune_task", enabled=True).exists()
    flow = FlowFactory()
    run = _run(flow, minutes_ago=3 * 24 * 60)
    SyncRunOutcome.objects.create(run=run, flow=flow, record_key="K", outcome=RunOutcome.ACCEPTED)
    settings.SYNC_RUN_OUTCOME_DAYS = 2
    assert run_outcomes_prune() == 1 and not SyncRunOutcome.objects.exists()


def test_a_runs_records_through_the_api(synced):
    _, _, pushed = synced
    client = APIClient()
    client.force_authenticate(UserFactory(username="finance-api", role="Finance"))
    response = client.get(f"/api/runs/{pushed.pk}/outcomes/", {"outcome": "refused"})
    assert response.status_code == 200, response.content
    (refused,) = response.json()["results"]
    assert (refused["record_key"], refused["flow_name"]) == ("C002", "customers")
    assert refused["answer"].startswith("suppressed") and "c002@example.com" not in refused["answer"]
    assert len(client.get(f"/api/runs/{pushed.pk}/outcomes/").json()["results"]) == 3
    run = client.get(f"/api/runs/{pushed.pk}/").json()
    assert (run["trigger"], run["records_waiting"], run["outcomes_pruned_at"]) == ("schedule", 0, None)
    assert "/api/runs/{id}/outcomes/" in yaml.safe_load(client.get("/api/schema/").content)["paths"]


def test_sync_now_names_the_person_on_the_pull_and_the_pushes_it_wakes(flow, monkeypatch, rf):
    from syncapp import tasks
    from syncapp.admin import FlowAdmin
    from tests.syncapp.fakes import FakeSource, bp_record

    asked = []
    monkeypatch.setattr(tasks.connection_pull_task, "delay", lambda *args: asked.append(args))
    request = rf.post("/admin/syncapp/flow/")
    request.user = UserFactory(username="ada", role="Integration admin")
    monkeypatch.setattr("django.contrib.messages.success", lambda *args, **kwargs: None)
    FlowAdmin(Flow, None).sync_now(request, Flow.objects.filter(pk=flow.pk))
    assert asked == [(flow.connection_id, "business_partners", "person", request.user.pk)]

    woken = []
    monkeypatch.setattr(tasks.flow_push_task, "delay", lambda *args: woken.append(args))
    # A new contact is time-sensitive: its push is queued ahead of others (apply_async with a priority).
    monkeypatch.setattr(tasks.flow_push_task, "apply_async", lambda args, **options: woken.append(tuple(args)))
    monkeypatch.setattr("syncapp.services.source_adapter_for", lambda connection: FakeSource([[bp_record("C1")]]))
    tasks.connection_pull_task(*asked[0])
    pull = SyncRun.objects.get(kind=SyncRun.Kind.PULL)
    assert (pull.trigger, pull.triggered_by, pull.entity) == ("person", request.user, "business_partners")
    assert woken[-1] == (flow.pk, 20, "person", request.user.pk)
