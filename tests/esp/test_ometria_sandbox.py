"""The Ometria sandbox over a real socket: what it answers at once, what it decides later."""
from __future__ import annotations

import pytest
import requests

from esp.ometria.sandbox import build_demo_sandbox
from syncapp.sandbox_server import serve_in_thread
from tests.esp.dotdigital_support import FakeClock

KEY = "sandbox-ometria-key"


class Ometria:
    def __init__(self, **options):
        self.clock = FakeClock()
        options.setdefault("requests_per_second", 1000)
        options.setdefault("reads_per_second", 1000)
        self.sandbox = build_demo_sandbox(KEY, clock=self.clock, validation_delay=2.0, **options)
        self.server = serve_in_thread(self.sandbox)

    def push(self, body, key=KEY, raw=False):
        headers = {"X-Ometria-Auth": key} if key else {}
        if raw:
            return requests.post(f"{self.server.url}/v2/push", data=body, headers=headers, timeout=5)
        return requests.post(f"{self.server.url}/v2/push", json=body, headers=headers, timeout=5)

    def errors(self):
        answer = requests.get(f"{self.server.url}/v2/push/_errors", headers={"X-Ometria-Auth": KEY}, timeout=5)
        assert answer.status_code == 200
        return answer.json()

    def later(self, seconds=3.0):
        self.clock.now += seconds


@pytest.fixture
def om():
    om = Ometria()
    yield om
    om.server.stop()


def contact(cid="C1", **fields):
    return {"@type": "contact", "@collection": "customers", "id": cid, "customer_id": cid,
            "email": f"{cid.lower()}@example.com", **fields}


def order(oid="WEB-1", **fields):
    return {"@type": "order", "id": oid, "timestamp": "2026-11-20T00:00:00+00:00", "grand_total": 24.0,
            "currency": "GBP", "status": "complete", "is_valid": True,
            "customer": {"id": "C1", "email": "c1@example.com"},
            "lineitems": [{"product_id": "1001", "quantity": 2, "unit_price": 10.0, "total": 20.0}], **fields}


# ---------------------------------------------------------------- on receipt


def test_a_push_without_the_right_key_is_forbidden(om):
    for key in ("", "wrong"):
        answer = om.push([contact()], key=key)
        assert answer.status_code == 403
        assert answer.json()["message"] == "API key is not authorised to access this resource"


def test_only_an_array_of_at_most_100_records_of_one_type_is_taken(om):
    assert om.push(contact()).status_code == 400  # an object, not an array
    assert om.push([]).status_code == 400
    assert om.push(b"{not json", raw=True).status_code == 400
    too_many = om.push([contact(f"C{i}") for i in range(101)])
    assert too_many.status_code == 400 and "at most 100" in too_many.json()["message"]
    mixed = om.push([contact(), order()])
    assert mixed.status_code == 400 and "same @type" in mixed.json()["message"]
    assert om.push([contact(f"C{i}") for i in range(100)]).status_code == 200


def test_the_answer_counts_what_was_received_and_names_the_request(om):
    answer = om.push([contact("C1"), contact("C2"), {"@type": "contact", "email": "x@example.com"}])
    body = answer.json()
    assert answer.status_code == 200 and body["status"] == "OK" and body["request_id"]
    assert (body["accepted"], body["rejected"]) == (2, 1)
    assert answer.headers["X-QueueSize-Limit"] == "50000" and answer.headers["X-QueueSize-Remaining"] == "49998"
    assert om.errors() == [{"error_message": "Payload invalid: the record has no id.", "error_path": "contact[] > id"}]


def test_a_record_over_60_kb_is_rejected_with_ometrias_message(om):
    big = contact("C9", properties={"notes": "x" * (61 * 1024)})
    body = om.push([big, contact("C1")]).json()
    assert (body["accepted"], body["rejected"]) == (1, 1)
    assert om.errors() == [{"error_message": "Payload invalid: Record is too large.", "error_path": "contact[C9]"}]


# ---------------------------------------------------------------- after the answer


def test_validation_happens_after_the_200_and_lists_its_errors(om):
    answer = om.push([contact("C1"), contact("C2", email="c2@localhost")])
    assert answer.json()["accepted"] == 2  # received; not yet validated
    assert om.errors() == [] and om.sandbox.queued == 2
    om.later()
    assert om.errors() == [{"error_message": "not a valid value", "error_path": "contact[C2] > email"}]
    stored = om.sandbox.records("contact")
    assert ("customers", "C1") in stored and ("customers", "C2") not in stored


def test_the_errors_list_keeps_the_last_100_oldest_first(om):
    for start in range(0, 130, 10):
        om.push([contact(f"C{i}", email="bad") for i in range(start, start + 10)])
    om.later()
    errors = om.errors()
    assert len(errors) == 100
    assert errors[0]["error_path"] == "contact[C30] > email" and errors[-1]["error_path"] == "contact[C129] > email"


def test_orders_need_their_core_fields_and_sound_lines(om):
    om.push([order("O1", currency="pounds"), order("O2", status="processing"),
             order("O3", lineitems=[{"quantity": 1, "unit_price": 5.0}]),
             order("O4", lineitems=[{"product_id": "1", "quantity": 1, "quantity_refunded": 2}]),
             {k: v for k, v in order("O5").items() if k != "customer"}, order("O6")])
    om.later()
    paths = {e["error_path"] for e in om.errors()}
    assert paths == {"order[O1] > currency", "order[O2] > status", "order[O3] > lineitems > 0 > product_id",
                     "order[O4] > lineitems > 0 > quantity_refunded", "order[O5] > customer"}
    assert list(om.sandbox.records("order")) == ["O6"]


def test_a_custom_event_must_belong_to_a_known_contact_and_its_type_is_cut_at_31(om):
    om.push([contact("C1")])
    om.later()
    event = {"@type": "custom_event", "timestamp": "2026-11-21T10:00:00+00:00", "properties": {"order_id": "W1"}}
    om.push([{**event, "id": "e1", "event_type": "order_dispatched_and_on_its_way_home",
              "identity_email": "C1@example.com"},
             {**event, "id": "e2", "event_type": "order_dispatched", "identity_email": "nobody@example.com"},
             {**event, "id": "e3", "event_type": "order_dispatched"}])
    om.later()
    assert {e["error_path"] for e in om.errors()} == {"custom_event[e2] > identity_email", "custom_event[e3]"}
    assert om.sandbox.records("custom_event")["e1"]["event_type"] == "order_dispatched_and_on_its_way"  # 31 of 36


def test_records_merge_on_id_per_type_and_collection(om):
    om.push([contact("C1", firstname="Jane", properties={"tier": "Gold"})])
    om.push([contact("C1", firstname="Janet")])  # no @merge: the stored record is replaced
    om.push([{**contact("C1"), "@collection": "subscribers", "firstname": "Other"}])
    om.later()
    assert "properties" not in om.sandbox.contact("C1")
    assert om.sandbox.contact("C1", "subscribers")["firstname"] == "Other"
    om.push([{"@type": "contact", "@collection": "customers", "@merge": True, "id": "C1", "lastname": "Doe",
              "firstname": None}])
    om.later()
    stored = om.sandbox.contact("C1")
    assert stored["lastname"] == "Doe" and stored["email"] == "c1@example.com" and "firstname" not in stored
    om.push([{"@type": "product", "id": "1001", "title": "Mug", "url": "https://shop/mug", "is_in_stock": True}])
    om.push([{"@type": "product", "id": "1001", "@merge": True, "is_in_stock": False}])
    om.later()
    assert om.sandbox.records("product")["1001"] == {"id": "1001", "title": "Mug", "url": "https://shop/mug",
                                                      "is_in_stock": False}


def test_an_opt_out_wins_unless_consent_is_forced(om):
    om.push([contact("C1", marketing_optin="EXPLICITLY_OPTEDOUT")])
    om.push([contact("C1", marketing_optin="EXPLICITLY_OPTEDIN")])
    om.later()
    assert om.sandbox.contact("C1")["marketing_optin"] == "EXPLICITLY_OPTEDOUT"
    om.push([contact("C1", marketing_optin="EXPLICITLY_OPTEDIN", **{"@force_optin": True})])
    om.push([contact("C1", marketing_optin="EXPLICITLY_OPTEDOUT")])  # not forced: the forced value stands
    om.later()
    assert om.sandbox.contact("C1")["marketing_optin"] == "EXPLICITLY_OPTEDIN"
    assert om.sandbox.is_forced_optin("C1")


# ---------------------------------------------------------------- limits


def test_pushes_beyond_4_in_any_second_get_429_and_reads_have_their_own_allowance():
    om = Ometria(requests_per_second=4, reads_per_second=4)
    try:
        assert [om.push([contact()]).status_code for _ in range(5)] == [200, 200, 200, 200, 429]
        assert om.errors() == []  # the Data API reads are counted apart
        om.later(0.25)
        assert om.push([contact()]).status_code == 429  # still 4 in the last second
        om.later(0.75)
        assert om.push([contact()]).status_code == 200
        assert om.sandbox.calls(status=429) == 2
    finally:
        om.server.stop()


def test_a_client_that_banked_calls_while_idle_is_refused_past_4_in_one_second():
    """Four at once, then one every 0.25 s: what a bucket with a burst of 4 lets through."""
    om = Ometria(requests_per_second=4)
    try:
        statuses = [om.push([contact()]).status_code for _ in range(4)]
        for _ in range(4):
            om.later(0.25)
            statuses.append(om.push([contact()]).status_code)
        assert statuses == [200, 200, 200, 200, 429, 429, 429, 200]
    finally:
        om.server.stop()


def test_errors_can_be_listed_as_ometria_documents_them_and_newest_first():
    om = Ometria(error_paths="root", errors_newest_first=True)
    try:
        om.push([contact("C1", email="bad"), contact("C2", email="worse", country_id="England")])
        om.later()
        assert om.errors() == [{"error_message": "not a valid value", "error_path": "root > country_id"},
                               {"error_message": "not a valid value", "error_path": "root > email"},
                               {"error_message": "not a valid value", "error_path": "root > email"}]
    finally:
        om.server.stop()


def test_with_a_processing_rate_a_long_queue_is_validated_in_order_and_slowly():
    om = Ometria(processing_rate=100)
    try:
        om.push([contact(f"A{i}") for i in range(100)])
        om.push([contact(f"B{i}") for i in range(99)] + [contact("B99", email="bad")])
        om.later(1.5)
        assert om.sandbox.queued == 200  # the first call is due at 2 s (the validation delay)
        om.later(1.0)
        assert om.sandbox.queued == 100 and om.errors() == []
        om.later(1.0)
        assert om.sandbox.queued == 0 and om.errors()[0]["error_path"] == "contact[B99] > email"
    finally:
        om.server.stop()


def test_a_full_queue_refuses_with_429_and_says_how_much_room_is_left():
    om = Ometria(queue_limit=150)
    try:
        om.sandbox.pause_validation()
        assert om.push([contact(f"C{i}") for i in range(100)]).status_code == 200
        refused = om.push([contact(f"D{i}") for i in range(100)])
        assert refused.status_code == 429
        assert (refused.headers["X-QueueSize-Limit"], refused.headers["X-QueueSize-Remaining"]) == ("150", "50")
        om.sandbox.resume_validation()
        om.later()
        assert om.push([contact(f"D{i}") for i in range(100)]).status_code == 200
    finally:
        om.server.stop()
