"""A page whose bulk write fails is written again in halves: every record that fails on its
own, and only those, becomes unreadable; a key read twice keeps its later read."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext

from erp.ingest import INGESTERS
from erp.models import BusinessPartner
from syncapp.adapters import SourceRecord
from tests.factories import ErpConnectionFactory

pytestmark = pytest.mark.django_db


def partner(code: str, name: str = "") -> SourceRecord:
    data = {"card_code": code, "card_name": name or f"Customer {code}", "card_type": "customer",
            "email": f"{code.lower()}@example.com", "email_normalised": f"{code.lower()}@example.com",
            "source_updated_at": datetime(2026, 11, 22, tzinfo=UTC)}
    return SourceRecord(entity="business_partners", key=code, version="v", data=data, raw={"CardCode": code})


def test_each_record_that_fails_alone_is_unreadable_and_the_rest_of_the_page_is_written(monkeypatch):
    monkeypatch.setattr("erp.ingest_guard.records_check", lambda *, entity, records: list(records))  # checks missed
    bad = {"C007", "C030", "C031"}
    page = [partner(f"C{n:03d}", "Jos\udce9" if f"C{n:03d}" in bad else "") for n in range(64)]
    page.append(partner("C010", "Read again"))  # the later read of C010 wins
    result = INGESTERS["business_partners"](connection=ErpConnectionFactory(), records=page)
    assert sorted(record.key for record in result.unreadable) == sorted(bad)
    assert all(record.error.startswith("The hub could not store this record") for record in result.unreadable)
    stored = dict(BusinessPartner.objects.values_list("card_code", "card_name"))
    assert len(stored) == 61 and not bad & set(stored) and stored["C010"] == "Read again"
    assert len(result.readable_keys) == 61 and len(result.changed) == 61


def test_one_bad_record_costs_a_few_halvings_not_a_write_per_record(monkeypatch):
    monkeypatch.setattr("erp.ingest_guard.records_check", lambda *, entity, records: list(records))
    page = [partner(f"C{n:03d}", "Jos\udce9" if n == 77 else "") for n in range(256)]
    with CaptureQueriesContext(db_connection) as queries:
        result = INGESTERS["business_partners"](connection=ErpConnectionFactory(), records=page)
    assert [record.key for record in result.unreadable] == ["C077"]
    inserts = [q for q in queries.captured_queries if q["sql"].startswith('INSERT INTO "erp_businesspartner"')]
    assert len(inserts) <= 2 * 8 + 1  # two halves per level of a 256-record page, not 256 writes
