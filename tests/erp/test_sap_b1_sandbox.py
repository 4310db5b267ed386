"""The SAP B1 sandbox speaks the Service Layer's shapes and query rules."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import requests
from defusedxml import ElementTree

from erp.sap_b1.sandbox import USER_FIELDS
from erp.sap_b1.sandbox.demo import build_demo_sandbox, bulk_business_partners
from tests.contracts import CONTRACTS
from tests.erp.conftest import COMPANY, USER, partner

METADATA = CONTRACTS / "sap-b1" / "service-layer-v1-metadata.xml"
EDM = "{http://schemas.microsoft.com/ado/2009/11/edm}"


@pytest.fixture(scope="module")
def metadata() -> dict:
    root = ElementTree.parse(METADATA).getroot()
    schema = root.find(f".//{EDM}Schema")

    def properties(tag: str, name: str) -> dict[str, str]:
        node = schema.find(f"{EDM}{tag}[@Name='{name}']")
        return {p.get("Name"): p.get("Type") for p in node.findall(f"{EDM}Property")}

    enums = {
        node.get("Name"): {m.get("Name") for m in node.findall(f"{EDM}Member")}
        for node in schema.findall(f"{EDM}EnumType")
    }
    return {"partner": properties("EntityType", "BusinessPartner"),
            "address": properties("ComplexType", "BPAddress"), "enums": enums}


@pytest.fixture
def http(base_url, password):
    session = requests.Session()
    response = session.post(f"{base_url}/Login",
                            json={"CompanyDB": COMPANY, "UserName": USER, "Password": password})
    assert response.status_code == 200
    return session


def _check_value(name: str, value, edm_type: str, enums: dict) -> None:
    if value is None:
        return
    if edm_type.startswith("SAPB1."):
        assert value in enums[edm_type[6:]], (name, value)
    elif edm_type == "Edm.DateTime":
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", value), (name, value)
    elif edm_type == "Edm.Time":
        assert re.fullmatch(r"\d{2}:\d{2}:\d{2}", value), (name, value)
    elif edm_type == "Edm.Int32":
        assert isinstance(value, int), (name, value)
    elif edm_type == "Edm.String":
        assert isinstance(value, str), (name, value)


def test_partner_shapes_match_the_service_layer_metadata(metadata, clock, password):
    from syncapp.sandbox_server import serve_in_thread

    running = serve_in_thread(build_demo_sandbox(60, password=password, clock=clock))
    try:
        session = requests.Session()
        base = f"{running.url}/b1s/v1"
        session.post(f"{base}/Login",
                     json={"CompanyDB": COMPANY, "UserName": USER, "Password": password})
        rows = session.get(f"{base}/BusinessPartners",
                           headers={"Prefer": "odata.maxpagesize=0"}).json()["value"]
    finally:
        running.stop()
    assert len(rows) == 60
    for row in rows:
        for name, value in row.items():
            edm_type = metadata["partner"].get(name) or USER_FIELDS.get(name)
            assert edm_type, f"{name} is not a BusinessPartner property"
            assert name in metadata["partner"] or name.startswith("U_")
            if name != "BPAddresses":
                _check_value(name, value, edm_type, metadata["enums"])
        for address in row["BPAddresses"]:
            for name, value in address.items():
                assert name in metadata["address"], f"{name} is not a BPAddress property"
                _check_value(name, value, metadata["address"][name], metadata["enums"])


def test_missing_or_expired_session_gets_the_301_envelope(base_url, http, sandbox):
    assert requests.get(f"{base_url}/BusinessPartners").json()["error"]["code"] == 301
    sandbox.expire_sessions()
    response = http.get(f"{base_url}/BusinessPartners")
    assert response.status_code == 401
    assert response.json() == {"error": {"code": 301, "message": {
        "lang": "en-us", "value": "Invalid session or session already timeout."}}}


def test_default_page_is_twenty_with_a_next_link(base_url, http, sandbox):
    sandbox.add_business_partners(partner(f"C{n:02d}") for n in range(25))
    body = http.get(f"{base_url}/BusinessPartners", params={"$select": "CardCode"}).json()
    assert len(body["value"]) == 20
    assert body["odata.nextLink"] == "BusinessPartners?$select=CardCode&$skip=20"
    assert body["value"][0] == {"CardCode": "C00"}


def test_filter_follows_the_service_layer_rules(base_url, http, sandbox, clock):
    sandbox.session_timeout = timedelta(days=1)  # the clock jumps below
    clock.set(10, 31, 50)
    sandbox.add_business_partner(partner("C1", CardName="Alpha"))
    clock.set(11, 0, 0)
    sandbox.add_business_partner(partner("L1", CardType="cLid", CardName="Beta"))
    sandbox.add_business_partner(partner("V1", CardType="cSupplier", EmailAddress=None))

    def codes(expression: str) -> list[str]:
        response = http.get(f"{base_url}/BusinessPartners", params={"$filter": expression})
        assert response.status_code == 200, response.text
        return sorted(row["CardCode"] for row in response.json()["value"])

    assert codes("UpdateTime ge '10:31'") == ["C1", "L1", "V1"]  # seconds are ignored
    assert codes("UpdateTime gt '10:31:49'") == ["L1", "V1"]  # ... so 10:31:50 is not later
    assert codes("UpdateDate eq '2026-11-22T23:59:59'") == ["C1", "L1", "V1"]
    assert codes("UpdateDate gt '20261122'") == []
    assert codes("CardType eq 'L'") == ["L1"]
    assert codes("CardType ne 'cSupplier' and (startswith(CardName,'Al') or CardCode eq 'L1')") \
        == ["C1", "L1"]
    assert codes("EmailAddress eq null") == ["V1"]
    assert codes("not (CardType eq 'cCustomer')") == ["L1", "V1"]
    assert codes("substringof('et', CardName)") == ["L1"]


def test_unknown_filter_syntax_and_properties_are_400_envelopes(base_url, http):
    for expression in ("CardCode ~ 'x'", "Nonsense eq 1", "(CardCode eq 'x'"):
        response = http.get(f"{base_url}/BusinessPartners", params={"$filter": expression})
        assert response.status_code == 400
        assert response.json()["error"]["message"]["lang"] == "en-us"


def test_orderby_top_and_skip(base_url, http, sandbox):
    sandbox.add_business_partners(partner(f"C{n}") for n in range(5))
    body = http.get(f"{base_url}/BusinessPartners", params={
        "$orderby": "CardCode desc", "$top": "2", "$skip": "1", "$select": "CardCode"}).json()
    assert [row["CardCode"] for row in body["value"]] == ["C3", "C2"]


def test_create_read_patch_and_not_found(base_url, http, sandbox, clock):
    created = http.post(f"{base_url}/BusinessPartners",
                        json={"CardCode": "C9", "CardName": "New", "CardType": "L"})
    assert created.status_code == 201 and created.json()["CardType"] == "cLid"
    duplicate = http.post(f"{base_url}/BusinessPartners", json={"CardCode": "C9"})
    assert duplicate.status_code == 400 and duplicate.json()["error"]["code"] == -10

    clock.advance(minutes=5)
    patched = http.patch(f"{base_url}/BusinessPartners('C9')", json={"CardName": "Renamed"})
    assert patched.status_code == 204
    row = http.get(f"{base_url}/BusinessPartners('C9')").json()
    assert (row["CardName"], row["UpdateTime"]) == ("Renamed", "09:05:00")

    assert http.patch(f"{base_url}/BusinessPartners('C9')", json={"Bogus": 1}).status_code == 400
    missing = http.get(f"{base_url}/BusinessPartners('NOPE')")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == -2028


def test_demo_company_holds_the_mess_real_erps_hold(password):
    sandbox = build_demo_sandbox(300, password=password)
    rows = list(sandbox.partners.values())
    emails = [row["EmailAddress"] for row in rows]
    normalised = [e.strip().lower() for e in emails if e]
    assert sum(1 for e in emails if not e) >= 3
    assert {"jane.doe@", "no-at-sign.example.com"} <= set(emails)
    assert len(normalised) - len(set(normalised)) >= 3
    assert any(row["CardType"] == "cLid" for row in rows)
    assert any(row["CardType"] == "cSupplier" for row in rows)
    assert any(row["Frozen"] == "tYES" for row in rows)
    assert {row["Currency"] for row in rows} == {"GBP", "EUR"}
    assert (COMPANY, USER) in sandbox.users


def test_bulk_partners_have_unique_codes():
    # How fast they build is the benchmarks' business (bench/), not a test's.
    partners = bulk_business_partners(20_000, seed=1)
    assert len(partners) == 20_000
    assert len({p["CardCode"] for p in partners}) == 20_000
