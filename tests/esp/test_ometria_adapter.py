"""The Ometria adapter: what each entity becomes, and how a 200 becomes accepted or refused."""
from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from esp.models import EspAccount
from esp.ometria.adapter import OmetriaDestination
from esp.ometria.confirm import ErrorLedger, LedgerState, observe, overlap
from esp.ometria.sandbox import build_demo_sandbox
from syncapp.adapters import PushItem, SubmittedItem
from syncapp.sandbox_server import serve_in_thread
from tests.esp.dotdigital_support import FakeClock, RecordingThrottle

os.environ.setdefault("TEST_OMETRIA_API_KEY", "sandbox-ometria-key")
KEY = os.environ["TEST_OMETRIA_API_KEY"]


class World:
    def __init__(self, **sandbox_options):
        self.clock = FakeClock()
        sandbox_options.setdefault("requests_per_second", 1000)
        self.sandbox = build_demo_sandbox(KEY, clock=self.clock, validation_delay=2.0, **sandbox_options)
        self.server = serve_in_thread(self.sandbox)

    def account(self, **options) -> EspAccount:
        return EspAccount(name="om-test", kind="ometria", base_url=self.server.url,
                          password_env="TEST_OMETRIA_API_KEY", options={"validation_grace_seconds": 60, **options})

    def destination(self, **options) -> OmetriaDestination:
        return OmetriaDestination(self.account(**options), RecordingThrottle(), read_throttle=RecordingThrottle(),
                                  clock=self.clock, sleep=self.clock.sleep)

    def submitted(self, items, results):
        """As the engine stores them: receipt and time of each submitted result."""
        at = datetime.fromtimestamp(self.clock.now, UTC)
        return [SubmittedItem(r.key, i.identifier, r.remote_id, at, i.fields)
                for i, r in zip(items, results, strict=True) if r.outcome == "submitted"]


@pytest.fixture
def world(settings):
    settings.REDIS_URL = ""
    ErrorLedger.forget_all()
    world = World()
    yield world
    world.server.stop()


def customer(code="C1", email=None, **fields):
    return PushItem(code, email or f"{code.lower()}@example.com", {"name": "Jane Doe", **fields})


def canonical_order(key="17", state="open", status="complete", products=None, **fields):
    """The planner's vendor-neutral order (syncapp/planning_orders.py)."""
    return PushItem(key, "c1@example.com", {
        "id": "WEB-1", "orderNumber": 1017, "webReference": "WEB-1", "customerId": "C1",
        "purchaseDate": "2026-11-20", "state": state, "orderStatus": status, "currency": "GBP",
        "grandTotal": 30.0, "taxTotal": 5.0, "shippingTotal": 0.0, "discountTotal": 0.0, "orderSubtotal": 25.0,
        "orderTotal": 25.0, "refundedTotal": 0.0, "lastReturnDate": None,
        "products": products or [
            {"lineNum": 0, "sku": "1001", "name": "Mug", "qty": 2.0, "price": 10.0, "lineTotal": 20.0,
             "quantityRefunded": 0.0, "refunded": 0.0},
            {"lineNum": 1, "sku": "1002", "name": "Tea", "qty": 1.0, "price": 5.0, "lineTotal": 5.0,
             "quantityRefunded": 0.0, "refunded": 0.0}], **fields})


# ---------------------------------------------------------------- records


def test_a_customer_becomes_a_contact_keyed_by_cardcode_in_the_collection(world):
    destination = world.destination(collection="erp_customers", contact_id_prefix="b1-")
    record, problem = destination.record_for("customers", customer(
        "C1", marketing_optin="EXPLICITLY_OPTEDIN", loyalty_tier="Gold", date_of_birth="1990-05-01",
        country_id="GB"))
    assert problem is None
    assert record == {"@type": "contact", "@collection": "erp_customers", "@merge": True, "id": "b1-C1",
                      "customer_id": "C1", "email": "c1@example.com", "firstname": "Jane", "lastname": "Doe",
                      "date_of_birth": "1990-05-01", "country_id": "GB", "marketing_optin": "EXPLICITLY_OPTEDIN",
                      "properties": {"loyalty_tier": "Gold"}}
    assert "@" not in record["id"]  # no personal data in ids


def test_consent_is_forced_only_when_the_admin_turned_it_on_and_unknown_consent_is_not_sent(world):
    item = customer(marketing_optin=True)
    plain, _ = world.destination().record_for("customers", item)
    forced, _ = world.destination(force_optin=True).record_for("customers", item)
    assert "@force_optin" not in plain and plain["marketing_optin"] == "EXPLICITLY_OPTEDIN"
    assert forced["@force_optin"] is True
    unknown, _ = world.destination(force_optin=True).record_for("customers", customer(marketing_optin=None))
    assert "marketing_optin" not in unknown and "@force_optin" not in unknown
    _, problem = world.destination().record_for("customers", customer(marketing_optin="maybe"))
    assert problem.permanent and "maybe" in problem.message


def test_an_order_is_sent_whole_with_its_status_validity_totals_customer_and_lines(world):
    record, _ = world.destination().record_for("orders", canonical_order())
    assert record == {
        "@type": "order", "id": "WEB-1", "timestamp": "2026-11-20T00:00:00+00:00", "status": "complete",
        "is_valid": True, "currency": "GBP", "grand_total": 30.0, "subtotal": 25.0, "tax": 5.0, "shipping": 0.0,
        "discount": 0.0, "customer": {"id": "C1", "email": "c1@example.com"}, "web_id": "WEB-1",
        "properties": {"order_number": 1017, "refunded_total": 0.0},
        "lineitems": [
            {"product_id": "1001", "sku": "1001", "quantity": 2.0, "unit_price": 10.0, "total": 20.0,
             "properties": {"name": "Mug"}, "quantity_refunded": 0.0, "refunded": 0.0},
            {"product_id": "1002", "sku": "1002", "quantity": 1.0, "unit_price": 5.0, "total": 5.0,
             "properties": {"name": "Tea"}, "quantity_refunded": 0.0, "refunded": 0.0}]}


def test_cancelled_and_fully_refunded_orders_are_not_valid_and_partial_refunds_sit_on_the_lines(world):
    destination = world.destination()
    cancelled, _ = destination.record_for("orders", canonical_order(state="cancelled", status="cancelled"))
    refunded, _ = destination.record_for("orders", canonical_order(state="refunded", status="refunded"))
    lines = [{"lineNum": 0, "sku": "1001", "qty": 2.0, "price": 10.0, "lineTotal": 20.0, "quantityRefunded": 1.0,
              "refunded": 10.0},
             {"lineNum": 1, "sku": "1002", "qty": 1.0, "price": 5.0, "lineTotal": 5.0, "quantityRefunded": 0.0,
              "refunded": 0.0}]
    partial, _ = destination.record_for("orders", canonical_order(state="partially_refunded",
                                                                  status="partial_refund", products=lines))
    assert (cancelled["status"], cancelled["is_valid"]) == ("cancelled", False)
    assert (refunded["status"], refunded["is_valid"]) == ("refunded", False)
    assert (partial["status"], partial["is_valid"]) == ("partial_refund", True)
    assert (partial["lineitems"][0]["quantity_refunded"], partial["lineitems"][0]["refunded"]) == (1.0, 10.0)
    # A line without a refund says so: a refund reversed in the ERP clears what Ometria was sent.
    assert (partial["lineitems"][1]["quantity_refunded"], partial["lineitems"][1]["refunded"]) == (0.0, 0.0)


def test_products_merge_by_sku_and_dispatches_are_contact_events(world):
    destination = world.destination()
    product, _ = destination.record_for("products", PushItem("0001001", "1001", {
        "sku": "1001", "name": "Mug", "price": 10.0, "currency": "GBP", "available": 0, "in_stock": False,
        "active": True}))
    assert product == {"@type": "product", "@merge": True, "id": "1001", "sku": "1001", "title": "Mug",
                       "price": 10.0, "currency": "GBP", "is_in_stock": False, "is_active": True,
                       "properties": {"stock_level": 0.0}, "attributes": []}
    event, problem = destination.record_for("dispatch_events", PushItem("17:dispatched", "c1@example.com", {
        "event": "dispatched", "orderId": "WEB-1", "date": "2026-11-21", "trackingNumbers": ["T1", "T2"]}))
    assert problem is None and len(event["event_type"]) < 32
    assert event == {"@type": "custom_event", "id": "17:dispatched", "event_type": "order_dispatched",
                     "timestamp": "2026-11-21T00:00:00+00:00", "identity_email": "c1@example.com",
                     "properties": {"order_id": "WEB-1", "tracking_numbers": "T1, T2"}}


# ---------------------------------------------------------------- push


def test_push_answers_submitted_with_the_request_id_in_one_call(world):
    items = [customer(f"C{i}") for i in range(100)]
    results = world.destination().push("customers", items)
    assert {r.outcome for r in results} == {"submitted"} and len({r.remote_id for r in results}) == 1
    assert world.sandbox.calls() == 1 and [r.key for r in results] == [i.key for i in items]


def test_records_refused_locally_do_not_hold_back_the_rest(world):
    huge = customer("C2", notes="x" * (61 * 1024))
    results = world.destination().push("customers", [customer("C1"), huge, customer("C3", marketing_optin="?")])
    assert [r.outcome for r in results] == ["submitted", "permanent", "permanent"]
    assert results[1].reason_code == "record_too_large" and "60 KB" in results[1].message
    assert results[2].reason_code == "invalid_marketing_optin"
    world.clock.sleep(3)
    assert list(world.sandbox.records("contact")) == [("customers", "C1")]


# ---------------------------------------------------------------- confirm


def test_a_record_that_got_200_then_failed_validation_ends_permanent_not_accepted(world):
    destination = world.destination()
    items = [customer("C1"), customer("C2", email="jane@localhost")]
    submitted = world.submitted(items, destination.push("customers", items))
    assert destination.confirm("customers", submitted) == []  # not validated, not old enough
    world.clock.sleep(3)
    refused = destination.confirm("customers", submitted)
    assert [(r.key, r.outcome, r.reason_code, r.category) for r in refused] == [
        ("C2", "permanent", "validation_error", "invalid_email")]
    assert "not a valid value (at email)" in refused[0].message
    world.clock.sleep(60)
    assert [(r.key, r.outcome) for r in destination.confirm("customers", submitted)] == [
        ("C1", "accepted"), ("C2", "permanent")]


def test_an_order_error_reaches_its_order_through_another_flows_read(world):
    destination = world.destination()
    bad = canonical_order("18", id="WEB-2", currency="pounds")
    order_items = [canonical_order("17"), bad]
    orders = world.submitted(order_items, destination.push("orders", order_items))
    customers = world.submitted([customer("C1")], destination.push("customers", [customer("C1")]))
    world.clock.sleep(3)
    destination.confirm("customers", customers)  # this read sees the order's error first
    world.clock.sleep(60)
    decided = {r.key: r for r in destination.confirm("orders", orders)}
    assert decided["17"].outcome == "accepted"
    assert decided["18"].outcome == "permanent" and "currency" in decided["18"].message


def test_more_than_100_errors_between_reads_send_the_unconfirmed_again(world):
    destination = world.destination()
    first = world.submitted([customer("C0")], destination.push("customers", [customer("C0")]))
    destination.confirm("customers", first)  # a read: the ledger knows the list
    good = [customer(f"G{i}") for i in range(3)]
    bad = [customer(f"B{i:03d}", email="bad@localhost") for i in range(150)]
    submitted = []
    for start in range(0, len(bad), 100):
        chunk = bad[start:start + 100]
        submitted += world.submitted(chunk, destination.push("customers", chunk))
    submitted += world.submitted(good, destination.push("customers", good))
    world.clock.sleep(70)
    decided = {r.key: r.outcome for r in destination.confirm("customers", submitted)}
    # The 100 errors still listed are refusals; for everyone else an error may have been lost.
    assert sum(outcome == "permanent" for outcome in decided.values()) == 100
    assert {decided[f"B{i:03d}"] for i in range(50)} == {"transient"}
    assert {decided[f"G{i}"] for i in range(3)} == {"transient"}
    world.clock.sleep(15)  # the engine's backoff
    resent = world.submitted(good, destination.push("customers", good))
    world.clock.sleep(70)
    assert {r.outcome for r in destination.confirm("customers", resent)} == {"accepted"}


def test_a_full_list_on_the_first_read_proves_nothing(world):
    destination = world.destination()
    noise = [customer(f"N{i:03d}", email="n@localhost") for i in range(100)]
    destination.push("customers", noise)
    items = [customer("C1")]
    submitted = world.submitted(items, destination.push("customers", items))
    world.clock.sleep(70)
    ErrorLedger.forget_all()  # a new process without Redis
    assert [r.outcome for r in destination.confirm("customers", submitted)] == ["transient"]


def test_an_error_seen_before_the_record_was_sent_again_is_not_held_against_it(world):
    destination = world.destination()
    items = [customer("C1", email="c1@localhost")]
    first = world.submitted(items, destination.push("customers", items))
    world.clock.sleep(3)
    assert destination.confirm("customers", first)[0].outcome == "permanent"
    world.clock.sleep(120)  # a person fixes the email; it goes again
    fixed = [customer("C1")]
    again = world.submitted(fixed, destination.push("customers", fixed))
    world.clock.sleep(70)
    assert [r.outcome for r in destination.confirm("customers", again)] == ["accepted"]


def test_an_error_path_that_does_not_name_its_record_is_never_taken_for_silence():
    """Ometria documents paths like "root > email": such an error could be anyone's."""
    world = World(error_paths="root")
    try:
        destination = world.destination()
        items = [customer("C1"), customer("C2", email="jane@localhost")]
        submitted = world.submitted(items, destination.push("customers", items))
        world.clock.sleep(70)
        decided = destination.confirm("customers", submitted)
        assert [(r.key, r.outcome, r.reason_code) for r in decided] == [
            ("C1", "transient", "errors_unconfirmed"), ("C2", "transient", "errors_unconfirmed")]
        world.clock.sleep(15)  # the engine's backoff; C1 alone goes again, after the error was read
        again = world.submitted(items[:1], destination.push("customers", items[:1]))
        world.clock.sleep(70)
        assert [r.outcome for r in destination.confirm("customers", again)] == ["accepted"]
    finally:
        world.server.stop()


def test_records_rejected_on_receipt_without_errors_naming_them_are_sent_again(world, monkeypatch):
    destination = world.destination()
    real_push = destination.client.push

    def push_with_one_rejected(records):  # Ometria counts a rejection but lists no error for it
        return replace(real_push(records), rejected=1)

    monkeypatch.setattr(destination.client, "push", push_with_one_rejected)
    items = [customer("C1"), customer("C2")]
    submitted = world.submitted(items, destination.push("customers", items))
    world.clock.sleep(70)
    decided = destination.confirm("customers", submitted)
    assert [(r.key, r.outcome, r.reason_code) for r in decided] == [
        ("C1", "transient", "rejected_unlisted"), ("C2", "transient", "rejected_unlisted")]


def test_a_record_rejected_on_receipt_and_listed_is_refused_and_its_neighbours_accepted(world, monkeypatch):
    destination = world.destination()
    real_push = destination.client.push
    monkeypatch.setattr(destination.client, "push", lambda records: replace(real_push(records), rejected=1))
    items = [customer("C1"), customer("C2", email="jane@localhost")]  # C2's error is listed (2 s later)
    submitted = world.submitted(items, destination.push("customers", items))
    world.clock.sleep(70)
    assert [(r.key, r.outcome) for r in destination.confirm("customers", submitted)] == [
        ("C1", "accepted"), ("C2", "permanent")]


def test_a_long_queue_ometria_has_not_worked_through_is_waited_for():
    world = World(processing_rate=20)  # Ometria validates 20 records a second, in order
    try:
        destination = world.destination(validation_grace_seconds=5, min_processing_rate=20)
        items = [customer(f"G{n:03d}") for n in range(300)] + [customer("BAD", email="bad@localhost")]
        submitted = []
        for start in range(0, len(items), 100):
            chunk = items[start:start + 100]
            submitted += world.submitted(chunk, destination.push("customers", chunk))
        world.clock.sleep(6)  # the grace is over, but 301 records were queued: BAD is validated at 17 s
        assert destination.confirm("customers", submitted) == []
        world.clock.sleep(12)
        decided = {r.key: r.outcome for r in destination.confirm("customers", submitted)}
        assert decided["BAD"] == "permanent" and "G299" not in decided  # queued behind 300: 5 + 300/20 s
        assert {decided[f"G{n:03d}"] for n in range(100)} == {"accepted"}  # their queue was 100: 5 + 5 s
        world.clock.sleep(10)
        decided = {r.key: r.outcome for r in destination.confirm("customers", submitted)}
        assert decided["G299"] == "accepted" and decided["BAD"] == "permanent"
    finally:
        world.server.stop()


def test_the_adapter_says_when_a_calls_records_may_first_be_decided():
    """The engine times its next confirm by this (issue 12): with no push after them to show
    their queue worked through (tests/esp/test_ometria_queue_proof.py), the grace plus the queue
    the call joined, from the call's own answer, as confirm() reckons it, not sooner, not later;
    but a grace from now at the latest, as such a push may come at any moment."""
    world = World(processing_rate=20)
    try:
        destination = world.destination(validation_grace_seconds=5, min_processing_rate=20)
        items = [customer(f"G{n:03d}") for n in range(300)]
        submitted = []
        for start in range(0, len(items), 100):
            chunk = items[start:start + 100]
            submitted += world.submitted(chunk, destination.push("customers", chunk))
        first, last = submitted[0], submitted[-1]
        assert destination.verdict_due_in(first.receipt, first.submitted_at) == pytest.approx(5)
        world.clock.sleep(6)
        assert destination.verdict_due_in(first.receipt, first.submitted_at) == pytest.approx(5 + 100 / 20 - 6)
        assert destination.verdict_due_in(last.receipt, last.submitted_at) == pytest.approx(5)
        world.clock.sleep(10)
        due_last = destination.verdict_due_in(last.receipt, last.submitted_at)
        assert due_last == pytest.approx(5 + 300 / 20 - 16)
        world.clock.sleep(due_last - 0.5)
        decided = {r.key for r in destination.confirm("customers", submitted)}
        assert "G000" in decided and "G299" not in decided
        world.clock.sleep(0.5)
        assert "G299" in {r.key for r in destination.confirm("customers", submitted)}
        # No note: a full queue assumed (2,505 s at the minimum pace), still asked within a grace.
        assert destination.verdict_due_in("unknown-call", first.submitted_at) == pytest.approx(5)
    finally:
        world.server.stop()


def test_push_reads_the_errors_list_as_it_goes_so_one_bad_record_in_ten_never_overflows_it(world):
    read_throttle = RecordingThrottle()
    destination = OmetriaDestination(world.account(), RecordingThrottle(), read_throttle=read_throttle,
                                     clock=world.clock, sleep=world.clock.sleep)
    submitted = []
    for call in range(12):  # 1,200 records, 120 refused: more than the list keeps
        chunk = [customer(f"R{call:02d}{n:02d}", email="bad@localhost" if n % 10 == 0 else None)
                 for n in range(100)]
        submitted += world.submitted(chunk, destination.push("customers", chunk))
        world.clock.sleep(1)
    assert world.sandbox.calls() == 12  # reads cost no push call
    assert world.sandbox.calls("GET", "/v2/push/_errors") == read_throttle.acquired == 3  # baseline + 2
    world.clock.sleep(70)
    decided = {r.key: r.outcome for r in destination.confirm("customers", submitted)}
    assert list(decided.values()).count("permanent") == 120
    assert list(decided.values()).count("accepted") == 1080 and "transient" not in decided.values()


def test_errors_are_matched_by_read_order_not_by_two_workers_clocks(world):
    """The pushing worker's clock runs 30 s ahead of the one that reads: its error still counts."""
    ahead = OmetriaDestination(world.account(), RecordingThrottle(), read_throttle=RecordingThrottle(),
                               clock=lambda: world.clock.now + 30, sleep=world.clock.sleep)
    reader = world.destination()
    items = [customer("C1", email="c1@localhost")]
    submitted = world.submitted(items, ahead.push("customers", items))
    world.clock.sleep(3)  # validated; the reader sees the error "before" the push, by the pusher's clock
    decided = reader.confirm("customers", submitted)
    assert [(r.key, r.outcome, r.reason_code) for r in decided] == [("C1", "permanent", "validation_error")]
    world.clock.sleep(70)
    assert [r.outcome for r in reader.confirm("customers", submitted)] == ["permanent"]  # never accepted


def test_a_list_newest_first_is_read_as_well_as_one_oldest_first():
    world = World(errors_newest_first=True)
    try:
        destination = world.destination()
        noise = [customer(f"N{i:03d}", email="n@localhost") for i in range(99)]
        destination.push("customers", noise)
        world.clock.sleep(3)
        first = world.submitted([customer("X")], destination.push("customers", [customer("X")]))
        destination.confirm("customers", first)  # reads the 99 errors
        items = [customer("C1"), customer("C2", email="c2@localhost"), customer("C3", email="c3@localhost")]
        submitted = world.submitted(items, destination.push("customers", items))
        world.clock.sleep(70)  # the list is full now, two new errors at its head
        decided = {r.key: r.outcome for r in destination.confirm("customers", submitted)}
        assert decided == {"C1": "accepted", "C2": "permanent", "C3": "permanent"}
    finally:
        world.server.stop()


def test_after_the_ledger_is_lost_yesterdays_error_does_not_refuse_the_fixed_record(world):
    destination = world.destination()
    broken = [customer("C1", email="c1@localhost")]
    destination.push("customers", broken)
    world.clock.sleep(120)  # refused; a person fixes the email and it goes again
    fixed = [customer("C1")]
    submitted = world.submitted(fixed, destination.push("customers", fixed))
    ErrorLedger.forget_all()  # the worker restarts (or the ledger expired)
    world.clock.sleep(70)
    decided = destination.confirm("customers", submitted)
    assert [(r.outcome, r.reason_code) for r in decided] == [("transient", "errors_unconfirmed")]
    world.clock.sleep(15)
    again = world.submitted(fixed, destination.push("customers", fixed))
    world.clock.sleep(70)
    assert [r.outcome for r in destination.confirm("customers", again)] == ["accepted"]


def test_the_overlap_of_two_reads_tells_new_errors_from_old():
    a, b, c, d = (["m", "contact[A]"], ["m", "contact[B]"], ["m", "contact[C]"], ["m", "contact[D]"])
    assert overlap([a, b, c], [b, c, d]) == 2 and overlap([a, b], [c, d]) == 0
    state = LedgerState()
    observe(state, [a, b], now=1.0)
    seen = observe(state, [a, b, c], now=2.0)
    assert seen.new == [c] and not seen.gap
    assert [entry[1] for entry in state.log] == ["C"]


def test_the_first_read_is_a_baseline_nothing_in_it_is_new_and_earlier_sends_are_unconfirmed():
    state = LedgerState()
    first = observe(state, [["not a valid value", "contact[A] > email"]], now=1.0)
    assert first.baseline and first.new == [] and first.gap and state.log == []
    assert (state.reads, state.gap_read) == (1, 1)


@pytest.mark.parametrize("newest_first", [False, True])
def test_new_errors_are_found_whichever_end_of_the_list_they_join(newest_first):
    def listed(ids):
        entries = [["m", f"contact[{i}] > email"] for i in ids]
        return entries[::-1] if newest_first else entries

    state = LedgerState()
    observe(state, listed(range(0, 100)), now=1.0)  # a full list
    seen = observe(state, listed(range(5, 105)), now=2.0)  # five new, five pushed out
    assert not seen.gap
    assert sorted(entry[1] for entry in state.log) == sorted(str(i) for i in range(100, 105))
    lost = observe(state, listed(range(300, 400)), now=3.0)  # more than 100 since: nothing shared
    assert lost.gap


def test_an_error_not_tied_to_a_record_is_a_gap_for_everything_sent_before_it():
    state = LedgerState()
    observe(state, [], now=1.0)
    seen = observe(state, [["not a valid value", "root > lastname"]], now=2.0)
    assert seen.gap and state.gap_read == state.reads == 2 and state.log == []


def test_the_log_cap_dropping_an_error_that_may_still_matter_is_a_gap(monkeypatch):
    from esp.ometria import errors_list

    monkeypatch.setattr(errors_list, "LOG_MAX_ENTRIES", 3)
    state = LedgerState()
    observe(state, [], now=1.0)
    assert not observe(state, [["m", "contact[A] > email"], ["m", "contact[B] > email"]], now=2.0).gap
    # Two more: the oldest entry, seen a second ago, goes while a record may still await its verdict.
    seen = observe(state, [["m", f"contact[{x}] > email"] for x in "ABCD"], now=3.0)
    assert seen.gap and len(state.log) == 3
    # Entries dropped long after any verdict could need them cost nothing.
    old = LedgerState()
    observe(old, [], now=1.0)
    observe(old, [["m", "contact[A] > email"], ["m", "contact[B] > email"]], now=2.0)
    later = observe(old, [["m", f"contact[{x}] > email"] for x in "ABCD"], now=2.0 + 4000)
    assert not later.gap and len(old.log) == 3


@pytest.mark.redis
def test_the_confirm_state_is_shared_through_redis(settings, redis_url):
    settings.REDIS_URL = redis_url
    ErrorLedger("om-test").forget()
    world = World()
    try:
        first, second = world.destination(), world.destination()  # two workers
        noise = [customer(f"N{i:03d}", email="n@localhost") for i in range(99)]
        first.confirm("customers", world.submitted([customer("X")], first.push("customers", [customer("X")])))
        first.push("customers", noise)
        items = [customer("C1")]
        submitted = world.submitted(items, second.push("customers", items))
        world.clock.sleep(70)
        first.confirm("customers", submitted)  # the first worker reads the 99 new errors
        # The second worker's read overlaps the first's, so nothing was lost: accepted.
        assert [r.outcome for r in second.confirm("customers", submitted)] == ["accepted"]
    finally:
        world.server.stop()


# ---------------------------------------------------------------- account settings


def test_options_are_checked_by_the_adapter_class():
    assert OmetriaDestination.validate_options({}) == {}
    problems = OmetriaDestination.validate_options({"collection": "", "force_optin": "yes",
                                                    "validation_grace_seconds": 0, "colour": 1})
    assert set(problems) == {"options", "collection", "force_optin", "validation_grace_seconds"}
    assert set(OmetriaDestination.validate_options({"min_processing_rate": 0, "errors_read_every_calls": 0})) == {
        "min_processing_rate", "errors_read_every_calls"}
    # A full queue (50,000) at 10 a second would hold a verdict past the engine's deadline.
    assert "min_processing_rate" in OmetriaDestination.validate_options({"min_processing_rate": 10})
    assert OmetriaDestination.validate_options({"min_processing_rate": 100, "errors_read_every_calls": 2}) == {}


@pytest.mark.django_db
def test_an_account_refuses_options_its_vendor_does_not_take():
    from django.core.exceptions import ValidationError

    account = EspAccount(name="om", kind="ometria", password_env="X", options={"force_optin": "please"})
    with pytest.raises(ValidationError):
        account.full_clean()
    account.options = {"force_optin": True}
    account.full_clean()
    dotdigital = EspAccount(name="dd", kind="dotdigital", api_user="u", password_env="X", options={"a": 1})
    with pytest.raises(ValidationError):
        dotdigital.full_clean()


@pytest.mark.django_db
def test_an_ometria_account_starts_with_ometria_statuses_and_mappings():
    from esp.default_mappings import mappings_install_defaults
    from esp.mapping import mapping_validate
    from esp.models import FieldMapping, OrderStatusMapping
    from esp.order_status import status_map

    account = EspAccount.objects.create(name="om", kind="ometria", password_env="TEST_OMETRIA_API_KEY")
    assert status_map(account)["cancelled"] == "cancelled" and status_map(account)["open"] == "complete"
    assert status_map(account)["pending"] == "pending"  # a provisional web order
    OrderStatusMapping.objects.create(destination=account, erp_status="open", destination_status="pending")
    assert status_map(account)["open"] == "pending"
    assert mappings_install_defaults(destination=account) > 0
    targets = set(FieldMapping.objects.filter(destination=account).values_list("target_field", flat=True))
    assert {"marketing_optin", "name", "date_of_birth", "loyalty_tier"} <= targets
    assert all(not mapping_validate(mapping=m) for m in FieldMapping.objects.filter(destination=account))
    refused = FieldMapping(destination=account, source_field="card_code", target_field="customer_id")
    assert "target_field" in mapping_validate(mapping=refused)


@pytest.mark.django_db
def test_account_options_survive_a_config_export_and_apply():
    from syncapp.config import ConfigError, config_apply, config_export

    EspAccount.objects.create(name="om", kind="ometria", password_env="OM_KEY",
                              options={"collection": "b1", "validation_grace_seconds": 120})
    exported = config_export()
    EspAccount.objects.all().delete()
    config_apply(exported)
    assert EspAccount.objects.get(name="om").options == {"collection": "b1", "validation_grace_seconds": 120}
    exported["destinations"][0]["options"] = {"validation_grace_seconds": -1}
    with pytest.raises(ConfigError):
        config_apply(exported)
