"""Contact persons (SAP B1 ContactEmployees): the sandbox serves them, the adapter reads
them, ingest mirrors them set-based with their company."""
from __future__ import annotations

import pytest
import requests
from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from erp.ingest import INGESTERS
from erp.models import ContactPerson, ErpConnection
from erp.sap_b1.adapter import SapB1Source
from erp.sap_b1.payloads import to_source_record
from tests.erp.conftest import COMPANY, USER, make_client, partner


@pytest.fixture
def http(base_url, password):
    session = requests.Session()
    session.post(f"{base_url}/Login", json={"CompanyDB": COMPANY, "UserName": USER, "Password": password})
    return session


def test_the_sandbox_keeps_contact_employees_inside_the_partner_as_the_service_layer_does(sandbox, base_url, http,
                                                                                        clock):
    sandbox.add_business_partners([partner("C001", ContactEmployees=[
        {"FirstName": "Anna", "E_Mail": "anna@acme.example"}, {"FirstName": "Ben", "E_Mail": "ben@acme.example"}])])
    row = http.get(f"{base_url}/BusinessPartners('C001')", params={"$select": "CardCode,ContactEmployees"}).json()
    anna, ben = row["ContactEmployees"]
    assert (anna["InternalCode"], anna["CardCode"], anna["Active"]) == (1, "C001", "tYES")
    assert ben["InternalCode"] == 2 and ben["BlockSendingMarketingContent"] == "tNO"

    clock.advance(minutes=5)
    # A PATCH updates the persons it names by InternalCode and adds those without one.
    http.patch(f"{base_url}/BusinessPartners('C001')", json={"ContactEmployees": [
        {"InternalCode": 2, "E_Mail": "ben@new.example"}, {"FirstName": "Cleo"}]}).raise_for_status()
    persons = sandbox.partners["C001"]["ContactEmployees"]
    assert [(p["InternalCode"], p.get("FirstName"), p.get("E_Mail")) for p in persons] == [
        (1, "Anna", "anna@acme.example"), (2, "Ben", "ben@new.example"), (3, "Cleo", None)]
    assert sandbox.partners["C001"]["UpdateTime"] == "09:05:00"
    # With B1S-ReplaceCollectionsOnPatch the list replaces the old one: that is how a person is deleted.
    http.patch(f"{base_url}/BusinessPartners('C001')", headers={"B1S-ReplaceCollectionsOnPatch": "true"},
               json={"ContactEmployees": [persons[0]]}).raise_for_status()
    assert [p["InternalCode"] for p in sandbox.partners["C001"]["ContactEmployees"]] == [1]
    refused = http.patch(f"{base_url}/BusinessPartners('C001')", json={"ContactEmployees": [{"Nickname": "x"}]})
    assert refused.status_code == 400 and "Nickname" in refused.json()["error"]["message"]["value"]


def test_the_adapter_reads_contact_persons_with_their_company(sandbox, base_url, password, connection):
    sandbox.add_business_partners([partner("C001", ContactEmployees=[
        {"FirstName": "Anna", "LastName": "Archer", "E_Mail": " Anna@Acme.example ", "Active": "tNO",
         "BlockSendingMarketingContent": "tYES", "MobilePhone": "07700 900123"}])])
    source = SapB1Source(connection, client=make_client(base_url, password))
    (batch,) = list(source.read_changes("business_partners", None))
    (person,) = batch.records[0].data["contact_persons"]
    assert person == {"code": 1, "name": "", "first_name": "Anna", "last_name": "Archer", "position": "",
                      "email": "Anna@Acme.example", "email_normalised": "anna@acme.example", "phone1": "",
                      "phone2": "", "mobile": "07700 900123", "active": False, "marketing_blocked": True, "udfs": {}}
    # A person's key reads its company, which carries it (a Retry on the person's exception).
    assert source.read_one("business_partners", "C001#1").key == "C001"


def test_a_contact_person_without_a_code_makes_its_partner_unreadable_with_a_reason():
    record = to_source_record(partner("C001", UpdateDate="2026-11-22", ContactEmployees=[{"InternalCode": "x"}]))
    assert record.data is None and "contact person without a readable code" in record.error


def _page(count: int, persons: int, stamp: str = "09:00:00"):
    return [to_source_record(partner(f"C{n:03}", UpdateDate="2026-11-22", UpdateTime=stamp, ContactEmployees=[
        {"InternalCode": n * 100 + p, "FirstName": f"P{p}", "E_Mail": f"p{p}@c{n}.example"} for p in range(persons)]))
        for n in range(count)]


@pytest.mark.django_db
def test_contact_persons_ingest_set_based_with_their_companies_and_removed_ones_are_flagged():
    connection = ErpConnection.objects.create(name="b1", username="u", password_env="X")
    upsert = INGESTERS["business_partners"]
    with CaptureQueriesContext(db) as small:
        upsert(connection=connection, records=_page(2, 1))
    with CaptureQueriesContext(db) as large:
        upsert(connection=connection, records=_page(40, 5, stamp="09:01:00"))
    assert len(large.captured_queries) == len(small.captured_queries)  # no query per partner or person
    assert ContactPerson.objects.filter(connection=connection).count() == 200

    # C001 read again with one person fewer: that person is flagged, the others unchanged.
    page = _page(2, 5, stamp="09:01:00")
    page[1].data["contact_persons"].pop()
    result = upsert(connection=connection, records=page)
    assert set(result.changed_keys) == {"C001"}  # C000's persons did not change: neither did it
    removed = ContactPerson.objects.filter(connection=connection, removed=True)
    assert [person.key for person in removed] == ["C001#104"]
    assert ContactPerson.objects.filter(connection=connection, removed=False).count() == 199
