"""An import dotdigital is still processing when the push stops polling is confirmed later,
never sent again beside itself: sent again, its records would cost a second import and
could be overwritten by the first one when it applies."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from exceptions.models import SyncException
from syncapp.adapters import PushItem, SubmittedItem, TransportError
from syncapp.models import OutboxItem
from syncapp.services import connection_pull, flow_confirm_pass, flow_push
from tests.hub import partner

from .dotdigital_support import world
from .test_dotdigital_insight import insight_calls, products

CONTACT_IMPORTS = ("PUT", "/contacts/v3/import")


def contacts(*emails: str) -> list[PushItem]:
    return [PushItem(key=email, identifier=email, fields={"FIRSTNAME": "Ann"}) for email in emails]


def as_submitted(results, items) -> list[SubmittedItem]:
    at, by_key = datetime.now(UTC) - timedelta(seconds=1000), {item.key: item for item in items}
    return [SubmittedItem(r.key, by_key[r.key].identifier, r.remote_id, at, by_key[r.key].fields) for r in results]


def imports_sent(sandbox) -> int:
    return sum(1 for method, path, _ in sandbox.call_log if (method, path) == CONTACT_IMPORTS)


def test_contacts_of_an_import_still_processing_at_the_deadline_are_submitted_and_confirmed_later():
    with world(import_delay_seconds=10_000) as w:
        dest = w.destination(poll_deadline=60, poll_max_wait=30)
        people = contacts("a@example.com", "b@example.com", "c@example.com")

        results = dest.push("customers", people)

        assert [r.outcome for r in results] == ["submitted"] * 3
        assert len({r.remote_id for r in results}) == 1 and results[0].remote_id
        assert w.clock.sleeps == [1.0, 2.0, 4.0, 8.0, 16.0, 29.0]  # polled up to the deadline, as before
        items = as_submitted(results, people)
        assert dest.confirm("customers", items) == []  # still processing: asked again later

        w.clock.sleep(10_000)
        verdicts = dest.confirm("customers", items)

        assert [(r.key, r.outcome) for r in verdicts] == [(p.key, "accepted") for p in people]
        assert imports_sent(w.sandbox) == 1
        assert set(w.sandbox.contacts) == {"a@example.com", "b@example.com", "c@example.com"}


def test_an_import_whose_status_cannot_be_read_is_confirmed_later(monkeypatch):
    with world() as w:
        dest = w.destination()

        def unreachable(import_id):
            raise TransportError("dotdigital answered 503", permanent=False, status=503)

        monkeypatch.setattr(dest.client, "import_status", unreachable)
        people = contacts("a@example.com", "b@example.com", "c@example.com")
        results = dest.push("customers", people)
        assert [r.outcome for r in results] == ["submitted"] * 3
        monkeypatch.undo()
        w.clock.sleep(5)

        verdicts = dest.confirm("customers", as_submitted(results, people))

        assert [r.outcome for r in verdicts] == ["accepted"] * 3
        assert imports_sent(w.sandbox) == 1


def test_an_import_dotdigital_no_longer_knows_sends_its_contacts_again():
    with world() as w:
        at = datetime.now(UTC) - timedelta(seconds=1000)
        item = SubmittedItem("a@example.com", "a@example.com", "no-such-import", at, {"FIRSTNAME": "Ann"})
        [result] = w.destination().confirm("customers", [item])
        assert (result.outcome, result.reason_code) == ("transient", "not_in_report")


def test_insight_records_of_an_import_still_running_at_the_deadline_keep_its_slot_and_are_confirmed_later():
    with world(import_delay_seconds=10_000) as w:
        dest = w.destination(poll_deadline=60, poll_max_wait=30)
        batch = products("SKU-1", "SKU-2")

        results = dest.push("products", batch)

        assert [r.outcome for r in results] == ["submitted"] * 2
        import_id = results[0].remote_id
        assert dest.insight.slots.active() == [import_id]  # still running at dotdigital: its slot is kept
        w.clock.sleep(10_000)
        at = datetime.now(UTC) - timedelta(seconds=1000)
        items = [SubmittedItem(r.key, "", r.remote_id, at, i.fields) for r, i in zip(results, batch, strict=True)]
        assert [r.outcome for r in dest.confirm("products", items)] == ["accepted"] * 2
        assert dest.insight.slots.active() == []
        assert [path for method, path, _ in insight_calls(w) if method == "PUT"] == ["/insightData/v3/import"]


@pytest.mark.django_db
def test_the_engine_leaves_an_unfinished_import_submitted_sends_nothing_again_and_confirms_it(hub):
    hub.sap.add_business_partners([partner(code) for code in ("C001", "C002", "C003")])
    connection_pull(connection=hub.connection)
    hub.dd.import_delay_seconds = 10_000

    run = flow_push(flow=hub.flow, adapter=hub.destination(poll_deadline=60))

    rows = list(OutboxItem.objects.filter(flow=hub.flow))
    assert {row.status for row in rows} == {"submitted"} and len(rows) == 3
    assert len({row.receipt for row in rows}) == 1
    assert run.records_retried == 0 and run.records_failed == 0
    assert not SyncException.objects.filter(flow=hub.flow, status="open").exists()

    again = flow_push(flow=hub.flow, adapter=hub.destination(poll_deadline=60), confirm=False)
    assert again.api_calls == 0 and imports_sent(hub.dd) == 1

    OutboxItem.objects.filter(flow=hub.flow).update(submitted_at=timezone.now() - timedelta(seconds=1000))
    assert flow_confirm_pass(flow=hub.flow, adapter=hub.destination()).records_accepted == 0  # still processing
    assert {row.status for row in OutboxItem.objects.filter(flow=hub.flow)} == {"submitted"}
    hub.dd_clock.sleep(10_000)

    confirmed = flow_confirm_pass(flow=hub.flow, adapter=hub.destination())

    assert confirmed.records_accepted == 3
    assert {row.status for row in OutboxItem.objects.filter(flow=hub.flow)} == {"accepted"}
    assert imports_sent(hub.dd) == 1
    assert len(hub.dd.state.contacts) == 3
