"""The sandbox Service Layer's user fields and $batch, through the hub's own client."""
from __future__ import annotations

import pytest

from erp.sap_b1.batch import Operation
from erp.sap_b1.client import ServiceLayerClient
from erp.sap_b1.sandbox import SapB1Sandbox
from syncapp.adapters import TransportError
from syncapp.sandbox_server import serve_in_thread


@pytest.fixture
def sap():
    sandbox = SapB1Sandbox(users={("DB", "manager"): "secret"})
    sandbox.add_business_partners([{"CardCode": "C1"}, {"CardCode": "C2"}, {"CardCode": "C3"}])
    server = serve_in_thread(sandbox)
    client = ServiceLayerClient(f"{server.url}/b1s/v1", "DB", "manager", "secret", page_size=20, timeout=5,
                                verify_tls=False, max_retries=0)
    yield sandbox, client
    server.stop()


def test_a_user_field_is_created_through_user_fields_md_once(sap):
    sandbox, client = sap
    created = client.post("UserFieldsMD", {"TableName": "OCRD", "Name": "HubOpens30", "Type": "db_Numeric",
                                           "Size": 11, "Description": "Email opens, last 30 days"})
    assert (created["Name"], created["Type"], created["TableName"]) == ("HubOpens30", "db_Numeric", "OCRD")
    listed = client.get("UserFieldsMD", {"$filter": "TableName eq 'OCRD'"})["value"]
    assert "HubOpens30" in [row["Name"] for row in listed]
    assert sandbox.user_field_types()["U_HubOpens30"] == "db_Numeric"  # now a property of BusinessPartner
    client.patch("BusinessPartners('C1')", {"U_HubOpens30": 7})
    with pytest.raises(TransportError) as again:
        client.post("UserFieldsMD", {"TableName": "OCRD", "Name": "HubOpens30", "Type": "db_Numeric"})
    assert (again.value.status, again.value.reason_code) == (400, "sap_b1:-2035")


def test_an_unknown_user_field_or_a_wrong_type_is_refused_in_the_v1_envelope(sap):
    sandbox, client = sap
    sandbox.add_user_field("HubOpens30", "db_Numeric", 11)
    with pytest.raises(TransportError) as unknown:
        client.patch("BusinessPartners('C1')", {"U_NoSuchField": "x"})
    assert unknown.value.response == {"error": {"code": -1000, "message": {
        "lang": "en-us", "value": "Property 'U_NoSuchField' of 'BusinessPartner' is invalid"}}}
    with pytest.raises(TransportError) as wrong:
        client.patch("BusinessPartners('C1')", {"U_HubOpens30": "three"})
    assert wrong.value.permanent and "expected a whole number" in wrong.value.message
    client.patch("BusinessPartners('C1')", {"U_HubOpens30": 3})
    assert sandbox.partners["C1"]["U_HubOpens30"] == 3


def test_a_batch_answers_each_write_and_one_refusal_undoes_no_other(sap):
    sandbox, client = sap
    sandbox.add_user_field("HubOpens30", "db_Numeric", 11)
    answers = client.batch([Operation("PATCH", "BusinessPartners('C1')", {"U_HubOpens30": 1}),
                            Operation("PATCH", "BusinessPartners('C2')", {"U_HubOpens30": "two"}),
                            Operation("PATCH", "BusinessPartners('C9')", {"U_HubOpens30": 3}),
                            Operation("PATCH", "BusinessPartners('C3')", {"U_HubOpens30": 4})])
    assert [answer.status for answer in answers] == [204, 400, 404, 204]
    assert answers[1].body["error"]["code"] == -1000
    assert (sandbox.partners["C1"]["U_HubOpens30"], sandbox.partners["C3"]["U_HubOpens30"]) == (1, 4)
    assert "U_HubOpens30" not in sandbox.partners["C2"]
