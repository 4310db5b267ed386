"""The SAP B1 sandbox serves the five document collections in the Service Layer's shapes."""
from __future__ import annotations

import pytest
import requests

from erp.sap_b1.adapter import SapB1Source
from erp.sap_b1.sandbox.demo import build_demo_sandbox, demo_business_partners, demo_items
from erp.sap_b1.sandbox.demo_documents import (
    SCENARIOS,
    UNKNOWN_ITEM_CODE,
    bulk_orders,
    demo_documents,
)
from erp.sap_b1.sandbox.documents import DOCUMENT_LINE_PROPERTIES, DOCUMENT_PROPERTIES, EXPENSE_PROPERTIES
from tests.erp.conftest import COMPANY, USER
from tests.erp.test_sap_b1_documents import document
from tests.erp.test_sap_b1_items_sandbox import _check, metadata  # noqa: F401 (fixture)

COLLECTIONS = ("Orders", "DeliveryNotes", "Invoices", "CreditNotes", "Returns")


@pytest.fixture
def http(base_url, password):
    session = requests.Session()
    response = session.post(f"{base_url}/Login",
                            json={"CompanyDB": COMPANY, "UserName": USER, "Password": password})
    assert response.status_code == 200
    return session


@pytest.fixture
def doc_metadata(metadata):  # noqa: F811 (the fixture imported above)
    from defusedxml import ElementTree

    from tests.erp.test_sap_b1_items_sandbox import EDM, METADATA

    schema = ElementTree.parse(METADATA).getroot().find(f".//{EDM}Schema")

    def properties(tag: str, name: str) -> dict[str, str]:
        node = schema.find(f"{EDM}{tag}[@Name='{name}']")
        return {p.get("Name"): p.get("Type") for p in node.findall(f"{EDM}Property")}

    sets = {s.get("Name"): s.get("EntityType") for s in schema.iter(f"{EDM}EntitySet")}
    return metadata | {"Document": properties("EntityType", "Document"),
                       "DocumentLine": properties("ComplexType", "DocumentLine"),
                       "DocumentAdditionalExpense": properties("ComplexType", "DocumentAdditionalExpense"),
                       "sets": sets}


def test_document_shapes_match_the_service_layer_metadata(doc_metadata, clock, password):
    from syncapp.sandbox_server import serve_in_thread

    assert set(DOCUMENT_PROPERTIES) <= set(doc_metadata["Document"])
    assert set(DOCUMENT_LINE_PROPERTIES) <= set(doc_metadata["DocumentLine"])
    assert set(EXPENSE_PROPERTIES) <= set(doc_metadata["DocumentAdditionalExpense"])
    running = serve_in_thread(build_demo_sandbox(60, password=password, clock=clock))
    try:
        session = requests.Session()
        base = f"{running.url}/b1s/v1"
        session.post(f"{base}/Login",
                     json={"CompanyDB": COMPANY, "UserName": USER, "Password": password})
        every = {"Prefer": "odata.maxpagesize=0"}
        bodies = {name: session.get(f"{base}/{name}", headers=every).json()["value"]
                  for name in COLLECTIONS}
    finally:
        running.stop()
    for name, rows in bodies.items():
        assert doc_metadata["sets"][name] == "SAPB1.Document" and rows, name
        for row in rows:
            _check("Document", row, doc_metadata)
            for line in row["DocumentLines"]:
                _check("DocumentLine", line, doc_metadata)
            for expense in row["DocumentAdditionalExpenses"]:
                _check("DocumentAdditionalExpense", expense, doc_metadata)
    assert any(row["DocumentAdditionalExpenses"] for rows in bodies.values() for row in rows)  # freight shows
    assert any(row["CancelStatus"] == "csCancellation" for row in bodies["DeliveryNotes"])


def test_document_collection_filter_select_orderby_paging_and_key(base_url, http, sandbox,
                                                                  clock):
    for entry in range(1, 26):
        sandbox.add_document("Orders", document(entry))
    clock.advance(minutes=5)
    sandbox.update_document("orders", 3, Comments="gift wrap")
    params = {"$select": "DocEntry,NumAtCard", "$orderby": "DocEntry desc"}
    body = http.get(f"{base_url}/Orders", params=params).json()
    assert len(body["value"]) == 20 and body["odata.nextLink"].endswith("$skip=20")
    assert body["value"][0] == {"DocEntry": 25, "NumAtCard": "WEB-100258"}

    def entries(expression: str) -> list[int]:
        response = http.get(f"{base_url}/Orders", params={"$filter": expression})
        assert response.status_code == 200, response.text
        return [row["DocEntry"] for row in response.json()["value"]]

    assert entries("UpdateDate eq '2026-11-22' and UpdateTime ge '09:05'") == [3]
    assert entries("NumAtCard eq 'WEB-100240'") == [7]
    assert entries("DocumentStatus eq 'O' and DocEntry le 2") == [1, 2]
    assert entries("DocDate ge '2026-11-21'") == []
    one = http.get(f"{base_url}/Orders(7)").json()
    assert one["DocEntry"] == 7 and one["DocObjectCode"] == "oOrders"
    assert http.get(f"{base_url}/Orders(DocEntry=7)",
                    params={"$select": "DocEntry"}).json()["DocEntry"] == 7
    assert http.get(f"{base_url}/Orders(999)").json()["error"]["code"] == -2028
    assert http.get(f"{base_url}/Invoices").json()["value"] == []
    assert http.delete(f"{base_url}/Orders(7)").json()["error"]["code"] == -5006


def test_patch_cancel_close_and_reopen(base_url, http, sandbox, clock):
    for entry in (1, 2, 3):
        sandbox.add_document("orders", document(entry))
    clock.advance(minutes=10)
    patch = http.patch(f"{base_url}/Orders(1)", json={
        "NumAtCard": "WEB-9", "DocumentLines": [{"LineNum": 0, "Quantity": 1.0}]})
    assert patch.status_code == 204
    order = http.get(f"{base_url}/Orders(1)").json()
    assert (order["UpdateTime"], order["NumAtCard"], order["DocTotal"]) == (
        "09:10:00", "WEB-9", 61.2)
    assert http.patch(f"{base_url}/Orders(1)", json={"DocTotal": 1}).status_code == 400
    assert http.patch(f"{base_url}/Orders(1)", json={"Bogus": 1}).status_code == 400
    replaced = http.patch(f"{base_url}/Orders(1)", headers={
        "B1S-ReplaceCollectionsOnPatch": "true"}, json={"DocumentLines": [{"LineNum": 1}]})
    assert replaced.status_code == 204
    assert [line["LineNum"] for line in sandbox.document("orders", 1)["DocumentLines"]] == [1]

    clock.advance(minutes=10)
    assert http.post(f"{base_url}/Orders(2)/Cancel").status_code == 204
    cancelled = http.get(f"{base_url}/Orders(2)").json()
    assert (cancelled["Cancelled"], cancelled["CancelStatus"], cancelled["DocumentStatus"],
            cancelled["UpdateTime"]) == ("tYES", "csYes", "bost_Close", "09:20:00")
    assert {line["LineStatus"] for line in cancelled["DocumentLines"]} == {"bost_Close"}
    assert http.post(f"{base_url}/Orders(2)/Cancel").status_code == 400
    assert http.post(f"{base_url}/Orders(2)/Reopen").status_code == 400
    assert http.patch(f"{base_url}/Orders(2)", json={"Comments": "x"}).status_code == 400

    assert http.post(f"{base_url}/Orders(3)/Close").status_code == 204
    assert http.get(f"{base_url}/Orders(3)").json()["Cancelled"] == "tNO"
    assert http.post(f"{base_url}/Orders(3)/Reopen").status_code == 204
    assert http.get(f"{base_url}/Orders(3)").json()["DocumentStatus"] == "bost_Open"

    # Once part of an order is delivered, it can no longer be cancelled.
    created = http.post(f"{base_url}/DeliveryNotes", json={
        "CardCode": "C00001", "TrackingNumber": "RM1GB",
        "DocumentLines": [{"ItemCode": "000020001", "Quantity": 1.0, "Price": 39.0,
                           "BaseType": 17, "BaseEntry": 3, "BaseLine": 0}]})
    assert created.status_code == 201 and created.json()["DocEntry"] == 1
    assert http.post(f"{base_url}/Orders(3)/Cancel").status_code == 400
    assert http.post(f"{base_url}/DeliveryNotes(1)/Reopen").status_code == 400
    missing_base = http.post(f"{base_url}/DeliveryNotes", json={
        "CardCode": "C00001", "DocumentLines": [{"ItemCode": "A", "Quantity": 1.0, "Price": 1.0,
                                                 "BaseType": 17, "BaseEntry": 99,
                                                 "BaseLine": 0}]})
    assert missing_base.status_code == 400


def test_cancelling_a_delivery_adds_a_cancellation_document_and_reopens_the_order(base_url, http, sandbox,
                                                                                   clock, connection):
    sandbox.add_document("orders", document(3))
    http.post(f"{base_url}/DeliveryNotes", json={
        "CardCode": "C00001", "DocumentLines": [{"ItemCode": "000020001", "Quantity": 2.0, "Price": 39.0,
                                                 "BaseType": 17, "BaseEntry": 3, "BaseLine": 0}]})
    assert sandbox.document("orders", 3)["DocumentLines"][0]["LineStatus"] == "bost_Close"
    clock.advance(minutes=10)

    answer = http.post(f"{base_url}/DeliveryNotes(1)/CreateCancellationDocument")

    assert answer.status_code == 200
    reversal = answer.json()
    assert (reversal["DocEntry"], reversal["CancelStatus"], reversal["Cancelled"], reversal["DocumentStatus"]) == (
        2, "csCancellation", "tNO", "bost_Close")
    assert reversal["DocTotal"] == http.get(f"{base_url}/DeliveryNotes(1)").json()["DocTotal"] > 0
    (line,) = reversal["DocumentLines"]
    assert (line["BaseType"], line["BaseEntry"], line["BaseLine"], line["Quantity"]) == (15, 1, 0, 2.0)
    original = http.get(f"{base_url}/DeliveryNotes(1)").json()
    assert (original["Cancelled"], original["CancelStatus"], original["DocumentStatus"]) == (
        "tYES", "csYes", "bost_Close")
    order_line = sandbox.document("orders", 3)["DocumentLines"][0]
    assert (order_line["RemainingOpenQuantity"], order_line["LineStatus"]) == (2.0, "bost_Open")
    assert sandbox.document("orders", 3)["UpdateTime"] == "09:10:00"  # the order moved on too
    assert http.post(f"{base_url}/DeliveryNotes(1)/Cancel").json()["error"]["code"] == -5002
    assert http.post(f"{base_url}/DeliveryNotes(2)/Cancel").status_code == 400  # a cancellation is final

    records = {r.key: r.data for b in SapB1Source(connection).read_changes("deliveries", None) for r in b.records}
    assert (records["1"]["cancelled"], records["1"]["is_cancellation"]) == (True, False)
    assert (records["2"]["cancelled"], records["2"]["is_cancellation"]) == (False, True)


def test_an_invoiced_delivery_cannot_be_cancelled(base_url, http, sandbox):
    sandbox.add_document("orders", document(3))
    sandbox.add_document("deliveries", {"CardCode": "C00001", "DocumentLines": [
        {"ItemCode": "000020001", "Quantity": 2.0, "Price": 39.0, "BaseType": 17, "BaseEntry": 3, "BaseLine": 0}]})
    sandbox.add_document("invoices", {"CardCode": "C00001", "DocumentLines": [
        {"ItemCode": "000020001", "Quantity": 2.0, "Price": 39.0, "BaseType": 15, "BaseEntry": 1, "BaseLine": 0}]})
    assert http.post(f"{base_url}/DeliveryNotes(1)/Cancel").status_code == 400
    assert http.post(f"{base_url}/Invoices(1)/Cancel").status_code == 204
    assert sandbox.document("invoices", 2)["CancelStatus"] == "csCancellation"
    assert sandbox.document("deliveries", 1)["DocumentStatus"] == "bost_Open"  # invoicing can be done again


def test_freight_and_a_foreign_currency_add_up_as_sap_adds_them(base_url, http, sandbox, connection):
    created = http.post(f"{base_url}/Orders", json={
        "CardCode": "C00001", "DocCurrency": "EUR", "DocRate": 0.85, "DiscountPercent": 10.0,
        "DocumentLines": [{"ItemCode": "000020001", "Quantity": 2.0, "Price": 50.0}],
        "DocumentAdditionalExpenses": [{"ExpenseCode": 1, "LineTotal": 8.5, "TaxCode": "S"}]}).json()
    # Lines 100.00 EUR less 10 % = 90.00, freight 8.50 GBP = 10.00 EUR, tax 20 % on both = 20.00.
    assert (created["DocTotalFc"], created["VatSumFc"], created["TotalDiscountFC"]) == (120.0, 20.0, 10.0)
    assert (created["DocTotal"], created["VatSum"]) == (102.0, 17.0)
    assert created["DocumentLines"][0]["RowTotalFC"] == 100.0
    assert created["DocumentAdditionalExpenses"][0]["LineTotalFC"] == 10.0
    local = http.post(f"{base_url}/Orders", json={
        "CardCode": "C00001", "DocumentLines": [{"ItemCode": "000020001", "Quantity": 1.0, "Price": 50.0}],
        "DocumentAdditionalExpenses": [{"ExpenseCode": 1, "LineTotal": 5.0}]}).json()
    assert (local["DocTotal"], local["VatSum"], local["DocTotalFc"]) == (66.0, 11.0, 0.0)
    assert http.post(f"{base_url}/Orders", json={
        "CardCode": "C00001", "DocumentLines": [{"ItemCode": "A", "Quantity": 1.0, "Price": 5.0}],
        "DocumentAdditionalExpenses": [{"ExpenseCode": 1, "LineTotal": 5.0, "TaxSumFC": 1.0}]}).status_code == 400

    source = SapB1Source(connection)
    foreign = source.read_one("orders", str(created["DocEntry"]))
    home = source.read_one("orders", str(local["DocEntry"]))
    assert {k: foreign.data[k] for k in ("currency", "foreign_currency", "doc_total", "vat_total", "freight_total",
                                         "discount_total", "doc_total_local", "vat_total_local")} == {
        "currency": "EUR", "foreign_currency": True, "doc_total": 120.0, "vat_total": 20.0, "freight_total": 10.0,
        "discount_total": 10.0, "doc_total_local": 102.0, "vat_total_local": 17.0}
    assert foreign.data["lines"][0]["line_total"] == 100.0
    assert (home.data["currency"], home.data["doc_total"], home.data["freight_total"]) == ("GBP", 66.0, 5.0)


def test_demo_documents_hold_every_flow_the_hub_must_handle(sandbox, connection):
    partners, items = demo_business_partners(300), demo_items(120)
    flows = demo_documents(partners, items)
    for entity in ("orders", "deliveries", "invoices", "credit_notes", "returns"):
        sandbox.add_documents(entity, flows[entity])
    source = SapB1Source(connection)
    read = {entity: [r for b in source.read_changes(entity, None) for r in b.records]
            for entity in flows}
    assert all(r.data for records in read.values() for r in records)
    orders = {r.data["num_at_card"]: r.data for r in read["orders"]}
    assert set(SCENARIOS.values()) <= set(orders) and "" in orders  # a phone order too

    def children(entity, base_type, base_entry):
        return [d.data for d in read[entity] if any(
            (line["base_type"], line["base_entry"]) == (base_type, base_entry)
            for line in d.data["lines"])]

    partial = orders[SCENARIOS["partial_deliveries"]]
    deliveries = children("deliveries", 17, partial["doc_entry"])
    assert len(deliveries) == 2 and all(d["tracking_number"] for d in deliveries)
    assert partial["status"] == "closed"
    delivered = {}
    for delivery in deliveries:
        for line in delivery["lines"]:
            delivered[line["base_line"]] = delivered.get(line["base_line"], 0) + line["quantity"]
    assert delivered == {line["line_num"]: line["quantity"] for line in partial["lines"]}
    assert orders[SCENARIOS["partly_delivered_open"]]["status"] == "open"

    credited = orders[SCENARIOS["credit_memo"]]
    (delivery,) = children("deliveries", 17, credited["doc_entry"])
    (invoice,) = children("invoices", 15, delivery["doc_entry"])
    (credit,) = children("credit_notes", 13, invoice["doc_entry"])
    assert 0 < credit["doc_total"] < invoice["doc_total"]
    returned = orders[SCENARIOS["returned"]]
    (delivery,) = children("deliveries", 17, returned["doc_entry"])
    assert len(children("returns", 15, delivery["doc_entry"])) == 1

    cancelled = orders[SCENARIOS["cancelled"]]
    assert (cancelled["cancelled"], cancelled["status"]) == (True, "closed")
    raw = {r.data["num_at_card"]: r.raw for r in read["orders"]}
    edited = raw[SCENARIOS["edited"]]
    assert edited["UpdateDate"] > edited["CreationDate"]
    emails = {p["CardCode"]: p["EmailAddress"] for p in partners}
    assert emails[orders[SCENARIOS["invalid_email"]]["card_code"]] in (
        "jane.doe@", "no-at-sign.example.com", "tom smith@example.com", " ann..lee@@example.org ")
    item_codes = {i["ItemCode"] for i in items}
    assert UNKNOWN_ITEM_CODE not in item_codes
    assert UNKNOWN_ITEM_CODE in {line["item_code"]
                                 for line in orders[SCENARIOS["unknown_item"]]["lines"]}
    freight = orders[SCENARIOS["freight"]]
    assert freight["freight_total"] == 4.95 and freight["status"] == "closed"
    assert round(sum(x["line_total"] for x in freight["lines"]) + 4.95 + freight["vat_total"], 2) == \
        freight["doc_total"]
    reopened = orders[SCENARIOS["cancelled_delivery"]]
    assert reopened["status"] == "open"
    (original, reversal) = children("deliveries", 17, reopened["doc_entry"]) + [
        d.data for d in read["deliveries"] if d.data["is_cancellation"]]
    assert original["cancelled"] and reversal["lines"][0]["base_entry"] == original["doc_entry"]
    foreign = orders[SCENARIOS["foreign_currency"]]
    assert (foreign["currency"], foreign["foreign_currency"], foreign["freight_total"]) == ("EUR", True, 10.0)
    assert foreign["doc_total_local"] < foreign["doc_total"]
    bad = orders[SCENARIOS["bad_total"]]
    net = sum(line["line_total"] for line in bad["lines"])
    assert round(net + bad["vat_total"], 2) != bad["doc_total"]
    good = orders[SCENARIOS["returned"]]
    assert round(sum(x["line_total"] for x in good["lines"]) + good["vat_total"], 2) == \
        good["doc_total"]
    assert demo_documents(partners, items, now=sandbox.clock()) == demo_documents(
        partners, items, now=sandbox.clock())


def test_bulk_orders_have_the_requested_lines_and_load_into_the_sandbox(sandbox):
    # Sizes only: how fast this runs is the benchmark's business, not a test's.
    partners = [f"CB{n:07d}" for n in range(50)]
    items = [f"{n:09d}" for n in range(1, 21)]
    orders = bulk_orders(1_000, 4, partners=partners, items=items, seed=1)
    sandbox.add_documents("orders", orders)
    assert len(orders) == 1_000 and sum(len(o["DocumentLines"]) for o in orders) == 4_000
    assert len(sandbox.documents["Orders"]) == 1_000
    assert {o["CardCode"] for o in orders} <= set(partners)
