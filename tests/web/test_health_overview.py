"""Issue 14, part 3: health that reads at a glance.

A status per connection (ERP reachable, destination reachable, credentials valid, 429
storms) from what the engine learns on every call and from the connection probe; an
incident timeline from when to when; the chosen flow's chart over 24 hours, 7 days or
30 days from the samples; a sparkline per flow."""
import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from erp.sap_b1.client import ServiceLayerClient
from syncapp.adapters import TransportError
from syncapp.connection_probe import connections_probe, destination_probe
from syncapp.health_history import flows_history, health_sample_record
from syncapp.models import ConnectionCheck, ConnectionIncident, HealthSample, OutboxItem, SyncRun
from syncapp.services import flow_push
from tests.esp.dotdigital_support import RecordingThrottle
from tests.factories import FlowFactory
from tests.hub import DD_PASSWORD, partner
from tests.syncapp.fakes import FakeDestination

pytestmark = pytest.mark.django_db

ADMINS = ["admins@shop.example"]


@pytest.fixture
def admins_mailed(settings):
    settings.SYNC_ALERT_EMAILS = {"integration": ADMINS, "marketing": [], "finance": []}


def html_of(client, path="/health/") -> str:
    response = client.get(path)
    assert response.status_code == 200
    return response.content.decode()


def row_of(html: str, element_id: str) -> str:
    start = html.index(f'id="{element_id}"')
    return html[start:html.index("</tr>", start)]


def cell(row: str, name: str) -> str:
    return re.sub(r"<[^>]+>", "", re.search(rf'<td class="{name}[^"]*">(.*?)</td>', row, re.S).group(1)).strip()


def timeline_rows(html: str) -> list[str]:
    start = html.index('<table class="timeline">')
    return re.findall(r'<tr class="incident-row.*?</tr>', html[start:html.index("</table>", start)], re.S)


# ------------------------------------------------------------------ connections


def test_an_erp_outage_found_by_the_probe_shows_on_the_connection_its_flows_and_the_timeline(hub, monkeypatch,
                                                                                             as_role):
    monkeypatch.setattr(ServiceLayerClient, "_delay", lambda self, attempt, retry_after: 0.0)  # no waiting here
    live_url = hub.connection.base_url
    hub.connection.base_url = "http://127.0.0.1:1/b1s/v1"  # the Service Layer is down
    hub.connection.save()

    connections_probe()  # nobody pulled in the last minute: the ERP is asked (a Login)

    client = as_role("marketing")
    html = html_of(client)
    erp = row_of(html, f"connection-erp-{hub.connection.pk}")
    assert cell(erp, "reachable").startswith("unreachable since")
    assert 'data-light="amber"' in erp  # within the connection's alert time: amber, as the flows
    assert "ERP unreachable" in cell(row_of(html, f"flow-{hub.flow.pk}"), "why")
    (ongoing,) = timeline_rows(html)
    assert "ERP unreachable" in ongoing and "going on" in ongoing and "ERP b1" in ongoing
    assert ConnectionCheck.objects.get(erp_connection=hub.connection).ok is False

    hub.connection.base_url = live_url  # back
    hub.connection.save()
    connections_probe()

    html = html_of(client)
    erp = row_of(html, f"connection-erp-{hub.connection.pk}")
    assert cell(erp, "reachable").startswith("answered") and cell(erp, "credentials").startswith("accepted")
    assert 'data-light="green"' in erp
    (over,) = timeline_rows(html)
    assert "ERP unreachable" in over and "going on" not in over
    incident = ConnectionIncident.objects.get()
    assert incident.closed_at is not None and incident.erp_connection == hub.connection


def test_a_401_at_the_destination_marks_its_credentials_refused_alerts_the_admins_and_clears(hub, monkeypatch,
                                                                                             as_role, admins_mailed):
    hub.sap.add_business_partners([partner("C001"), partner("C002")])
    monkeypatch.setenv("TEST_DOTDIGITAL_PASSWORD", "not-the-password")  # someone rotated the API user's password

    hub.sync()  # the push meets dotdigital's 401

    html = html_of(as_role("marketing"))
    destination = row_of(html, f"connection-destination-{hub.account.pk}")
    assert cell(destination, "credentials").startswith("refused since")
    assert 'data-light="red"' in destination
    flow = row_of(html, f"flow-{hub.flow.pk}")
    assert 'class="light red"' in flow and cell(flow, "why").startswith("credentials refused")
    assert "credentials refused" in timeline_rows(html)[0]
    assert any("refused the hub's credentials (dd)" in message.subject for message in mail.outbox)

    monkeypatch.setenv("TEST_DOTDIGITAL_PASSWORD", DD_PASSWORD)  # fixed
    assert destination_probe(account=hub.account, adapter=hub.destination()).ok  # the next minute's probe

    destination = row_of(html_of(as_role("marketing")), f"connection-destination-{hub.account.pk}")
    assert cell(destination, "credentials") == "accepted just now; records refused before wait for a Retry"
    assert 'data-light="green"' in destination
    assert ConnectionIncident.objects.get(kind="credentials").closed_at is not None


def test_a_429_storm_appears_on_the_timeline_with_its_start_and_end(as_role, admins_mailed):
    flow = FlowFactory(name="storm-flow")
    OutboxItem.objects.bulk_create([OutboxItem(flow=flow, record_key=f"C{i}", identifier=f"c{i}@example.com",
                                               payload={"EMAIL": f"c{i}@example.com"}) for i in range(3)])
    destination = FakeDestination()
    destination.fail_whole_call = TransportError("dotdigital answered 429 five times", permanent=False, status=429,
                                                 reason_code="rate_limited", retry_after=30)
    flow_push(flow=flow, adapter=destination)

    client = as_role("marketing")
    html = html_of(client)
    assert cell(row_of(html, f"connection-destination-{flow.destination_id}"), "rate").startswith("429 storm since")
    assert "429 storm at the destination" in cell(row_of(html, f"flow-{flow.pk}"), "why")
    assert any("keeps refusing calls for its rate limit" in message.subject for message in mail.outbox)

    began = timezone.now() - timedelta(minutes=12)
    ConnectionIncident.objects.update(opened_at=began)  # the storm began twelve minutes ago
    destination.fail_whole_call = None
    OutboxItem.objects.update(not_before=None)
    flow_push(flow=flow, adapter=destination)  # it takes the records again: the storm is over

    (storm,) = timeline_rows(html_of(client))
    incident = ConnectionIncident.objects.get()
    assert "429 storm" in storm and f"destination {flow.destination.name}" in storm
    assert cell(storm, "from") == timezone.localtime(began).strftime("%Y-%m-%d %H:%M")
    assert cell(storm, "to") == timezone.localtime(incident.closed_at).strftime("%Y-%m-%d %H:%M")
    assert cell(storm, "lasted") == "12 min"
    assert cell(row_of(html_of(client), f"connection-destination-{flow.destination_id}"), "rate") == "within its rate"


def test_the_probe_asks_only_connections_the_engine_has_not_heard_from_through_their_bucket(monkeypatch):
    quiet, busy, storming = (FlowFactory(name=name) for name in ("quiet", "busy", "storming"))
    SyncRun.objects.create(flow=busy, kind=SyncRun.Kind.PUSH, status=SyncRun.Status.SUCCEEDED, api_calls=2,
                           finished_at=timezone.now())
    ConnectionIncident.objects.create(kind="rate_limited", destination=storming.destination,
                                      opened_at=timezone.now(), last_seen_at=timezone.now())
    asked, throttles = [], []

    def probe(self):
        asked.append(self.account.name)
        self.client.throttle.acquire()  # as the client's own call would

    monkeypatch.setattr("esp.dotdigital.adapter.DotdigitalDestination.probe", probe)
    monkeypatch.setattr("syncapp.pushing.throttle_for",
                        lambda account, rate, burst=None: throttles.append(RecordingThrottle()) or throttles[-1])
    monkeypatch.setattr("syncapp.connection_probe.erp_probes", lambda connection: False)

    connections_probe()

    assert asked == [quiet.destination.name]  # the busy one's pushes already told; the storm is not fed
    assert [throttle.acquired for throttle in throttles] == [1]  # one token of the account's own bucket


def test_an_answer_older_than_an_hour_says_nothing_now(as_role):
    flow = FlowFactory()
    long_ago = timezone.now() - timedelta(hours=2)
    ConnectionCheck.objects.create(destination=flow.destination, checked_at=long_ago, ok=True, answered_at=long_ago)

    destination = row_of(html_of(as_role("marketing")), f"connection-destination-{flow.destination_id}")

    assert cell(destination, "reachable") == "last answered 2.0 h ago; not checked since"
    assert 'data-light="grey"' in destination  # the probe is not running: not green


def test_the_probe_runs_every_minute_from_beat():
    from django_celery_beat.models import PeriodicTask

    from syncapp.schedules import schedules_install_monitoring

    schedules_install_monitoring()
    probe = PeriodicTask.objects.get(task="syncapp.connections_probe_task")
    assert (probe.interval.every, probe.interval.period) == (1, "minutes")


# ------------------------------------------------------------------ charts


def chart_texts(html: str) -> list[str]:
    start = html.index('<svg class="chart"')
    return re.findall(r"<text[^>]*>([^<]*)</text>", html[start:html.index("</svg>", start)])


def test_seven_and_thirty_day_charts_are_built_from_the_samples(as_role):
    flow = FlowFactory()
    now = timezone.now()
    for days, accepted, failed, backlog, lag in [(3, 5, 0, 7, 600), (20, 11, 2, 40, 3600), (45, 99, 99, 99, 9999)]:
        HealthSample.objects.create(flow=flow, taken_at=now - timedelta(days=days), accepted=accepted, failed=failed,
                                    backlog=backlog, lag_seconds=lag)
    client = as_role("marketing")

    week = chart_texts(html_of(client, f"/health/?range=7d&flow={flow.pk}"))
    assert {"highest bar: 5 records", "backlog: highest 7", "lag: highest 10 min"} <= set(week)
    month_html = html_of(client, f"/health/?range=30d&flow={flow.pk}")
    month = chart_texts(month_html)
    assert {"highest bar: 13 records", "backlog: highest 40", "lag: highest 60 min"} <= set(month)
    assert f'id="chart">{flow.name}: last 30 days' in month_html
    assert '<strong aria-current="true">30d</strong>' in month_html
    # Honest axes: each panel from 0 to a round top it labels (13 records on a 20 scale, 40 waiting on 50).
    assert {"20", "50", "0"} <= set(month)
    assert len(flows_history(flow_ids=[flow.pk], range_name="30d")[flow.pk].buckets) == 120  # 6-hour bars


def test_samples_past_a_week_are_folded_by_the_hour_and_the_month_still_adds_up():
    flow = FlowFactory()
    now = timezone.now()
    hour = (now - timedelta(days=10)).replace(minute=0, second=0, microsecond=0)
    for minute, accepted, backlog, lag in [(5, 3, 10, 60), (25, 4, 30, None), (50, 5, 20, 300)]:
        HealthSample.objects.create(flow=flow, taken_at=hour + timedelta(minutes=minute), accepted=accepted,
                                    failed=1, backlog=backlog, lag_seconds=lag)
    HealthSample.objects.create(flow=flow, taken_at=now - timedelta(days=2), accepted=1)  # full detail: kept as is

    health_sample_record(now=now)

    folded = HealthSample.objects.get(flow=flow, taken_at=hour)
    assert (folded.accepted, folded.failed, folded.backlog, folded.lag_seconds) == (12, 3, 30, 300)
    assert HealthSample.objects.filter(flow=flow).count() == 3  # the folded hour, two days ago, and now
    month = flows_history(flow_ids=[flow.pk], range_name="30d", now=now)[flow.pk].buckets
    assert sum(bucket.accepted for bucket in month) == 12 + 1


def test_every_flow_has_its_sparkline_of_the_last_day(as_role):
    flows = [FlowFactory(name=f"spark-{n}") for n in range(3)]
    for flow in flows:
        HealthSample.objects.create(flow=flow, taken_at=timezone.now() - timedelta(hours=2), accepted=4, backlog=1)
    idle = FlowFactory(name="spark-idle")

    html = html_of(as_role("marketing"), "/health/?range=30d")

    for flow in flows:
        assert '<svg class="sparkline"' in row_of(html, f"flow-{flow.pk}")
    assert "no samples yet" in row_of(html, f"flow-{idle.pk}")
    assert "<th>Last 24 hours</th>" in html  # whatever the chosen period
