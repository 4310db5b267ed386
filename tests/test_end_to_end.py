"""End to end through both sandboxes over real sockets: SAP B1 -> engine -> dotdigital."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from exceptions.models import SyncException
from exceptions.services import exceptions_retry
from syncapp.adapters import DestinationLimits
from syncapp.models import OutboxItem, OutboxStatus, SourceCursor
from syncapp.outbox import outbox_claim
from syncapp.services import connection_pull, flow_push
from tests.hub import Hub, partner

pytestmark = pytest.mark.django_db


@pytest.fixture
def hub():
    hub = Hub()
    yield hub
    hub.close()


def test_a_change_in_sap_reaches_dotdigital(hub):
    hub.sap.add_business_partners([partner("C001", CardName="Jane Doe"), partner("C002")])
    hub.sync()
    assert hub.dd.contacts["c001@example.com"]["dataFields"]["FULLNAME"] == "Jane Doe"
    hub.patch_in_sap("C001", CardName="Jane Smith", U_LoyaltyTier="Platinum")
    hub.sync()
    fields = hub.dd.contacts["c001@example.com"]["dataFields"]
    assert (fields["FULLNAME"], fields["LOYALTYTIER"]) == ("Jane Smith", "Platinum")
    assert len(hub.dd.contacts) == 2


def test_the_billing_address_in_sap_fills_the_address_data_fields(hub):
    billing = {"AddressName": "Billing", "AddressType": "bo_BillTo", "City": " Leeds ", "ZipCode": "ls1 4ap",
               "Country": "gb"}
    delivery = {"AddressName": "Home", "AddressType": "bo_ShipTo", "City": "York", "ZipCode": "yo1 7hh"}
    hub.sap.add_business_partners([partner("C001", BPAddresses=[delivery, billing])])
    hub.sync()
    fields = hub.dd.contacts["c001@example.com"]["dataFields"]
    assert (fields["CITY"], fields["POSTCODE"], fields["COUNTRY"]) == ("Leeds", "LS1 4AP", "GB")


def test_an_unchanged_resync_makes_zero_dotdigital_calls(hub):
    hub.sap.add_business_partners([partner(f"C{i:03d}") for i in range(120)])
    hub.sync()
    before = hub.dd_calls()
    SourceCursor.objects.update(value=None)  # force a full re-read of all 120
    pulled, pushed = hub.sync()
    assert pulled.records_read == 120 and pulled.records_changed == 0
    assert hub.dd_calls() == before and pushed.api_calls == 0


def test_an_expired_sap_session_is_renewed_transparently(hub):
    hub.sap.add_business_partners([partner("C001")])
    hub.sync()
    logins = hub.sap.login_count
    hub.sap.expire_sessions()
    hub.sap_clock.advance(minutes=1)
    hub.sap.add_business_partners([partner("C002")])
    pulled, _ = hub.sync()
    assert pulled.status == "succeeded" and hub.sap.login_count == logins + 1
    assert "c002@example.com" in hub.dd.contacts


def test_a_worker_killed_mid_push_loses_and_duplicates_nothing(hub):
    hub.sap.add_business_partners([partner(f"C{i:03d}") for i in range(40)])
    connection_pull(connection=hub.connection)
    assert len(outbox_claim(flow=hub.flow, limit=15)) == 15  # that worker dies here
    flow_push(flow=hub.flow, adapter=hub.destination())
    OutboxItem.objects.filter(status=OutboxStatus.IN_FLIGHT).update(
        claimed_at=datetime.now(UTC) - timedelta(hours=1))
    flow_push(flow=hub.flow, adapter=hub.destination())
    assert len(hub.dd.contacts) == 40
    assert OutboxItem.objects.filter(status=OutboxStatus.ACCEPTED).count() == 40


def test_a_429_storm_slows_the_push_but_loses_nothing(hub):
    hub.dd.set_calls_per_minute(3)
    hub.sap.add_business_partners([partner(f"C{i:03d}") for i in range(30)])
    destination = hub.destination()
    destination.limits = DestinationLimits(batch_size=5, calls_per_minute=3, single_call_threshold=2)
    _, pushed = hub.sync(destination)
    assert pushed.records_accepted == 30 and len(hub.dd.contacts) == 30
    assert not any(status == 429 for _, _, status in hub.dd.call_log)  # paced by the rate headers instead
    assert hub.throttle.deferred  # every worker was told to wait, not just this one
    assert not SyncException.objects.exists()


def test_one_broken_record_does_not_stop_its_batch(hub):
    hub.dd.suppress("c002@example.com")
    hub.sap.add_business_partners([partner("C001"), partner("C002"), partner("C003"),
                                   partner("C004", EmailAddress="not-an-email")])
    hub.sync()
    assert {"c001@example.com", "c003@example.com"} <= set(hub.dd.contacts)
    reasons = dict(SyncException.objects.values_list("record_key", "reason_code"))
    assert reasons == {"C002": "contact_suppressed", "C004": "invalid_email"}


def test_a_record_fixed_in_sap_resolves_its_exception_on_retry(hub):
    hub.sap.add_business_partners([partner("C001", EmailAddress="jane.doe@")])
    hub.sync()
    exception = SyncException.objects.get(record_key="C001")
    assert exception.reason_code == "invalid_email" and exception.status == "open"
    hub.patch_in_sap("C001", EmailAddress="jane.doe@example.com")
    exceptions_retry(exceptions=SyncException.objects.filter(pk=exception.pk))  # re-reads C001 from SAP
    flow_push(flow=hub.flow, adapter=hub.destination())
    exception.refresh_from_db()
    assert exception.status == "resolved"
    assert "jane.doe@example.com" in hub.dd.contacts


def test_an_unreadable_sap_record_is_an_exception_and_the_page_goes_on(hub):
    hub.sap.add_business_partners([partner("C001", BPAddresses="12 High Street"), partner("C002")])
    hub.sync()
    assert "c002@example.com" in hub.dd.contacts
    exception = SyncException.objects.get(record_key="C001")
    assert exception.stage == "ingest" and exception.reason_code == "unreadable_record"


def test_a_worker_killed_after_sending_but_before_recording_duplicates_nothing(hub, monkeypatch):
    hub.sap.add_business_partners([partner(f"C{i:03d}") for i in range(10)])
    connection_pull(connection=hub.connection)

    def die(**kwargs):
        raise SystemExit("worker killed")

    monkeypatch.setattr("syncapp.pushing.outbox_complete", die)
    with pytest.raises(SystemExit):
        flow_push(flow=hub.flow, adapter=hub.destination())
    monkeypatch.undo()
    ids_after_first_send = {email: c["contactId"] for email, c in hub.dd.contacts.items()}
    assert len(ids_after_first_send) == 10  # the batch did reach dotdigital
    OutboxItem.objects.filter(status=OutboxStatus.IN_FLIGHT).update(
        claimed_at=datetime.now(UTC) - timedelta(hours=1))
    flow_push(flow=hub.flow, adapter=hub.destination())
    assert OutboxItem.objects.filter(status=OutboxStatus.ACCEPTED).count() == 10
    # Sent twice, stored once: the same ten contacts, with the same ids.
    assert {email: c["contactId"] for email, c in hub.dd.contacts.items()} == ids_after_first_send
