"""SapB1Source: item groups (ItemGroups, OITB) read in full through the sandbox, by its rules."""
from __future__ import annotations

import pytest

from erp.sap_b1.adapter import SapB1Source
from erp.sap_b1.item_payloads import to_item_group_record
from syncapp.adapters import TransportError


def test_item_groups_are_read_in_full_page_by_page_in_number_order(sandbox, connection):
    sandbox.add_item_groups({"Number": n, "GroupName": f"Group {n}"} for n in range(101, 124))
    sandbox.add_item_groups([{"Number": 9, "GroupName": "Knitwear"}])

    batches = list(SapB1Source(connection).read_changes("item_groups", None))

    assert len(batches) == 3 and all(batch.cursor == {"full": True} for batch in batches)  # 25 rows, 10 a page
    records = [record for batch in batches for record in batch.records]
    # By Number as a number (9 before 100), SAP's own group 100 "Items" included.
    assert [r.key for r in records[:3]] == ["9", "100", "101"]
    assert records[0].data == {"code": "9", "name": "Knitwear"} and records[1].data["name"] == "Items"
    assert len({r.key for r in records}) == 25


def test_a_group_renamed_through_the_service_layer_reads_with_its_new_name(sandbox, connection, client):
    sandbox.add_item_groups([{"Number": 110, "GroupName": "Knitwear"}])
    client.patch("ItemGroups(110)", {"GroupName": "Knitwear & Jumpers"})
    source = SapB1Source(connection)
    assert source.read_one("item_groups", "110").data == {"code": "110", "name": "Knitwear & Jumpers"}
    assert source.read_one("item_groups", "111") is None
    assert source.read_one("item_groups", "not-a-number") is None


@pytest.mark.parametrize("body", [{"Number": 5}, {"GroupName": ""}, {"Colour": "red"}])
def test_the_sandbox_refuses_what_sap_refuses_on_a_group(sandbox, client, body):
    with pytest.raises(TransportError) as refused:
        client.patch("ItemGroups(100)", body)
    assert refused.value.status == 400
    assert sandbox.item_groups["100"]["GroupName"] == "Items"


def test_a_group_without_a_whole_number_is_unreadable_and_says_so():
    record = to_item_group_record({"Number": "KNIT", "GroupName": "Knitwear"})
    assert record.data is None and record.key == "KNIT"
    assert "item group in SAP (name 'Knitwear') has no whole-number code (Number)" in record.error
