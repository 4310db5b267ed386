"""The Ometria adapter: what each entity becomes, and how a 200 becomes accepted or refused."""
from __future__ import annotations

import os
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
             "properties": {"name": "Mug"}},
            {"product_id": "1002", "sku": "1002", "quantity": 1.0, "unit_price": 5.0, "total": 5.0,
             "properties": {"name": "Tea"}}]}


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
    assert "quantity_refunded" not in partial["lineitems"][1]


def test_products_merge_by_sku_and_dispatches_are_contact_events(world):
    destination = world.destination()
    product, _ = destination.record_for("products", PushItem("0001001", "1001", {
        "sku": "1001", "name": "Mug", "price": 10.0, "currency": "GBP", "available": 0, "in_stock": False,
        "active": True}))
    assert product == {"@type": "product", "@merge": True, "id": "1001", "sku": "1001", "title": "Mug",
                       "price": 10.0, "currency": "GBP", "is_in_stock": False, "is_active": True,
                       "properties": {"stock_level": 0.0}}
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


def test_the_overlap_of_two_reads_tells_new_errors_from_old():
    a, b, c, d = (["m", "contact[A]"], ["m", "contact[B]"], ["m", "contact[C]"], ["m", "contact[D]"])
    assert overlap([a, b, c], [b, c, d]) == 2 and overlap([a, b], [c, d]) == 0
    state = LedgerState()
    observe(state, [a, b], now=1.0)
    seen = observe(state, [a, b, c], now=2.0)
    assert seen.new == [c] and not seen.gap
    assert [entry[1] for entry in state.log] == ["A", "B", "C"]


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
