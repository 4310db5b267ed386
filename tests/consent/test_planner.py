"""The planner never sends a field the destination owns to a contact it holds, lets the
ERP's opt-out through always and its opt-in only with a contact's first push, and never an
opt-in to a contact whose consent was withdrawn; set-based, one look-up per page."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from consent.models import ConsentEvent, ConsentState
from erp.models import BusinessPartner
from esp.models import FieldMapping
from syncapp.models import OutboxItem, OutboxStatus
from syncapp.services import connection_pull, flow_push, records_replan
from tests.syncapp.fakes import FakeDestination, FakeSource, bp_record

pytestmark = pytest.mark.django_db


def _pull(flow, *codes: str, name: str = "", consent: str = "Y", updated: str = "2026-11-01T10:00:00+00:00"):
    records = [bp_record(code, name=name, updated=updated, udfs={"U_MarketingConsent": consent}) for code in codes]
    connection_pull(connection=flow.connection, adapter=FakeSource([records]))


def _payload(flow, code: str) -> dict:
    return OutboxItem.objects.get(flow=flow, record_key=code).payload


def _withdraw(flow, code: str) -> None:
    ConsentState.objects.create(connection=flow.connection, card_code=code, destination=flow.destination,
                                status="unsubscribed", reason="Unsubscribed",
                                changed_at=datetime(2026, 11, 2, tzinfo=UTC))


def test_an_erp_opt_out_of_a_held_contact_goes_and_is_recorded_with_source_erp(flow):
    _pull(flow, "C001")
    assert _payload(flow, "C001")["MARKETINGCONSENT"] is True  # the till's opt-in starts the contact
    flow_push(flow=flow, adapter=FakeDestination())

    _pull(flow, "C001", name="Renamed", consent="N", updated="2026-11-03T10:00:00+00:00")
    _pull(flow, "C001", name="Renamed again", consent="N", updated="2026-11-04T10:00:00+00:00")

    payload = _payload(flow, "C001")
    assert payload["FULLNAME"] == "Renamed again" and payload["MARKETINGCONSENT"] is False
    event = ConsentEvent.objects.get()  # once, though planned twice before it was sent
    assert (event.card_code, event.status, event.source, event.occurred_at) == (
        "C001", "unsubscribed", "ERP", datetime(2026, 11, 3, 10, tzinfo=UTC))
    state = ConsentState.objects.get()
    assert (state.card_code, state.destination, state.reason) == ("C001", flow.destination, "Withdrawn in the ERP")


def test_a_later_erp_opt_in_of_a_contact_who_opted_out_is_never_sent(flow):
    _pull(flow, "C001")
    flow_push(flow=flow, adapter=FakeDestination())
    _pull(flow, "C001", consent="N", updated="2026-11-03T10:00:00+00:00")
    flow_push(flow=flow, adapter=FakeDestination())

    _pull(flow, "C001", name="Renamed", consent="Y", updated="2026-11-05T10:00:00+00:00")

    payload = _payload(flow, "C001")
    assert payload["FULLNAME"] == "Renamed" and "MARKETINGCONSENT" not in payload
    assert ConsentEvent.objects.count() == 1


def test_a_delivered_opt_out_is_not_sent_again_so_the_destinations_later_word_stands(flow):
    _pull(flow, "C001")
    flow_push(flow=flow, adapter=FakeDestination())
    _pull(flow, "C001", consent="N", updated="2026-11-03T10:00:00+00:00")
    flow_push(flow=flow, adapter=FakeDestination())

    _pull(flow, "C001", name="Renamed", consent="N", updated="2026-11-05T10:00:00+00:00")
    records_replan(flow=flow, record_keys=["C001"], force=True)  # a drift re-send

    payload = _payload(flow, "C001")
    assert payload["FULLNAME"] == "Renamed" and "MARKETINGCONSENT" not in payload


def test_retrying_an_opt_out_the_destination_refused_still_carries_it(flow):
    _pull(flow, "C001")
    flow_push(flow=flow, adapter=FakeDestination())
    _pull(flow, "C001", consent="N", updated="2026-11-03T10:00:00+00:00")
    refusing = FakeDestination()
    refusing.reject["C001"] = "invalid_email"
    flow_push(flow=flow, adapter=refusing)
    assert OutboxItem.objects.get(flow=flow, record_key="C001").status == OutboxStatus.FAILED

    records_replan(flow=flow, record_keys=["C001"], force=True)  # Retry

    assert _payload(flow, "C001")["MARKETINGCONSENT"] is False
    assert ConsentEvent.objects.count() == 1


def test_a_new_contact_without_consent_starts_opted_out_and_is_no_withdrawal(flow):
    _pull(flow, "C001", consent="N")

    assert _payload(flow, "C001")["MARKETINGCONSENT"] is False
    assert not ConsentEvent.objects.exists() and not ConsentState.objects.exists()


def test_a_held_contact_never_gets_another_field_the_destination_owns(flow):
    FieldMapping.objects.filter(target_field="LOYALTYTIER").update(owner="destination")
    records = [bp_record("C001", udfs={"U_LoyaltyTier": "Gold", "U_MarketingConsent": "Y"})]
    connection_pull(connection=flow.connection, adapter=FakeSource([records]))
    assert _payload(flow, "C001")["LOYALTYTIER"] == "Gold"
    flow_push(flow=flow, adapter=FakeDestination())

    records = [bp_record("C001", name="Renamed", updated="2026-11-03T10:00:00+00:00",
                         udfs={"U_LoyaltyTier": "Silver", "U_MarketingConsent": "Y"})]
    connection_pull(connection=flow.connection, adapter=FakeSource([records]))

    payload = _payload(flow, "C001")
    assert payload["FULLNAME"] == "Renamed" and "LOYALTYTIER" not in payload and "MARKETINGCONSENT" not in payload


def test_a_held_contact_whose_erp_record_did_not_change_costs_no_call(flow):
    _pull(flow, "C001", "C002")
    flow_push(flow=flow, adapter=FakeDestination())

    planned = records_replan(flow=flow, record_keys=["C001", "C002"])

    assert sorted(planned.unchanged) == ["C001", "C002"] and planned.queued == []


def test_a_forced_re_plan_never_carries_what_the_destination_owns(flow):
    _pull(flow, "C001")
    flow_push(flow=flow, adapter=FakeDestination())

    records_replan(flow=flow, record_keys=["C001"], force=True)

    assert "MARKETINGCONSENT" not in _payload(flow, "C001")


def test_a_contact_who_withdrew_consent_gets_no_opt_in_even_as_a_new_contact(flow):
    _pull(flow, "C001", "C002")
    _withdraw(flow, "C001")

    records_replan(flow=flow, record_keys=["C001", "C002"])

    assert "MARKETINGCONSENT" not in _payload(flow, "C001")
    assert _payload(flow, "C002")["MARKETINGCONSENT"] is True


def test_consent_stands_even_when_someone_made_the_consent_field_the_erps(flow):
    FieldMapping.objects.filter(target_field="MARKETINGCONSENT").update(owner="erp")
    _pull(flow, "C001")
    flow_push(flow=flow, adapter=FakeDestination())
    _withdraw(flow, "C001")

    _pull(flow, "C001", name="Renamed", updated="2026-11-03T10:00:00+00:00")

    payload = _payload(flow, "C001")
    assert payload["FULLNAME"] == "Renamed" and "MARKETINGCONSENT" not in payload
    assert OutboxItem.objects.get(flow=flow, record_key="C001").status == OutboxStatus.PENDING


def _queries_to_replan(flow, codes: list[str]) -> int:
    with CaptureQueriesContext(connection) as captured:
        records_replan(flow=flow, record_keys=codes, force=True)
    return len(captured)


def test_ownership_and_consent_cost_the_same_queries_for_three_records_as_for_thirty(flow):
    codes = [f"C{n:03d}" for n in range(1, 31)]
    _pull(flow, *codes)
    flow_push(flow=flow, adapter=FakeDestination())
    for code in codes[::2]:
        _withdraw(flow, code)

    few, many = _queries_to_replan(flow, codes[:3]), _queries_to_replan(flow, codes)

    assert many == few
    assert all("MARKETINGCONSENT" not in _payload(flow, code) for code in codes)


def test_recording_erp_opt_outs_costs_the_same_queries_for_three_records_as_for_twenty_seven(flow):
    codes = [f"C{n:03d}" for n in range(1, 31)]
    _pull(flow, *codes)
    flow_push(flow=flow, adapter=FakeDestination())
    BusinessPartner.objects.filter(card_code__in=codes).update(udfs={"U_MarketingConsent": "N"})

    few, many = _queries_to_replan(flow, codes[:3]), _queries_to_replan(flow, codes[3:])

    assert many == few
    assert ConsentEvent.objects.filter(source="ERP").count() == 30
