"""Redis away is the hub's own fault: no record's attempts, no blame on the destination,
an incident on health and a mail to the integration admins, and nothing lost."""
from __future__ import annotations

import pytest
from django.core import mail

from exceptions.models import SyncException
from syncapp.health import flows_health
from syncapp.incidents import incidents_open, redis_probe
from syncapp.models import Flow, HubIncident, OutboxItem, OutboxStatus, SyncRun
from syncapp.outbox import PlannedRecord, outbox_enqueue
from syncapp.ratelimit import throttle_for
from syncapp.services import flow_push
from tests.syncapp.fakes import FakeDestination

pytestmark = pytest.mark.django_db
REDIS_AWAY = "redis://127.0.0.1:1/0"  # nothing listens there: refused at once


class ThrottledDestination(FakeDestination):
    """Takes a token from the account's shared bucket before each call, as the real clients do."""

    def __init__(self, account):
        super().__init__()
        self.account = account

    def push(self, entity, items):
        throttle_for(self.account, 600).acquire()
        return super().push(entity, items)


@pytest.fixture
def queued(flow):
    outbox_enqueue(flow=flow, records=[PlannedRecord(key=f"C{i}", identifier=f"c{i}@example.com", payload={"n": i})
                                       for i in range(5)])
    return flow


def test_redis_down_mid_push_uses_no_attempts_and_blames_nobody_but_the_hub(queued, settings, redis_url):
    settings.REDIS_URL = REDIS_AWAY
    settings.SYNC_MAX_ATTEMPTS = 1  # one counted attempt would already make exceptions
    settings.SYNC_ALERT_EMAILS = {"integration": ["admins@shop.example"], "marketing": [], "finance": []}
    destination = ThrottledDestination(queued.destination)

    run = flow_push(flow=queued, adapter=destination)

    rows = OutboxItem.objects.filter(flow=queued)
    assert set(rows.values_list("status", "attempts")) == {(OutboxStatus.PENDING, 0)}
    assert not SyncException.objects.exists()  # not "the marketing platform could not be reached"
    assert run.status == SyncRun.Status.FAILED and "fault of the hub itself" in run.error
    (incident,) = incidents_open()
    assert incident.kind == HubIncident.Kind.REDIS
    (row,) = flows_health(flows=Flow.objects.filter(pk=queued.pk))
    assert row.light == "red" and any(problem.startswith("hub fault") for problem in row.problems)
    assert row.backlog == 5
    assert [message.to for message in mail.outbox] == [["admins@shop.example"]]
    assert "fault" in mail.outbox[0].subject

    # Redis is back: the next look closes the incident, the records go, once each.
    settings.REDIS_URL = redis_url
    assert redis_probe() is True and not incidents_open()
    OutboxItem.objects.filter(flow=queued).update(not_before=None)
    flow_push(flow=queued, adapter=destination)
    assert set(rows.values_list("status", flat=True)) == {OutboxStatus.ACCEPTED}
    assert sorted(destination.pushed_keys) == [f"C{i}" for i in range(5)]
    assert "Recovered" in mail.outbox[-1].subject


def test_the_health_page_shows_a_redis_outage_the_moment_someone_looks(settings, redis_url, client):
    from tests.web.factories import UserFactory

    settings.REDIS_URL = REDIS_AWAY
    client.force_login(UserFactory(role="Marketing"))
    page = client.get("/health/").content.decode()
    assert "The hub itself has a fault" in page
    settings.REDIS_URL = redis_url
    assert "The hub itself has a fault" not in client.get("/health/").content.decode()


def test_a_destination_in_a_storm_shows_amber_at_once(queued):
    """A 5xx or 429 storm: nothing accepted by the last push shows before lag or exceptions grow."""
    from syncapp.adapters import TransportError

    destination = FakeDestination()
    destination.fail_whole_call = TransportError("503 Service Unavailable", permanent=False, status=503)
    flow_push(flow=queued, adapter=destination)
    (row,) = flows_health(flows=Flow.objects.filter(pk=queued.pk))
    assert row.light == "amber" and "took none of the last push: 5 to retry" in "; ".join(row.problems)
    assert not SyncException.objects.exists()  # one storm is not yet anybody's exception

    destination.fail_whole_call = None
    OutboxItem.objects.filter(flow=queued).update(not_before=None)
    flow_push(flow=queued, adapter=destination)
    (row,) = flows_health(flows=Flow.objects.filter(pk=queued.pk))
    assert row.light == "green"
