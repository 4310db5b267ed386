"""The set-based hot path gives the same mirror and the same outbox on PostgreSQL and SQLite.

The same pages go through ingest and planning on whichever database the run uses (bin/test:
SQLite; CI and DATABASE_URL: PostgreSQL). Changed keys and unchanged counts are asserted as
they are; the mirror's content hashes and the outbox's payload hashes, statuses, generations
and priorities are folded into one fingerprint per table that must equal the literal below on
both databases (a hash that drifted on one of them, a row written or skipped differently,
changes it)."""
from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from erp.documents import SalesOrder, SalesOrderLine
from erp.ingest import INGESTERS
from erp.models import BusinessPartner
from esp.default_mappings import mappings_install_defaults
from syncapp.adapters import SourceRecord
from syncapp.models import OutboxItem, OutboxStatus
from syncapp.services import changes_plan, connection_pull, flows_reading
from tests.factories import FlowFactory
from tests.syncapp.fakes import FakeSource, bp_record

pytestmark = pytest.mark.django_db

# The fingerprints of the scenario below, the same on PostgreSQL and SQLite.
MIRROR_FINGERPRINT = "5bc9064b4333da6c"
OUTBOX_FINGERPRINT = "2a9e9f1813dff2e6"  # order hashes cover what dotdigital receives (issue 12)


def partner(code: str, **changes) -> SourceRecord:
    record = bp_record(code, name=changes.pop("name", ""), card_type=changes.pop("card_type", "customer"),
                       email=changes.pop("email", None), udfs={"U_LoyaltyTier": "Gold", "U_MarketingConsent": "Y"})
    record.data["addresses"] = [{"address_type": "bill_to", "city": f"Town {code}", "zip_code": "sw1a 1aa",
                                 "country": "gb", "street": "1 High St \u00e9"}]
    record.data["source_updated_at"] = datetime(2026, 11, 1, 10, tzinfo=UTC)
    record.data.update(changes)
    return record


def order(entry: int, card_code: str, *quantities: float, **header) -> SourceRecord:
    lines = [{"line_num": n, "item_code": f"00{1000 + n}", "description": f"Item {n}", "quantity": q,
              "price": 12.5, "line_total": q * 12.5, "warehouse_code": "01", "line_status": "open",
              "base_type": None, "base_entry": None, "base_line": None} for n, q in enumerate(quantities)]
    net = sum(line["line_total"] for line in lines)
    data = {"doc_entry": entry, "doc_num": 9000 + entry, "card_code": card_code, "num_at_card": f"WEB-{entry}",
            "doc_date": "2026-11-20", "doc_due_date": None, "currency": "GBP", "doc_total": round(net * 1.2, 2),
            "vat_total": round(net * 0.2, 2), "discount_percent": 0.0, "status": "open", "cancelled": False,
            "tracking_number": "", "source_updated_at": "2026-11-20T10:00:00+00:00", "lines": lines} | header
    return SourceRecord(entity="orders", key=str(entry), version="v", data=data, raw={"DocEntry": entry})


def fingerprint(rows) -> str:
    return hashlib.sha256(repr(sorted(tuple(str(value) for value in row) for row in rows)).encode()).hexdigest()[:16]


def mirror_fingerprint() -> str:
    return fingerprint([*BusinessPartner.objects.values_list("card_code", "content_hash", "email_normalised"),
                        *SalesOrder.objects.values_list("doc_entry", "content_hash", "doc_total"),
                        *SalesOrderLine.objects.values_list("document__doc_entry", "line_num", "item_code",
                                                            "quantity", "line_total")])


def outbox_fingerprint() -> str:
    return fingerprint(OutboxItem.objects.values_list("flow__entity", "record_key", "status", "payload_hash",
                                                      "accepted_hash", "generation", "priority"))


@pytest.fixture
def flows():
    customers = FlowFactory(entity="customers")
    mappings_install_defaults(destination=customers.destination)
    orders = FlowFactory(entity="orders", connection=customers.connection, destination=customers.destination)
    return customers, orders


def ingest_and_plan(connection, entity: str, records: list[SourceRecord]):
    stored = INGESTERS[entity](connection=connection, records=records)
    changes_plan(connection=connection, entity=entity, flows=flows_reading(connection=connection, source_entity=entity),
                 stored=stored)
    return stored


def test_the_same_pages_give_the_same_mirror_and_outbox_on_either_database(flows):
    customers, orders = flows
    connection = customers.connection
    partners = [partner("C001"), partner("C002", name="Zo\u00eb  Smith "), partner("C003", card_type="lead"),
                partner("C004", email="not-an-email"), partner("C005", email="shared@example.com"),
                partner("C006", email="Shared@Example.com")]
    first = ingest_and_plan(connection, "business_partners", partners)
    assert sorted(first.changed_keys) == ["C001", "C002", "C003", "C004", "C005", "C006"] and first.unchanged == 0

    # The destination accepted C001 and C002 (as a push would record).
    for row in OutboxItem.objects.filter(flow=customers, record_key__in=["C001", "C002"]):
        row.status, row.accepted_hash = OutboxStatus.ACCEPTED, row.payload_hash
        row.save()

    placed = ingest_and_plan(connection, "orders", [
        order(1, "C001", 1, 2), order(2, "C002", 3), order(3, "C999", 1), order(4, "C001", 1, doc_total=99.0)])
    assert sorted(placed.changed_keys) == ["1", "2", "3", "4"] and placed.unchanged == 0

    # Read again: one partner renamed, one order edited, the rest as before.
    again = ingest_and_plan(connection, "business_partners", [*partners[:1], partner("C002", name="Zoe Smith"),
                                                              *partners[2:]])
    assert again.changed_keys == ["C002"] and again.unchanged == 5
    edited = ingest_and_plan(connection, "orders", [order(1, "C001", 1, 3), order(2, "C002", 3)])
    assert edited.changed_keys == ["1"] and edited.unchanged == 1
    unchanged = INGESTERS["orders"](connection=connection, records=[order(1, "C001", 1, 3), order(2, "C002", 3)])
    assert (unchanged.changed_keys, unchanged.unchanged) == ([], 2)

    statuses = dict(OutboxItem.objects.filter(flow=orders).values_list("record_key", "status"))
    assert statuses == {"1": "pending", "2": "pending"}  # 3: unknown customer, 4: totals do not add up
    # A lead, a bad email and two partners sharing one get no row (each is an exception or skipped).
    assert dict(OutboxItem.objects.filter(flow=customers).values_list("record_key", "status")) == {
        "C001": "pending", "C002": "pending"}
    assert OutboxItem.objects.get(flow=customers, record_key="C002").generation == 3  # renamed, then its figures
    assert (mirror_fingerprint(), outbox_fingerprint()) == (MIRROR_FINGERPRINT, OUTBOX_FINGERPRINT)


def test_a_pull_through_the_engine_writes_what_planning_a_page_by_hand_writes(flows):
    customers, _ = flows
    records = [partner(f"C{n:03d}") for n in range(1, 40)]
    run = connection_pull(connection=customers.connection, adapter=FakeSource([records[:20], records[20:]]))
    assert (run.records_read, run.records_changed, run.records_planned) == (39, 39, 39)
    again = connection_pull(connection=customers.connection, adapter=FakeSource([records]))
    assert (again.records_changed, again.records_planned, again.records_unchanged) == (0, 0, 0)
