"""A record read again unchanged (the overlap window's re-read) is set aside before it is
screened or written: one probe of the page's keys, no staging, no upsert (issue 12)."""
from __future__ import annotations

import copy

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from erp.documents import SalesOrder
from erp.ingest import INGESTERS
from erp.models import BusinessPartner
from syncapp.adapters import SourceBatch
from syncapp.page_lookahead import pages_read_ahead
from syncapp.services import connection_pull
from tests.erp.test_document_ingest import document, line
from tests.factories import ErpConnectionFactory
from tests.syncapp.fakes import FakeSource, bp_record

pytestmark = pytest.mark.django_db


def orders(*totals: float) -> list:
    return [document(entry, line(0), doc_total=total) for entry, total in enumerate(totals, 1)]


def writes(queries) -> list[str]:
    return [query["sql"] for query in queries
            if query["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE", "COPY"))]


def test_a_page_read_again_unchanged_is_set_aside_without_a_write():
    connection = ErpConnectionFactory()
    INGESTERS["orders"](connection=connection, records=orders(10.0, 20.0, 30.0))
    with CaptureQueriesContext(db) as queries:
        again = INGESTERS["orders"](connection=connection, records=orders(10.0, 20.0, 30.0))
    assert (again.changed_keys, again.unchanged, sorted(again.readable_keys)) == ([], 3, ["1", "2", "3"])
    assert writes(queries.captured_queries) == []
    assert len(queries.captured_queries) == 1  # the probe of the page's keys


def test_a_record_changed_among_records_read_again_is_written_alone():
    connection = ErpConnectionFactory()
    INGESTERS["orders"](connection=connection, records=orders(10.0, 20.0, 30.0))
    again = INGESTERS["orders"](connection=connection, records=orders(10.0, 25.0, 30.0))
    assert (again.changed_keys, again.unchanged, sorted(again.readable_keys)) == (["2"], 2, ["1", "2", "3"])
    assert SalesOrder.objects.get(doc_entry=2).doc_total == 25


def test_a_partner_read_again_unchanged_is_set_aside_and_a_changed_one_is_not():
    connection = ErpConnectionFactory()
    INGESTERS["business_partners"](connection=connection, records=[bp_record("C001"), bp_record("C002")])
    with CaptureQueriesContext(db) as queries:
        INGESTERS["business_partners"](connection=connection, records=[bp_record("C001"), bp_record("C002")])
    assert writes(queries.captured_queries) == []
    again = INGESTERS["business_partners"](connection=connection,
                                           records=[bp_record("C001"), bp_record("C002", name="Renamed")])
    assert (again.changed_keys, again.unchanged) == (["C002"], 1)
    assert BusinessPartner.objects.get(card_code="C002").card_name == "Renamed"


def test_a_key_read_twice_in_a_page_keeps_its_last_read():
    connection = ErpConnectionFactory()
    INGESTERS["orders"](connection=connection, records=orders(10.0))
    # Changed, then back as stored, within one page: the last read is what the mirror holds.
    INGESTERS["orders"](connection=connection, records=[*orders(99.0), *orders(10.0)])
    assert SalesOrder.objects.get(doc_entry=1).doc_total == 10
    # As stored, then changed: the change is written.
    result = INGESTERS["orders"](connection=connection, records=[*orders(10.0), *orders(99.0)])
    assert result.changed_keys == ["1"] and SalesOrder.objects.get(doc_entry=1).doc_total == 99


def test_a_row_stored_by_other_code_is_written_once_more_then_set_aside():
    """An upgrade that stores records differently changes every fingerprint: the next read
    compares content as before (nothing to plan when it is equal) and brings the
    fingerprint up to date, so the read after is set aside again."""
    connection = ErpConnectionFactory()
    INGESTERS["orders"](connection=connection, records=orders(10.0, 20.0))
    SalesOrder.objects.update(read_fingerprint="0" * 32)
    SalesOrder.objects.filter(doc_entry=2).update(read_fingerprint=None)  # stored before fingerprints were kept
    again = INGESTERS["orders"](connection=connection, records=orders(10.0, 20.0))
    assert (again.changed_keys, again.unchanged) == ([], 2)
    assert "0" * 32 not in SalesOrder.objects.values_list("read_fingerprint", flat=True)
    assert None not in SalesOrder.objects.values_list("read_fingerprint", flat=True)
    with CaptureQueriesContext(db) as queries:
        INGESTERS["orders"](connection=connection, records=orders(10.0, 20.0))
    assert writes(queries.captured_queries) == []


def test_records_held_when_read_ahead_are_asked_again_in_the_pages_own_transaction():
    """The look-ahead's answer comes from before the page ahead of it was stored: that page
    may have changed a record since. Here the mirror holds 10.0, the look-ahead saw 10.0
    held, then the page before changed it to 99.0: the record read as 10.0 is written."""
    connection = ErpConnectionFactory()
    INGESTERS["orders"](connection=connection, records=orders(10.0))
    held = orders(10.0)
    INGESTERS["orders"](connection=connection, records=orders(99.0))  # the page before, stored meanwhile
    result = INGESTERS["orders"](connection=connection, records=[], screened=True, held=tuple(held))
    assert result.changed_keys == ["1"] and SalesOrder.objects.get(doc_entry=1).doc_total == 10


def test_a_record_held_when_read_ahead_that_changed_since_is_screened_before_it_is_written():
    connection = ErpConnectionFactory()
    INGESTERS["business_partners"](connection=connection, records=[bp_record("C001", name="Jane")])
    held = [bp_record("C001", name="Jane")]
    INGESTERS["business_partners"](connection=connection, records=[bp_record("C001", name="Other")])
    held[0].data["card_name"] = "Jane\x00"  # what the screen refuses: a held record was never screened
    result = INGESTERS["business_partners"](connection=connection, records=[], screened=True, held=held)
    assert [record.key for record in result.unreadable] == ["C001"]
    assert BusinessPartner.objects.get(card_code="C001").card_name == "Other"


def test_a_pull_reading_the_same_records_again_changes_nothing_and_counts_them_read():
    connection = ErpConnectionFactory()
    page = [bp_record("C001"), bp_record("C002")]
    connection_pull(connection=connection, adapter=FakeSource([copy.deepcopy(page)]))
    run = connection_pull(connection=connection, adapter=FakeSource([copy.deepcopy(page)]))
    assert (run.status, run.records_read, run.records_changed, run.records_failed) == ("succeeded", 2, 0, 0)


@pytest.mark.django_db(transaction=True)  # the look-ahead asks on a connection of its own: it sees committed rows
def test_the_page_read_ahead_hands_over_unscreened_the_records_the_mirror_holds(postgres_only):
    connection = ErpConnectionFactory()
    INGESTERS["business_partners"](connection=connection, records=[bp_record("C001"), bp_record("C002")])
    page = SourceBatch(records=[bp_record("C001"), bp_record("C002", name="Renamed"), bp_record("C003")],
                       cursor={})
    (batch,) = list(pages_read_ahead(iter([page]), entity="business_partners", connection=connection))
    assert [record.key for record in batch.held] == ["C001"]
    assert [record.key for record in batch.records] == ["C002", "C003"] and batch.screened


def test_equal_records_share_a_fingerprint_and_any_difference_of_value_or_type_parts_them():
    from datetime import UTC, date, datetime

    from erp.read_fingerprint import read_fingerprint

    def fingerprint(**changes):
        record = bp_record("C001")
        record.data.update(changes)
        return read_fingerprint(record)

    stamp = datetime(2026, 11, 1, 10, tzinfo=UTC)
    assert fingerprint(source_updated_at=stamp) == fingerprint(source_updated_at=datetime(2026, 11, 1, 10, tzinfo=UTC))
    assert len({fingerprint(source_updated_at=stamp), fingerprint(source_updated_at=stamp.isoformat()),
                fingerprint(source_updated_at=stamp.replace(second=1)),
                fingerprint(source_updated_at=date(2026, 11, 1)), fingerprint(source_updated_at="2026-11-01"),
                fingerprint(group_code=100.0)}) == 6
