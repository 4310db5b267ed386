"""Service Layer BusinessPartner JSON -> canonical data."""
from __future__ import annotations

from datetime import UTC, datetime

from erp.sap_b1.payloads import select_clause, to_source_record
from tests.erp.conftest import partner


def test_customer_becomes_canonical_fields():
    raw = partner(
        "C0001", EmailAddress="  Jane.Doe@Example.COM ", CardType="cCustomer", GroupCode="102",
        Frozen="tYES", UpdateDate="2026-11-22", UpdateTime="10:31:05",
        BPAddresses=[{"AddressName": "Bill to", "Street": "1 High Street", "City": "York",
                      "ZipCode": "YO1 7HH", "Country": "GB", "AddressType": "bo_BillTo",
                      "BPCode": "C0001", "RowNum": 0}],
    )
    record = to_source_record(raw)
    data = record.data
    assert record.error is None and record.key == "C0001"
    assert data["card_type"] == "customer"
    assert data["email"] == "Jane.Doe@Example.COM"
    assert data["email_normalised"] == "jane.doe@example.com"
    assert data["group_code"] == 102
    assert (data["valid"], data["frozen"]) == (True, True)
    assert data["udfs"] == {"U_LoyaltyTier": "Gold", "U_MarketingConsent": "Y", "U_Birthday": None}
    assert data["addresses"][0]["city"] == "York"
    assert data["addresses"][0]["address_type"] == "bill_to"
    assert data["source_updated_at"] == datetime(2026, 11, 22, 10, 31, 5, tzinfo=UTC)
    assert record.version == "2026-11-22T10:31:05+00:00"


def test_leads_and_suppliers_are_named_plainly_and_missing_email_is_blank():
    lead = to_source_record(partner("L1", CardType="cLid", EmailAddress=None,
                                    UpdateDate="2026-11-22", UpdateTime="10:00:00"))
    supplier = to_source_record(partner("V1", CardType="S", UpdateDate="2026-11-22"))
    assert lead.data["card_type"] == "lead"
    assert (lead.data["email"], lead.data["email_normalised"]) == ("", "")
    assert supplier.data["card_type"] == "supplier"


def test_creation_stamp_is_used_when_never_updated():
    raw = partner("C2", CreateDate="2025-01-02", CreateTime="08:09:10")
    assert to_source_record(raw).data["source_updated_at"] == datetime(
        2025, 1, 2, 8, 9, 10, tzinfo=UTC)


def test_records_that_cannot_be_understood_carry_a_plain_reason():
    no_code = to_source_record(partner("", CardName="Mystery Ltd"))
    odd_type = to_source_record(partner("C3", CardType="cPartner"))
    bad_date = to_source_record(partner("C4", UpdateDate="2026-13-45", UpdateTime="10:00:00"))
    bad_flag = to_source_record(partner("C5", Valid="maybe", UpdateDate="2026-11-22"))
    for record in (no_code, odd_type, bad_date, bad_flag):
        assert record.data is None and record.error and record.raw
    assert "no code" in no_code.error and "Mystery Ltd" in no_code.error
    assert "type we do not recognise" in odd_type.error
    assert "unreadable last-changed date" in bad_date.error and "C4" in bad_date.error
    assert "expected yes or no" in bad_flag.error


def test_select_lists_the_fields_we_read_and_the_user_fields():
    clause = select_clause(("U_Tier",))
    assert clause.startswith("CardCode,CardName,CardType")
    assert clause.endswith("BPAddresses,ContactEmployees,U_Tier")
