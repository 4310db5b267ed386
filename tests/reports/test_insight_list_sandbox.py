"""dotdigital's insight record list and record delete, as the sandbox serves them and the
reconciliation reads them: paged with `limit` / `marker`, ascending, within the rate
limit, every exchange checked against dotdigital-insight-data-service.json."""
from __future__ import annotations

import json

import jsonschema
import pytest
from openapi_core.validation.request.exceptions import RequestValidationError

from esp.dotdigital.insight import insight_records_list
from syncapp.adapters import PushItem, TransportError
from tests.esp.dotdigital_contract import INSIGHT_FILE, _v3_error_schema, check_exchange
from tests.esp.dotdigital_support import world


def orders_for(w, count: int) -> None:
    dest = w.destination(entities=("customers", "orders"))
    dest.push("customers", [PushItem("C1", "ann@example.com", {"FIRSTNAME": "Ann"})])
    dest.push("orders", [PushItem(f"{n:04d}", "ann@example.com", {"orderTotal": float(n), "currency": "GBP"})
                         for n in range(count)])


def test_the_list_pages_in_ascending_order_and_every_exchange_keeps_to_the_contract():
    with world(import_delay_seconds=0.5) as w:
        orders_for(w, 25)
        records = list(insight_records_list(w.client(), "Orders", page_size=10))
        assert [r["key"] for r in records] == [f"{n:04d}" for n in range(25)]
        assert records[3]["json"]["orderTotal"] == 3.0 and records[0]["ownerContactId"]
        lists = [e for e in w.sandbox.exchanges if e.path == "/insightData/v3/contacts/Orders"]
        assert [e.query.count("marker=") for e in lists] == [0, 1, 1]
        for exchange in lists:
            check_exchange(exchange)


def test_a_page_holds_at_most_1000_records_whatever_the_limit():
    with world(import_delay_seconds=0.5) as w:
        orders_for(w, 1_200)
        client = w.client()
        page = client.request("GET", "/insightData/v3/contacts/Orders", params={"limit": "5000"})
        assert len(page["_items"]) == 1000 and page["_links"]["next"]["marker"]
        rest = client.request("GET", "/insightData/v3/contacts/Orders",
                              params={"limit": "5000", "marker": page["_links"]["next"]["marker"]})
        assert len(rest["_items"]) == 200 and "next" not in rest["_links"]


@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "5001"}, {"limit": "ten"}, {"marker": "%%%"}])
def test_a_bad_limit_or_marker_is_a_documented_400(params):
    with world() as w:
        orders_for(w, 1)
        with pytest.raises(TransportError) as refused:
            w.client().request("GET", "/insightData/v3/contacts/Orders", params=params)
        assert (refused.value.status, refused.value.reason_code) == (400, "insightData:invalidId")
        exchange = w.sandbox.exchanges[-1]
        if "marker" in params:
            check_exchange(exchange)  # a marker is any string: the request keeps to the contract
        else:
            with pytest.raises(RequestValidationError):  # sent against the schema on purpose
                check_exchange(exchange)
            jsonschema.validate(json.loads(exchange.response_body), _v3_error_schema(INSIGHT_FILE))


def test_an_unknown_collection_lists_nothing_and_an_account_list_is_not_a_contact_one():
    with world() as w:
        assert list(insight_records_list(w.client(), "Orders")) == []
        check_exchange(w.sandbox.exchanges[-1])
        orders_for(w, 1)
        assert list(insight_records_list(w.client(), "Orders", scope="account")) == []


def test_a_deleted_record_is_gone_and_a_second_delete_is_404():
    with world(import_delay_seconds=0.5) as w:
        orders_for(w, 3)
        client = w.client()
        client.request("DELETE", "/insightData/v3/contacts/email/ann@example.com/Orders/0001", expect=(204,))
        assert [r["key"] for r in insight_records_list(client, "Orders")] == ["0000", "0002"]
        with pytest.raises(TransportError) as again:
            client.request("DELETE", "/insightData/v3/contacts/email/ann@example.com/Orders/0001", expect=(204,))
        assert again.value.reason_code == "insightData:recordNotFound"
        with pytest.raises(TransportError) as nobody:
            client.request("DELETE", "/insightData/v3/contacts/email/bob@example.com/Orders/0000", expect=(204,))
        assert nobody.value.reason_code == "insightData:contactNotFound"
        for exchange in [e for e in w.sandbox.exchanges if e.method == "DELETE"]:
            check_exchange(exchange)


def test_listing_counts_against_the_rate_limit_and_the_client_waits_for_the_reset():
    with world(import_delay_seconds=0.5) as w:
        orders_for(w, 30)
        w.sandbox.set_calls_per_minute(len(w.sandbox.call_log) + 2)  # two calls left in this minute
        records = list(insight_records_list(w.client(), "Orders", page_size=10))
        assert len(records) == 30  # three pages: the third waited for the next minute
        lists = [e for e in w.sandbox.exchanges if e.path == "/insightData/v3/contacts/Orders"]
        assert lists[1].response_headers["X-RateLimit-Remaining"] == "0" and w.clock.sleeps
        # Another worker's client, which never saw the allowance spent, is refused, waits, reads.
        w.sandbox.set_calls_per_minute(0)
        w.clock.sleeps.clear()
        with pytest.raises(TransportError) as refused:
            list(insight_records_list(w.client(max_rate_limit_waits=0), "Orders"))
        assert refused.value.status == 429 and refused.value.transient
        check_exchange(w.sandbox.exchanges[-1])
