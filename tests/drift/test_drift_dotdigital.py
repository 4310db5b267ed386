"""A contact edited at the dotdigital sandbox is found by the daily sample: sent again
when the field differing is the ERP's, raised for marketing when it is dotdigital's."""
from __future__ import annotations

import pytest

from exceptions.models import SyncException
from syncapp.drift.models import DriftDay, DriftFinding, DriftPass
from syncapp.models import OutboxItem, OutboxStatus
from syncapp.services import flow_push
from tests.drift.support import run_sample
from tests.hub import Hub, partner

pytestmark = pytest.mark.django_db


@pytest.fixture
def hub():
    hub = Hub()
    hub.sap.add_business_partners([partner(f"C{i:03d}", CardName=f"Customer {i}") for i in range(1, 6)])
    hub.sync()
    yield hub
    hub.close()


def test_a_contact_renamed_at_dotdigital_is_found_by_the_sample_and_sent_again(hub):
    hub.dd.edit_contact("c002@example.com", {"FULLNAME": "Someone Else"})

    sample = run_sample(hub.flow, hub.destination())

    assert (sample.status, sample.checked, sample.drifted, sample.requeued, sample.raised) == ("done", 5, 1, 1, 0)
    finding = DriftFinding.objects.get()
    assert finding.record_key == "C002" and finding.action == "requeued"
    assert finding.fields == [{"field": "FULLNAME", "sent": "Customer 2", "found": "Someone Else", "owner": "erp"}]
    assert OutboxItem.objects.get(flow=hub.flow, record_key="C002").status == OutboxStatus.PENDING
    flow_push(flow=hub.flow, adapter=hub.destination())
    assert hub.dd.contacts["c002@example.com"]["dataFields"]["FULLNAME"] == "Customer 2"
    assert not SyncException.objects.exists()


def test_consent_changed_at_dotdigital_is_raised_for_marketing_with_both_values_and_not_overwritten(hub):
    hub.dd.edit_contact("c003@example.com", {"MARKETINGCONSENT": False})

    sample = run_sample(hub.flow, hub.destination())

    assert (sample.drifted, sample.requeued, sample.raised) == (1, 0, 1)
    exception = SyncException.objects.get()
    assert (exception.record_key, exception.reason_code, exception.owner_team) == (
        "C003", "drifted_at_destination", "marketing")
    assert "MARKETINGCONSENT: the hub sent True, it now holds False" in exception.message
    assert exception.last_request == {"sent": {"MARKETINGCONSENT": True}}
    assert exception.last_response == {"found": {"MARKETINGCONSENT": False}}
    assert OutboxItem.objects.get(flow=hub.flow, record_key="C003").status == OutboxStatus.ACCEPTED
    flow_push(flow=hub.flow, adapter=hub.destination())
    assert hub.dd.contacts["c003@example.com"]["dataFields"]["MARKETINGCONSENT"] is False  # dotdigital's stands


def test_a_contact_deleted_at_dotdigital_is_sent_again(hub):
    del hub.dd.state.contacts["c004@example.com"]

    sample = run_sample(hub.flow, hub.destination())

    assert (sample.missing, sample.requeued) == (1, 1)
    flow_push(flow=hub.flow, adapter=hub.destination())
    assert hub.dd.contacts["c004@example.com"]["dataFields"]["FULLNAME"] == "Customer 4"


def test_a_clean_destination_costs_one_read_per_record_and_finds_nothing(hub):
    before = hub.dd_calls()
    sample = run_sample(hub.flow, hub.destination())
    assert (sample.checked, sample.drifted) == (5, 0)
    assert hub.dd_calls() - before == 5
    assert not DriftFinding.objects.exists()
    day = DriftDay.objects.get(flow=hub.flow)
    assert (day.checked, day.drifted) == (5, 0)


def test_the_value_put_back_at_dotdigital_resolves_the_drift_exception(hub):
    hub.dd.edit_contact("c003@example.com", {"MARKETINGCONSENT": False})
    run_sample(hub.flow, hub.destination())
    hub.dd.edit_contact("c003@example.com", {"MARKETINGCONSENT": True})
    DriftPass.objects.all().delete()  # a new day's sample

    run_sample(hub.flow, hub.destination())

    assert SyncException.objects.get().status == SyncException.Status.RESOLVED


def test_a_catalog_record_changed_at_dotdigital_is_found_field_by_field():
    from esp.dotdigital.insight import DEFAULT_CATALOG_COLLECTION
    from syncapp.adapters import PushItem
    from tests.drift.support import run_full_pass
    from tests.esp.dotdigital_support import world
    from tests.factories import FlowFactory

    flow = FlowFactory(entity="products")
    with world() as w:
        dest = w.destination()
        items = [PushItem(key=f"I{n}", identifier=f"SKU-{n}", fields={"name": f"Product {n}", "price": 10.5})
                 for n in (1, 2, 3)]
        assert all(result.outcome == "accepted" for result in dest.push("products", items))
        for item in items:
            OutboxItem.objects.create(flow=flow, record_key=item.key, identifier=item.identifier, payload=item.fields,
                                      payload_hash=item.key, accepted_hash=item.key, status=OutboxStatus.ACCEPTED)
        w.sandbox.insight.collections[DEFAULT_CATALOG_COLLECTION]["records"]["SKU-2"]["json"]["price"] = 99
        del w.sandbox.insight.collections[DEFAULT_CATALOG_COLLECTION]["records"]["SKU-3"]

        drift_pass = run_full_pass(flow, dest)

    assert (drift_pass.checked, drift_pass.drifted, drift_pass.missing) == (3, 2, 1)
    changed = DriftFinding.objects.get(record_key="I2")
    assert changed.fields == [{"field": "price", "sent": 10.5, "found": 99, "owner": "erp"}]


def test_the_hourly_task_reads_back_through_the_accounts_own_adapter_and_bucket(hub, monkeypatch):
    from datetime import UTC, datetime

    from syncapp.drift import services, tasks

    hub.account.calls_per_minute = 6000
    hub.account.save()
    hub.dd.edit_contact("c005@example.com", {"LOYALTYTIER": "Bronze"})
    end_of_day = datetime.now(UTC).replace(hour=23, minute=30)
    original = services.drift_sample_start
    monkeypatch.setattr(services, "drift_sample_start", lambda *, flow, now=None: original(flow=flow, now=end_of_day))
    before = hub.dd_calls()

    tasks.drift_sample_task()

    sample = DriftPass.objects.get(kind="sample")
    assert (sample.status, sample.checked, sample.requeued) == ("done", 5, 1)
    assert hub.dd_calls() - before == 5
    assert OutboxItem.objects.get(flow=hub.flow, record_key="C005").status == OutboxStatus.PENDING
