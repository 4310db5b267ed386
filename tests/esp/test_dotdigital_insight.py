"""Insight data (products, orders) through DotdigitalDestination and the sandbox."""

from __future__ import annotations

import pytest

from esp.dotdigital.insight import DEFAULT_CATALOG_COLLECTION
from syncapp.adapters import FieldSpec, PushItem, TransportError

from .dotdigital_support import world

ALL = ("customers", "products", "orders")


def products(*skus: str, **fields: object) -> list[PushItem]:
    return [
        PushItem(key=sku, identifier="", fields={"name": f"Product {sku}", "price": 10.5, **fields})
        for sku in skus
    ]


def insight_calls(w) -> list[tuple[str, str, int]]:
    return [c for c in w.sandbox.call_log if c[1].startswith("/insightData/v3")]


def test_a_catalog_import_creates_the_collection_and_a_reimport_updates_in_place():
    with world() as w:
        dest = w.destination()
        results = dest.push("products", products("SKU-1", "SKU-2", "SKU-3"))
        assert [(r.key, r.outcome) for r in results] == [
            ("SKU-1", "accepted"),
            ("SKU-2", "accepted"),
            ("SKU-3", "accepted"),
        ]
        catalog = w.sandbox.insight_collections[DEFAULT_CATALOG_COLLECTION]
        assert (catalog["scope"], catalog["type"]) == ("account", "catalog")
        assert catalog["records"]["SKU-2"] == {"name": "Product SKU-2", "price": 10.5}
        # One import, then polls until Complete; nothing else.
        calls = insight_calls(w)
        assert calls[0] == ("PUT", "/insightData/v3/import", 202)
        assert {c[:2] for c in calls[1:]} == {("GET", calls[1][1])}
        assert calls[1][1].startswith("/insightData/v3/import/")

        again = dest.push("products", products("SKU-2", price=12))
        assert again[0].outcome == "accepted"
        records = w.sandbox.insight_collections[DEFAULT_CATALOG_COLLECTION]["records"]
        assert len(records) == 3 and records["SKU-2"]["price"] == 12
        found = dest.read_back("products", ["SKU-2", "NOPE"])
        assert list(found) == ["SKU-2"] and found["SKU-2"]["json"]["price"] == 12


def test_the_account_names_the_catalog_collection():
    with world() as w:
        dest = w.destination(attrs={"catalog_collection": "Catalog_web_en"})
        assert dest.push("products", products("A1"))[0].outcome == "accepted"
        assert list(w.sandbox.insight_collections) == ["Catalog_web_en"]


def test_a_type_clash_fails_that_record_alone():
    with world() as w:
        dest = w.destination()
        dest.push("products", products("P1", "P2"))
        batch = [
            PushItem("P1", "", {"name": "Renamed", "price": "ten"}),  # price was a number
            PushItem("P2", "", {"name": "Still fine", "price": 11}),
            PushItem("P3", "", {"name": "New", "price": 3, "tags": ["a"]}),
            PushItem("P4", "", {"name": "New", "price": 4, "tags": "a"}),  # tags: List above
        ]
        by_key = {r.key: r for r in dest.push("products", batch)}
        assert by_key["P1"].outcome == "permanent"
        assert by_key["P1"].reason_code == "JsonValueIncompatibleWithSchema"
        assert "never changes a field's type" in by_key["P1"].message
        assert "'price' of type Numeric" in by_key["P1"].message
        assert by_key["P4"].outcome == "permanent" and "'tags' of type List" in by_key["P4"].message
        assert by_key["P2"].outcome == by_key["P3"].outcome == "accepted"
        records = w.sandbox.insight_collections[DEFAULT_CATALOG_COLLECTION]["records"]
        assert records["P1"]["name"] == "Product P1"  # the refused record left the old one
        assert records["P2"]["name"] == "Still fine" and "P4" not in records


def test_a_bad_collection_name_is_refused_for_the_whole_batch():
    with world() as w:
        dest = w.destination(attrs={"catalog_collection": "9 catalog"})
        results = dest.push("products", products("A", "B"))
        assert {r.outcome for r in results} == {"permanent"}
        assert {r.reason_code for r in results} == {"insightData:badJson"}
        assert "collection name" in results[0].message
        assert w.sandbox.insight_collections == {}
        assert insight_calls(w) == [("PUT", "/insightData/v3/import", 400)]


def test_the_sandbox_refuses_a_sixth_concurrent_import_with_429():
    with world(import_delay_seconds=10_000) as w:
        client = w.client()
        for n in range(5):
            client.import_insight("Catalog_Default", "account", "catalog", [{"key": str(n), "json": {}}])
        with pytest.raises(TransportError) as caught:
            client.import_insight("Catalog_Default", "account", "catalog", [{"key": "6", "json": {}}])
        assert caught.value.status == 429 and caught.value.transient
        assert caught.value.reason_code == "insightData:tooManyActiveImports"
        # A queue limit, not a call-rate limit: the shared throttle was never held back.
        assert w.throttle.deferred == []
        # ...and the adapter hands the engine a transient failure for the whole batch.
        with pytest.raises(TransportError) as pushed:
            w.destination().push("products", products("X"))
        assert pushed.value.transient


def test_the_adapter_waits_out_the_import_cap_when_it_clears():
    with world(import_delay_seconds=10) as w:
        client = w.client()
        for n in range(5):
            client.import_insight("Catalog_Default", "account", "catalog", [{"key": str(n), "json": {}}])
        results = w.destination().push("products", products("X"))
        assert results[0].outcome == "accepted"
        assert ("PUT", "/insightData/v3/import", 429) in insight_calls(w)
        assert "X" in w.sandbox.insight_collections["Catalog_Default"]["records"]


def test_orders_wait_for_the_customer_then_go_through():
    with world() as w:
        dest = w.destination(entities=ALL)
        order = PushItem("SO-1001", "Ann@Example.com", {"orderTotal": 56.0, "currency": "GBP"})
        first = dest.push("orders", [order])[0]
        assert (first.outcome, first.category) == ("transient", "waiting_for_customer")
        assert first.reason_code == "ContactEmailDoesNotExist"
        assert "not yet a dotdigital contact" in first.message
        assert w.sandbox.insight_collections["Orders"]["records"] == {}

        dest.push("customers", [PushItem("C1", "ann@example.com", {"FIRSTNAME": "Ann"})])
        second = dest.push("orders", [order])[0]
        assert second.outcome == "accepted"
        orders = w.sandbox.insight_collections["Orders"]
        assert (orders["scope"], orders["type"]) == ("contact", "orders")
        assert orders["records"]["SO-1001"]["orderTotal"] == 56.0


def test_an_order_without_an_email_is_refused_before_sending():
    with world() as w:
        result = w.destination(entities=ALL).push("orders", [PushItem("SO-1", " ", {})])[0]
        assert (result.outcome, result.reason_code) == ("permanent", "missing_email")
        assert insight_calls(w) == []


def test_a_failed_import_fails_every_record_permanently():
    with world() as w:
        w.sandbox.fail_next_insight_import()
        results = w.destination().push("products", products("A", "B"))
        assert [(r.outcome, r.reason_code) for r in results] == [("permanent", "Failed")] * 2


def test_records_the_report_does_not_account_for_are_retried(monkeypatch):
    with world() as w:
        dest = w.destination()
        real = dest.client.insight_import_status

        def understated(import_id: str) -> dict:
            report = real(import_id)
            if report.get("status") == "Complete":
                report = {**report, "summary": {**report["summary"], "totalImported": 1}}
            return report

        monkeypatch.setattr(dest.client, "insight_import_status", understated)
        results = dest.push("products", products("A", "B"))
        assert {(r.outcome, r.reason_code) for r in results} == {("transient", "not_in_report")}


def test_the_sandbox_reports_progress_then_the_result():
    with world(import_delay_seconds=4) as w:
        client = w.client()
        import_id = client.import_insight("Cat", "account", "catalog", [{"key": "1", "json": {"a": 1}}])
        assert client.insight_import_status(import_id)["status"] == "NotStarted"
        w.clock.sleep(2)
        assert client.insight_import_status(import_id)["status"] == "Processing"
        w.clock.sleep(2)
        report = client.insight_import_status(import_id)
        assert report["status"] == "Complete" and "failures" not in report
        assert report["summary"] == {"totalRecords": 1, "totalImported": 1, "totalRejected": 0}
        with pytest.raises(TransportError) as caught:
            client.insight_import_status("00000000-0000-0000-0000-000000000000")
        assert (caught.value.status, caught.value.reason_code) == (404, "insightData:importNotFound")
        assert client.get_account_record("Cat", "1")["json"] == {"a": 1}
        assert client.get_account_record("Cat", "2") is None
        assert client.get_account_record("Nope", "1") is None


def test_a_name_used_by_another_scope_is_refused():
    with world() as w:
        client = w.client()
        client.import_insight("Orders", "account", "catalog", [{"key": "1", "json": {}}])
        with pytest.raises(TransportError) as caught:
            client.import_insight(
                "Orders",
                "contact",
                "orders",
                [{"key": "1", "json": {}, "contactIdentity": {"identifier": "email", "value": "a@b.co"}}],
            )
        assert caught.value.permanent and caught.value.reason_code == "insightData:badJson"


def test_insight_entities_need_no_fields_and_have_their_own_limits():
    with world() as w:
        dest = w.destination(entities=ALL)
        assert dest.ensure_fields("products", [FieldSpec("name")]) == []
        assert dest.ensure_fields("orders", [FieldSpec("orderTotal", "Numeric")]) == []
        assert w.sandbox.call_log == []
        assert dest.limits_for("products").batch_size == 5_000
        assert dest.limits_for("orders").batch_size == 2_000
        assert dest.limits_for("products").single_call_threshold == 0
        assert dest.limits_for("customers") == dest.limits


def test_an_entity_left_out_of_an_accounts_entities_is_refused():
    with world() as w:
        with pytest.raises(TransportError) as caught:
            w.destination(entities=("customers",)).push("orders", [PushItem("SO-1", "a@example.com", {})])
        assert caught.value.reason_code == "unsupported_entity"
