"""SapB1Source: full and delta reads of Business Partners through the sandbox."""
from __future__ import annotations

import json

from erp.sap_b1.adapter import SapB1Source
from tests.erp.conftest import make_client, partner

ENTITY = "business_partners"


def _read(source, cursor=None):
    batches = list(source.read_changes(ENTITY, cursor))
    return batches, [r.key for batch in batches for r in batch.records]


def test_full_read_pages_everything_but_suppliers(sandbox, connection):
    sandbox.add_business_partners(partner(f"C{n:03d}") for n in range(23))
    sandbox.add_business_partner(partner("L001", CardType="cLid"))
    sandbox.add_business_partner(partner("V001", CardType="cSupplier"))

    batches, keys = _read(SapB1Source(connection))

    assert len(batches) == 3
    assert sorted(keys) == sorted([f"C{n:03d}" for n in range(23)] + ["L001"])
    assert "V001" not in keys
    assert sandbox.login_count == 1
    for batch in batches:
        json.dumps(batch.cursor)
    assert batches[-1].cursor == {"updated_at": "2026-11-22T09:00:00+00:00"}


def test_delta_read_returns_only_changes_inside_the_overlap_window(sandbox, connection, clock):
    for n in range(5):
        sandbox.add_business_partner(partner(f"C{n}"))
        clock.advance(minutes=10)
    source = SapB1Source(connection)
    *_, last = source.read_changes(ENTITY, None)
    clock.advance(minutes=30)
    sandbox.update_business_partner("C1", CardName="Changed")

    _, keys = _read(source, last.cursor)

    # C4 was stamped 09:40, the cursor; the 2-minute overlap re-reads it harmlessly.
    assert keys == ["C4", "C1"]


def test_change_in_the_same_minute_as_the_cursor_is_not_missed(sandbox, connection, clock):
    connection.delta_overlap_minutes = 0
    clock.set(10, 31, 20)
    sandbox.add_business_partner(partner("C1"))
    source = SapB1Source(connection)
    *_, last = source.read_changes(ENTITY, None)
    assert last.cursor == {"updated_at": "2026-11-22T10:31:20+00:00"}

    clock.set(10, 31, 50)
    sandbox.update_business_partner("C1")
    sandbox.add_business_partner(partner("C0"))  # sorts first, same minute, later second

    _, keys = _read(source, last.cursor)
    assert set(keys) == {"C0", "C1"}


def test_many_changes_in_one_minute_across_pages_are_all_read(sandbox, connection, clock):
    connection.delta_overlap_minutes = 0
    clock.set(10, 0)
    sandbox.add_business_partner(partner("A0"))
    source = SapB1Source(connection)
    *_, first = source.read_changes(ENTITY, None)
    clock.set(10, 0, 30)
    sandbox.add_business_partners(partner(f"B{n:02d}") for n in range(35))

    seen, cursor = set(), first.cursor
    for batch in source.read_changes(ENTITY, cursor):
        seen.update(r.key for r in batch.records)
    assert {f"B{n:02d}" for n in range(35)} <= seen


def test_record_changed_while_paging_does_not_make_another_skipped(sandbox, connection, clock):
    sandbox.add_business_partners(partner(f"C{n:03d}") for n in range(40))
    clock.advance(minutes=5)
    source = SapB1Source(connection)
    seen = []
    for index, batch in enumerate(source.read_changes(ENTITY, None)):
        seen.extend(r.key for r in batch.records)
        if index == 0:  # someone edits a row we already read
            sandbox.update_business_partner("C003", CardName="Edited mid-read")
    assert set(seen) == {f"C{n:03d}" for n in range(40)}


def test_malformed_record_is_reported_and_the_page_goes_on(sandbox, connection):
    sandbox.add_business_partner(partner("C1"))
    sandbox.add_business_partner(partner("C2", UpdateDate="22/11/2026"))
    sandbox.add_business_partner(partner("C3", CardType="cAlien"))
    sandbox.add_business_partner(partner("C4"))

    batches, keys = _read(SapB1Source(connection))

    records = {r.key: r for batch in batches for r in batch.records}
    assert set(keys) == {"C1", "C2", "C3", "C4"}
    assert records["C2"].data is None and "last-changed date" in records["C2"].error
    assert records["C3"].data is None and records["C3"].raw["CardType"] == "cAlien"
    assert records["C1"].data and records["C4"].data


def test_a_fix_made_in_sap_shows_up_in_the_next_delta(sandbox, connection, clock, password):
    sandbox.add_business_partner(partner("C1", EmailAddress="jane.doe@"))
    sandbox.add_business_partner(partner("C2"))
    source = SapB1Source(connection)
    *_, last = source.read_changes(ENTITY, None)
    clock.advance(hours=1)

    make_client(connection.base_url, password).patch(
        "BusinessPartners('C1')", {"EmailAddress": "jane.doe@example.com"})

    batches, keys = _read(source, last.cursor)
    assert keys == ["C2", "C1"]  # C2 only because it sits inside the overlap window
    fixed = batches[0].records[-1]
    assert fixed.data["email"] == "jane.doe@example.com"
    assert batches[-1].cursor == {"updated_at": "2026-11-22T10:00:00+00:00", "reread_to": "2026-11-22T09:00:00+00:00"}


def test_read_one_finds_a_partner_or_says_it_is_gone(sandbox, connection):
    sandbox.add_business_partner(partner("C'1"))
    source = SapB1Source(connection)
    assert source.read_one(ENTITY, "C'1").data["card_code"] == "C'1"
    assert source.read_one(ENTITY, "NOPE") is None
