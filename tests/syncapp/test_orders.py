"""Orders: updated in place, cancelled, dispatched by deliveries, lowered by credit memos, waiting for customers."""
import pytest
from django.utils import timezone

from exceptions.models import SyncException
from syncapp.adapters import SourceRecord
from syncapp.models import OutboxItem, Priority
from syncapp.services import connection_pull, flow_push
from tests.factories import FlowFactory
from tests.syncapp.fakes import FakeDestination, FakeSource, IdMergingDestination, bp_record

pytestmark = pytest.mark.django_db


def document(entity: str, entry: int, *lines: dict, **header) -> SourceRecord:
    total = sum(line["line_total"] for line in lines)
    data = {"doc_entry": entry, "doc_num": 5000 + entry, "doc_type": entity, "card_code": "C001",
            "num_at_card": f"WEB-{entry}" if entity == "orders" else "", "doc_date": "2026-11-20",
            "doc_due_date": None, "currency": "GBP", "doc_total": total * 1.2, "vat_total": total * 0.2,
            "discount_percent": 0.0, "status": "open", "cancelled": False, "tracking_number": "",
            "source_updated_at": "2026-11-20T10:00:00+00:00", "lines": list(lines)} | header
    return SourceRecord(entity=entity, key=str(entry), version="v", data=data, raw={"DocEntry": entry})


def line(num: int, item: str = "1001", quantity: float = 1, price: float = 20.0, base=None) -> dict:
    base_type, base_entry, base_line = base or (None, None, None)
    return {"line_num": num, "item_code": item, "description": f"Item {item}", "quantity": quantity, "price": price,
            "line_total": quantity * price, "warehouse_code": "01", "line_status": "open",
            "base_type": base_type, "base_entry": base_entry, "base_line": base_line}


@pytest.fixture
def hub():
    return hub_at()


def hub_at(account=None, destination=None):
    """A customer C001 already sent, and an orders flow, at `account` (a dotdigital account by
    default) through `destination` (a FakeDestination by default)."""
    customers = FlowFactory(entity="customers", **({"destination": account} if account else {}))
    from esp.default_mappings import mappings_install_defaults

    mappings_install_defaults(destination=customers.destination)
    orders = FlowFactory(entity="orders", connection=customers.connection, destination=customers.destination)
    destination = destination or FakeDestination()

    class Hub:
        def pull(self, entity, *records):
            return connection_pull(connection=customers.connection, entity=entity,
                                   adapter=FakeSource([list(records)]))

        def push(self):
            for flow in (customers, orders):
                flow_push(flow=flow, adapter=destination)

        def order(self, entry: int) -> dict:
            return destination.records[("orders", str(entry))]

    hub = Hub()
    hub.customers, hub.orders, hub.destination = customers, orders, destination
    hub.pull("business_partners", bp_record("C001", email="jane@example.com"))
    hub.push()
    return hub


def test_an_edit_and_then_a_cancellation_update_the_same_destination_order(hub):
    hub.pull("orders", document("orders", 1, line(0), line(1, "1002")))
    hub.push()
    hub.pull("orders", document("orders", 1, line(0, quantity=3)))
    hub.push()
    assert [p["qty"] for p in hub.order(1)["products"]] == [3.0]
    hub.pull("orders", document("orders", 1, line(0, quantity=3), cancelled=True, status="closed"))
    hub.push()
    assert hub.order(1)["orderStatus"] == "canceled"
    assert [key for entity, key in hub.destination.records if entity == "orders"] == ["1"]


def test_a_partial_delivery_does_not_dispatch_and_the_final_one_does(hub):
    hub.pull("orders", document("orders", 1, line(0, quantity=2), line(1, "1002")))
    hub.push()
    hub.pull("deliveries", document("deliveries", 10, line(0, quantity=1, base=(17, 1, 0))))
    hub.push()
    assert hub.order(1)["orderStatus"] == "processing"  # partially dispatched
    hub.pull("deliveries", document("deliveries", 11, line(0, quantity=1, base=(17, 1, 0)),
                                    line(1, "1002", base=(17, 1, 1))))
    hub.push()
    assert hub.order(1)["orderStatus"] == "complete"


def test_a_credit_memo_lowers_the_orders_value(hub):
    hub.pull("orders", document("orders", 1, line(0, quantity=2, price=50.0)))
    hub.pull("invoices", document("invoices", 20, line(0, quantity=2, price=50.0, base=(17, 1, 0))))
    hub.push()
    assert hub.order(1)["orderTotal"] == 100.0
    hub.pull("credit_notes", document("credit_notes", 30, line(0, quantity=1, price=50.0, base=(13, 20, 0))))
    hub.push()
    assert (hub.order(1)["orderTotal"], hub.order(1)["refundedTotal"]) == (50.0, 50.0)


def test_an_order_waits_for_a_customer_with_an_invalid_email_then_flows_when_fixed(hub):
    hub.pull("business_partners", bp_record("C002", email="broken@"))
    hub.pull("orders", document("orders", 2, line(0), card_code="C002"))
    hub.push()
    assert ("orders", "2") not in hub.destination.records
    assert SyncException.objects.get(record_key="2").reason_code == "waiting_for_customer"
    hub.pull("business_partners", bp_record("C002", email="john@example.com", updated="2026-11-21T10:00:00+00:00"))
    hub.push()  # the customer goes, which releases its order
    hub.push()
    assert hub.order(2)["id"] == "WEB-2"
    assert SyncException.objects.get(record_key="2").status == "resolved"


def test_an_order_waiting_for_its_customer_goes_when_its_release_was_a_deadlocks_victim(hub, monkeypatch):
    """Found by review: releasing what waited for a customer was not written again when
    PostgreSQL chose it as a deadlock's victim, and nothing else would release the order."""
    from django.utils.module_loading import import_string

    from syncapp.entities import flow_entity
    from tests.syncapp.lock_races import deadlock_once

    hub.pull("business_partners", bp_record("C002", email="broken@"))
    hub.pull("orders", document("orders", 2, line(0), card_code="C002"))
    hub.push()
    hub.pull("business_partners", bp_record("C002", email="john@example.com", updated="2026-11-21T10:00:00+00:00"))
    planner, failures = flow_entity("orders").planner, []
    monkeypatch.setattr(planner, deadlock_once(import_string(planner), failures))
    hub.push()  # the customer goes, and its order's release is a deadlock's victim once
    hub.push()
    assert failures == [1] and hub.order(2)["id"] == "WEB-2"


def test_an_order_waiting_for_its_customer_goes_once_the_customer_is_accepted_while_a_change_of_it_waited():
    """Found by review: the customer's send was accepted while a change of it waited for that
    answer, and its waiting orders were not released; they waited for the change's send, and
    for good when the destination refused that."""
    class ChangedWhileSent(FakeDestination):
        hub = None

        def push(self, entity, items):
            results = super().push(entity, items)
            if "C002" in (item.key for item in items) and "C002" not in self.reject:
                self.hub.pull("business_partners", bp_record("C002", email="john@example.com", name="Renamed",
                                                             updated="2026-11-21T10:00:00+00:00"))
                self.reject["C002"] = "invalid_value"  # the change will be refused for good
            return results

    destination = ChangedWhileSent()
    hub = hub_at(destination=destination)
    destination.hub = hub
    hub.pull("business_partners", bp_record("C002", email="john@example.com"))
    hub.pull("orders", document("orders", 2, line(0), card_code="C002"))
    flow_push(flow=hub.orders, adapter=destination)
    assert ("orders", "2") not in destination.records  # it waits for its customer
    flow_push(flow=hub.customers, adapter=destination)  # accepted; the change refused after
    flow_push(flow=hub.orders, adapter=destination)
    assert hub.order(2)["id"] == "WEB-2"


def test_an_order_a_person_retried_is_released_by_its_customer_before_the_retry_runs(hub):
    from django.utils import timezone

    hub.pull("business_partners", bp_record("C002", email="broken@"))
    hub.pull("orders", document("orders", 2, line(0), card_code="C002"))
    SyncException.objects.filter(record_key="2").update(status="retrying", retry_requested_at=timezone.now())
    hub.pull("business_partners", bp_record("C002", email="john@example.com", updated="2026-11-21T10:00:00+00:00"))
    hub.push()
    hub.push()
    assert hub.order(2)["id"] == "WEB-2"


def test_order_lines_carry_the_sku_the_shop_uses(hub):
    hub.pull("orders", document("orders", 1, line(0, item="000012345")))
    hub.push()
    assert hub.order(1)["products"][0]["sku"] == "12345"


@pytest.mark.parametrize("change,reason", [
    ({"card_code": "C999"}, "unknown_customer"),
    ({"doc_total": 999.0}, "total_mismatch"),
])
def test_an_order_that_cannot_be_trusted_is_an_exception_for_finance(hub, change, reason):
    hub.pull("orders", document("orders", 1, line(0), **change))
    hub.push()
    exception = SyncException.objects.get(record_key="1")
    assert (exception.reason_code, exception.owner_team) == (reason, "finance")
    assert ("orders", "1") not in hub.destination.records


def test_new_orders_go_before_routine_edits(hub):
    hub.pull("orders", document("orders", 1, line(0)))
    hub.push()
    hub.pull("orders", document("orders", 1, line(0, quantity=2)), document("orders", 2, line(0)))
    priorities = dict(OutboxItem.objects.filter(flow=hub.orders, status="pending")
                      .values_list("record_key", "priority"))
    assert priorities == {"1": Priority.ROUTINE, "2": Priority.URGENT}


def test_a_dispatch_or_a_cancellation_goes_before_routine_edits_and_an_edit_of_a_dispatched_order_does_not(hub):
    """Issue 12: a change of state is time-sensitive wherever the destination reads it from the
    order (Ometria's dispatch email): it is claimed ahead of routine edits and a backfill."""
    hub.pull("orders", document("orders", 1, line(0)), document("orders", 2, line(0)), document("orders", 3, line(0)))
    hub.push()
    hub.pull("deliveries", document("deliveries", 10, line(0, base=(17, 1, 0))))
    hub.pull("orders", document("orders", 2, line(0), cancelled=True, status="closed"),
             document("orders", 3, line(0, quantity=2)))
    priorities = dict(OutboxItem.objects.filter(flow=hub.orders, status="pending")
                      .values_list("record_key", "priority"))
    assert priorities == {"1": Priority.URGENT, "2": Priority.URGENT, "3": Priority.ROUTINE}
    hub.push()
    hub.pull("orders", document("orders", 1, line(0, price=25.0)))  # a price corrected, dispatched still: routine
    assert OutboxItem.objects.get(flow=hub.orders, record_key="1", status="pending").priority == Priority.ROUTINE


def test_a_new_customer_goes_before_routine_contact_edits(hub):
    """Issue 12: a new contact is time-sensitive (its welcome, and its first order waits for it)."""
    hub.pull("business_partners", bp_record("C001", email="jane@example.com", name="Jane Renamed"),
             bp_record("C002", email="new@example.com"))
    priorities = dict(OutboxItem.objects.filter(flow=hub.customers, status="pending")
                      .values_list("record_key", "priority"))
    assert priorities == {"C001": Priority.ROUTINE, "C002": Priority.URGENT}


def test_a_first_purchase_updates_the_customers_figures_so_the_welcome_segment_stops(hub):
    contact = hub.destination.contacts["jane@example.com"]
    assert contact["ORDERCOUNT"] == 0 and contact["FIRSTORDERDATE"] is None
    hub.pull("orders", document("orders", 1, line(0, quantity=2, price=30.0)))
    hub.push()
    contact = hub.destination.contacts["jane@example.com"]
    assert (contact["ORDERCOUNT"], contact["FIRSTORDERDATE"], contact["LIFETIMEVALUE"]) == (1, "2026-11-20", 60.0)


def test_a_credit_memo_lowers_the_customers_lifetime_value(hub):
    hub.pull("orders", document("orders", 1, line(0, quantity=2, price=50.0)))
    hub.push()
    hub.pull("credit_notes", document("credit_notes", 30, line(0, quantity=1, price=50.0, base=(13, 20, 0))))
    hub.push()
    contact = hub.destination.contacts["jane@example.com"]
    assert (contact["LIFETIMEVALUE"], contact["AVGORDERVALUE"]) == (50.0, 50.0)


def test_a_backfill_queues_history_below_todays_orders(hub, monkeypatch, capsys):
    from django.core.management import call_command

    history = [document("orders", n, line(0), doc_date=f"2026-0{1 + n % 9}-01") for n in range(1, 31)]
    monkeypatch.setattr("syncapp.services.source_adapter_for",
                        lambda connection: FakeSource([history], entity="orders"))
    call_command("backfill", "--entity", "orders", "--since", "2026-03-01", "--no-progress")
    assert "queued at backfill priority" in capsys.readouterr().out
    hub.pull("orders", document("orders", 99, line(0)))  # today's order, after the backfill started
    from syncapp.outbox import outbox_claim

    assert [row.record_key for row in outbox_claim(flow=hub.orders, limit=1)] == ["99"]
    assert set(OutboxItem.objects.filter(flow=hub.orders, status="pending").values_list("priority", flat=True)) \
        == {Priority.BACKFILL}


def test_an_order_a_backfill_read_first_comes_forward_when_the_scheduled_read_finds_it(hub):
    """Issue 12: a backfill reads today's orders too. In a peak run it read new orders before the
    scheduled read did; that read then found them unchanged, planned nothing, and they waited at
    backfill priority for up to ten minutes. What a scheduled read finds again is no history: a new
    order goes as new orders do, an edit of one the destination has as a routine edit."""
    def pending() -> dict:
        return dict(OutboxItem.objects.filter(flow=hub.orders, status="pending").values_list("record_key", "priority"))

    def backfill(*records):
        connection_pull(connection=hub.customers.connection, entity="orders", adapter=FakeSource([list(records)]),
                        full=True, priority=Priority.BACKFILL)

    hub.pull("orders", document("orders", 98, line(0)))
    hub.push()  # the destination has order 98
    history, new, edited = (document("orders", 50, line(0), doc_date="2026-01-01"), document("orders", 99, line(0)),
                            document("orders", 98, line(0, quantity=2)))
    backfill(history, new, edited)
    assert pending() == {"50": Priority.BACKFILL, "99": Priority.BACKFILL, "98": Priority.BACKFILL}

    hub.pull("orders", new, edited)  # the scheduled read: the same content, nothing changed in the mirror
    assert pending() == {"50": Priority.BACKFILL, "99": Priority.URGENT, "98": Priority.ROUTINE}


@pytest.fixture
def dispatch_flow(hub):
    return FlowFactory(entity="dispatch_events", connection=hub.customers.connection,
                       destination=hub.customers.destination)


def signals(hub):
    return sorted(key.split(":", 1)[1] for entity, key in hub.destination.records if entity == "dispatch_events")


def test_a_partial_delivery_does_not_signal_dispatch_and_the_final_one_does_once(hub, dispatch_flow):
    def push_all():
        hub.push()
        flow_push(flow=dispatch_flow, adapter=hub.destination)

    hub.pull("orders", document("orders", 1, line(0, quantity=2), line(1, "1002")))
    hub.pull("deliveries", document("deliveries", 10, line(0, quantity=1, base=(17, 1, 0))))
    push_all()
    assert signals(hub) == []
    hub.pull("deliveries", document("deliveries", 11, line(0, quantity=1, base=(17, 1, 0)),
                                    line(1, "1002", base=(17, 1, 1)), tracking_number="TRK-2"))
    push_all()
    hub.pull("deliveries", document("deliveries", 11, line(0, quantity=1, base=(17, 1, 0)),
                                    line(1, "1002", base=(17, 1, 1)), tracking_number="TRK-2B"))  # an edit
    push_all()
    assert signals(hub) == ["dispatched"]
    assert hub.destination.pushed_keys.count("1:dispatched") == 1  # the later edit sent nothing again


def test_dispatch_signals_are_planned_from_plain_rows_not_a_model_instance_per_order_and_line(hub, dispatch_flow):
    """A peak's deliveries page plans hundreds of orders: their model instances and related
    managers cost more than the plan itself (0.5 s of a 0.7 s plan for 900 orders, traced in
    the twentieth session), and every second of it delays the page's dispatch signals."""
    from django.db.models.signals import post_init

    from erp.documents import SalesOrder, SalesOrderLine
    from syncapp.planning_dispatch import dispatch_events_plan

    hub.pull("orders", document("orders", 1, line(0, quantity=2), line(1, "1002")))
    hub.pull("deliveries", document("deliveries", 10, line(0, quantity=2, base=(17, 1, 0)),
                                    line(1, "1002", base=(17, 1, 1)), tracking_number="TRK-1"))
    made = []

    def counted(sender, **kwargs):
        made.append(sender.__name__)

    for model in (SalesOrder, SalesOrderLine):
        post_init.connect(counted, sender=model, weak=False)
    try:
        planned = dispatch_events_plan(flow=dispatch_flow, record_keys=["1"], force=True)
    finally:
        for model in (SalesOrder, SalesOrderLine):
            post_init.disconnect(counted, sender=model)
    assert planned.queued == ["1:dispatched"]
    assert made == []
    flow_push(flow=dispatch_flow, adapter=hub.destination)
    signal = hub.destination.records[("dispatch_events", "1:dispatched")]
    assert (signal["event"], signal["trackingNumbers"]) == ("dispatched", ["TRK-1"])


def test_the_flows_of_a_deliveries_page_share_one_read_of_its_orders_deliveries_and_refunds(hub, dispatch_flow,
                                                                                           monkeypatch):
    """Every flow a deliveries page touches (here an orders flow at each of two destinations
    and the dispatch signals) asked the mirror the same questions again; now each is asked
    once per page, and every flow still plans what it planned before."""
    from erp import document_links, document_rows
    from syncapp import planning_dispatch, planning_orders

    FlowFactory(entity="orders", connection=hub.customers.connection)  # a second destination's orders flow
    hub.pull("orders", document("orders", 1, line(0, quantity=2)), document("orders", 2, line(0)))
    asked = []

    def counted(read):
        def counting(**arguments):
            asked.append(read.__name__)
            return read(**arguments)
        return counting

    for name, module in (("sales_orders_with_lines", document_rows), ("delivered_quantities", document_links),
                         ("order_refunds", document_links), ("shipments_of", document_links)):
        wrapper = counted(getattr(module, name))  # one object wherever it was imported, as the planners see it
        for planner in (planning_orders, planning_dispatch):
            if hasattr(planner, name):
                monkeypatch.setattr(planner, name, wrapper)
    hub.pull("deliveries", document("deliveries", 10, line(0, quantity=2, base=(17, 1, 0)), tracking_number="T1"),
             document("deliveries", 11, line(0, base=(17, 2, 0)), tracking_number="T2"))
    assert sorted(asked) == ["delivered_quantities", "order_refunds", "sales_orders_with_lines", "shipments_of"]
    hub.push()
    flow_push(flow=dispatch_flow, adapter=hub.destination)
    assert signals(hub) == ["dispatched", "dispatched"]
    assert hub.order(1)["state"] == hub.order(2)["state"] == "dispatched"


def test_a_flow_can_signal_every_shipment_instead(hub, dispatch_flow):
    dispatch_flow.dispatch_per_shipment = True
    dispatch_flow.save()
    hub.pull("orders", document("orders", 1, line(0, quantity=2)))
    hub.pull("deliveries", document("deliveries", 10, line(0, quantity=1, base=(17, 1, 0))))
    hub.pull("deliveries", document("deliveries", 11, line(0, quantity=1, base=(17, 1, 0))))
    hub.push()
    flow_push(flow=dispatch_flow, adapter=hub.destination)
    assert signals(hub) == ["shipment:10", "shipment:11"]


def test_a_credit_memo_on_a_return_lowers_the_order_three_links_away(hub):
    hub.pull("orders", document("orders", 1, line(0, quantity=2, price=50.0)))
    hub.pull("deliveries", document("deliveries", 10, line(0, quantity=2, price=50.0, base=(17, 1, 0))))
    hub.pull("returns", document("returns", 40, line(0, quantity=1, price=50.0, base=(15, 10, 0))))
    hub.pull("credit_notes", document("credit_notes", 30, line(0, quantity=1, price=50.0, base=(16, 40, 0))))
    hub.push()
    assert (hub.order(1)["orderTotal"], hub.order(1)["lastReturnDate"]) == (50.0, "2026-11-20")


def test_a_credit_memo_on_an_invoice_of_a_delivery_lowers_the_order(hub):
    hub.pull("orders", document("orders", 1, line(0, quantity=2, price=50.0)))
    hub.push()
    hub.pull("deliveries", document("deliveries", 10, line(0, quantity=2, price=50.0, base=(17, 1, 0))))
    hub.pull("invoices", document("invoices", 20, line(0, quantity=2, price=50.0, base=(15, 10, 0))))
    hub.pull("credit_notes", document("credit_notes", 30, line(0, quantity=1, price=50.0, base=(13, 20, 0))))
    hub.push()
    assert hub.order(1)["refundedTotal"] == 50.0


def test_a_signal_refused_for_a_missing_contact_waits_and_goes_once_the_customer_is_sent_again(hub, dispatch_flow):
    hub.pull("orders", document("orders", 1, line(0)))
    hub.pull("deliveries", document("deliveries", 10, line(0, base=(17, 1, 0))))
    hub.push()
    del hub.destination.contacts["jane@example.com"]  # deleted at the destination meanwhile
    flow_push(flow=dispatch_flow, adapter=hub.destination)
    assert SyncException.objects.get(flow=dispatch_flow).reason_code == "waiting_for_customer"
    hub.pull("business_partners", bp_record("C001", email="jane@example.com", name="Jane Renamed",
                                            updated="2026-11-22T10:00:00+00:00"))
    hub.push()  # the customer goes again, which releases the signal
    flow_push(flow=dispatch_flow, adapter=hub.destination)
    assert signals(hub) == ["dispatched"]
    assert SyncException.objects.get(flow=dispatch_flow).status == "resolved"


def test_retrying_a_partner_read_error_leaves_the_orders_flow_alone(hub, monkeypatch):
    from exceptions.services import exceptions_retry

    broken = SourceRecord(entity="business_partners", key="C003", version="", data=None, raw={"CardCode": "C003"},
                          error="unknown card type")
    hub.pull("business_partners", broken)
    fixed = FakeSource([[bp_record("C003", email="c3@example.com")]], entity="business_partners")
    monkeypatch.setattr("syncapp.services.source_adapter_for", lambda connection: fixed)
    exceptions_retry(exceptions=SyncException.objects.filter(record_key="C003"))
    assert SyncException.objects.get(record_key="C003").status == "resolved"
    assert OutboxItem.objects.filter(flow=hub.customers, record_key="C003", status="pending").exists()


def test_retrying_a_waiting_dispatch_signal_replans_its_order(hub, dispatch_flow, monkeypatch):
    from exceptions.services import exceptions_retry

    hub.pull("orders", document("orders", 1, line(0)))
    hub.pull("deliveries", document("deliveries", 10, line(0, base=(17, 1, 0))))
    hub.push()
    del hub.destination.contacts["jane@example.com"]
    flow_push(flow=dispatch_flow, adapter=hub.destination)
    monkeypatch.setattr("syncapp.services.source_adapter_for",
                        lambda connection: FakeSource([[document("orders", 1, line(0))]], entity="orders"))
    exceptions_retry(exceptions=SyncException.objects.filter(flow=dispatch_flow))  # key "1:dispatched"
    assert OutboxItem.objects.get(flow=dispatch_flow, record_key="1:dispatched").status == "pending"


def test_an_order_with_freight_adds_up_and_carries_its_shipping(hub):
    # Lines 40.00, freight 5.00, tax 20 % on both: SAP's DocTotal is 54.00.
    hub.pull("orders", document("orders", 1, line(0, quantity=2), freight_total=5.0, vat_total=9.0, doc_total=54.0))
    hub.push()
    assert not SyncException.objects.filter(record_key="1").exists()
    order = hub.order(1)
    assert (order["grandTotal"], order["shippingTotal"], order["taxTotal"], order["orderSubtotal"]) == (
        54.0, 5.0, 9.0, 40.0)


def test_a_header_discount_and_rounding_are_part_of_the_total_check(hub):
    hub.pull("orders", document("orders", 1, line(0, quantity=5), discount_percent=10.0, discount_total=10.0,
                                vat_total=18.0, rounding_total=0.02, doc_total=108.02))
    hub.pull("orders", document("orders", 2, line(0, quantity=5), discount_percent=10.0, vat_total=18.0,
                                doc_total=120.0))
    hub.push()
    assert hub.order(1)["discountTotal"] == 10.0
    assert SyncException.objects.get(record_key="2").reason_code == "total_mismatch"


def test_a_foreign_currency_order_is_sent_in_its_own_currency(hub):
    hub.pull("orders", document("orders", 1, line(0, quantity=2, price=50.0), currency="EUR", doc_total=120.0,
                                vat_total=20.0, doc_total_local=102.0, vat_total_local=17.0))
    hub.push()
    order = hub.order(1)
    assert (order["currency"], order["grandTotal"], order["orderTotal"]) == ("EUR", 120.0, 100.0)
    # The customer's lifetime value is summed in the company's own currency.
    assert hub.destination.contacts["jane@example.com"]["LIFETIMEVALUE"] == 85.0


def test_the_planned_order_carries_the_vendor_neutral_fields(hub):
    hub.pull("orders", document("orders", 1, line(0, quantity=2, price=50.0), line(1, "1002", price=10.0)))
    hub.pull("deliveries", document("deliveries", 10, line(0, quantity=2, price=50.0, base=(17, 1, 0)),
                                    line(1, "1002", price=10.0, base=(17, 1, 1))))
    hub.pull("returns", document("returns", 40, line(0, quantity=1, price=50.0, base=(15, 10, 0))))
    hub.pull("credit_notes", document("credit_notes", 30, line(0, quantity=1, price=50.0, base=(16, 40, 0))))
    hub.pull("invoices", document("invoices", 20, line(0, "1002", price=10.0, base=(15, 10, 1))))
    hub.pull("credit_notes", document("credit_notes", 31, line(0, "1002", price=10.0, base=(13, 20, 0))))
    hub.push()
    order = hub.order(1)
    assert {k: order[k] for k in ("state", "customerId", "webReference", "grandTotal", "taxTotal",
                                  "shippingTotal", "discountTotal", "refundedTotal", "orderTotal")} == {
        "state": "partially_refunded", "customerId": "C001", "webReference": "WEB-1", "grandTotal": 132.0,
        "taxTotal": 22.0, "shippingTotal": 0.0, "discountTotal": 0.0, "refundedTotal": 60.0, "orderTotal": 50.0}
    first, second = order["products"]
    assert (first["lineNum"], first["lineTotal"], first["quantityRefunded"], first["refunded"]) == (0, 100.0, 1.0, 50.0)
    assert (second["lineNum"], second["quantityRefunded"], second["refunded"]) == (1, 1.0, 10.0)


def test_an_order_without_a_web_reference_has_none(hub):
    hub.pull("orders", document("orders", 1, line(0), num_at_card=""))
    hub.push()
    assert (hub.order(1)["webReference"], hub.order(1)["id"]) == (None, "5001")


def test_a_cancelled_delivery_and_its_cancellation_document_are_never_counted(hub, dispatch_flow):
    hub.pull("orders", document("orders", 1, line(0, quantity=2)))
    hub.pull("deliveries", document("deliveries", 10, line(0, quantity=2, base=(17, 1, 0)), doc_date="2026-11-21"))
    hub.push()
    assert hub.order(1)["state"] == "dispatched"
    # SAP cancels the delivery: the original is flagged, a cancellation document reverses it.
    hub.pull("deliveries",
             document("deliveries", 10, line(0, quantity=2, base=(17, 1, 0)), doc_date="2026-11-21", cancelled=True,
                      status="closed"),
             document("deliveries", 11, line(0, quantity=2, base=(15, 10, 0)), doc_date="2026-11-22",
                      is_cancellation=True, status="closed"))
    hub.push()
    flow_push(flow=dispatch_flow, adapter=hub.destination)
    assert hub.order(1)["state"] == "open"
    assert signals(hub) == []
    assert hub.destination.contacts["jane@example.com"]["LASTDISPATCHDATE"] is None


def test_a_cancelled_credit_memo_no_longer_lowers_anything(hub):
    hub.pull("orders", document("orders", 1, line(0, quantity=2, price=50.0)))
    hub.pull("invoices", document("invoices", 20, line(0, quantity=2, price=50.0, base=(17, 1, 0))))
    hub.pull("credit_notes", document("credit_notes", 30, line(0, quantity=1, price=50.0, base=(13, 20, 0))))
    hub.push()
    assert hub.destination.contacts["jane@example.com"]["LIFETIMEVALUE"] == 50.0
    hub.pull("credit_notes",
             document("credit_notes", 30, line(0, quantity=1, price=50.0, base=(13, 20, 0)), cancelled=True),
             document("credit_notes", 31, line(0, quantity=1, price=50.0, base=(14, 30, 0)), is_cancellation=True))
    hub.push()
    assert (hub.order(1)["orderTotal"], hub.order(1)["refundedTotal"]) == (100.0, 0.0)
    assert hub.destination.contacts["jane@example.com"]["LIFETIMEVALUE"] == 100.0


def test_a_cancellation_document_among_orders_is_never_sent_as_an_order(hub):
    hub.pull("orders", document("orders", 1, line(0)), document("orders", 2, line(0, base=(17, 1, 0)),
                                                                 is_cancellation=True))
    hub.push()
    assert [key for entity, key in hub.destination.records if entity == "orders"] == ["1"]
    assert hub.destination.contacts["jane@example.com"]["ORDERCOUNT"] == 1


def test_a_line_returned_and_credited_on_its_invoice_is_never_refunded_beyond_itself(hub):
    hub.pull("orders", document("orders", 1, line(0, quantity=2, price=50.0), line(1, "1002", price=10.0)))
    hub.pull("invoices", document("invoices", 20, line(0, quantity=2, price=50.0, base=(17, 1, 0)),
                                  line(1, "1002", price=10.0, base=(17, 1, 1))))
    hub.pull("returns", document("returns", 40, line(0, quantity=2, price=50.0, base=(13, 20, 0))))
    hub.pull("credit_notes", document("credit_notes", 30, line(0, quantity=2, price=50.0, base=(13, 20, 0)),
                                      line(1, "1002", price=10.0, base=(13, 20, 1))))
    hub.pull("credit_notes", document("credit_notes", 31, line(0, "1002", price=10.0, base=(13, 20, 1))))
    hub.push()
    first, second = hub.order(1)["products"]
    # The return and the credit memo both reach line 0 (2 + 2), the two memos line 1 (10 + 10).
    assert (first["qty"], first["quantityRefunded"], first["refunded"]) == (2.0, 2.0, 100.0)
    assert (second["qty"], second["quantityRefunded"], second["refunded"]) == (1.0, 1.0, 10.0)


@pytest.mark.parametrize(("kind", "sent_is_enough"), [("ometria", True), ("dotdigital", False)])
def test_a_customer_sent_but_not_yet_validated_counts_only_where_the_destination_works_in_order_of_receipt(
        kind, sent_is_enough):
    """Ometria processes what it took in order: an order sent after its customer follows it there.
    dotdigital refuses an order whose contact it does not hold yet: its orders wait for acceptance."""
    from syncapp.models import OutboxStatus
    from syncapp.planning_orders import customers_at_destination

    customers = FlowFactory(entity="customers", destination=account(kind))
    orders = FlowFactory(entity="orders", connection=customers.connection, destination=customers.destination)
    taken_in = timezone.now()
    OutboxItem.objects.create(flow=customers, record_key="C001", status=OutboxStatus.SUBMITTED, submitted_at=taken_in)
    OutboxItem.objects.create(flow=customers, record_key="C002", status=OutboxStatus.ACCEPTED, accepted_hash="h")
    OutboxItem.objects.create(flow=customers, record_key="C003", status=OutboxStatus.PENDING)
    # Taken in, then changed again before its verdict: the change waits to go.
    OutboxItem.objects.create(flow=customers, record_key="C004", status=OutboxStatus.PENDING, submitted_at=taken_in)

    present = customers_at_destination(orders, {"C001", "C002", "C003", "C004"})

    assert present == ({"C001", "C002", "C004"} if sent_is_enough else {"C002"})


def test_an_orders_page_marks_its_customers_figures_once_however_many_customers_flows_read_them():
    """The peak runs' recurring deadlock: each customers flow (dotdigital's, Ometria's) wrote the
    page's figure marks again in the same transaction, and a pull and a backfill interleaved them."""
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    from syncapp.models import FiguresDirty

    dotdigital = FlowFactory(entity="customers")
    FlowFactory(entity="customers", connection=dotdigital.connection)  # another destination's customers
    page = [document("orders", 1, line(0)), document("orders", 2, line(0), card_code="C002")]

    with CaptureQueriesContext(db) as captured:
        connection_pull(connection=dotdigital.connection, entity="orders", adapter=FakeSource([page]))

    marks = [query["sql"] for query in captured.captured_queries
             if query["sql"].lstrip().upper().startswith("INSERT") and FiguresDirty._meta.db_table in query["sql"]]
    assert len(marks) == 1, marks
    assert not FiguresDirty.objects.exists()  # and the pull's end planned them, removing the marks


def closed(*lines: dict) -> tuple[dict, ...]:
    return tuple(line | {"line_status": "closed"} for line in lines)


def account(kind: str):
    from esp.models import EspAccount

    return EspAccount.objects.create(name=f"{kind}-account", kind=kind, base_url="http://127.0.0.1:9",
                                     password_env="UNUSED")


def test_an_order_read_closed_before_its_delivery_is_not_sent_to_dotdigital_again_for_the_delivery_alone():
    """The peak runs sent 2,268 orders a run to dotdigital a second time with the same content:
    the orders pull read an order SAP had closed on delivery before the deliveries pull read the
    delivery. Its state went from "closed" to "dispatched", both "complete" in the Orders
    collection, and nothing else dotdigital receives changed."""
    hub = hub_at(account("dotdigital"))
    hub.pull("orders", document("orders", 1, *closed(line(0), line(1, "1002")), status="closed"))
    hub.push()
    assert (hub.order(1)["state"], hub.order(1)["orderStatus"]) == ("closed", "complete")

    hub.pull("deliveries", document("deliveries", 10, line(0, base=(17, 1, 0)), line(1, "1002", base=(17, 1, 1))))
    hub.push()

    assert hub.destination.pushed_keys.count("1") == 1
    row = OutboxItem.objects.get(flow=hub.orders, record_key="1")
    # The row keeps what the hub knows now, for the planner and the pages, and stays accepted.
    assert (row.status, row.payload["state"], row.payload_hash) == ("accepted", "dispatched", row.accepted_hash)


def test_an_order_closed_in_sap_is_not_sent_to_ometria_again_when_its_status_there_stays_complete():
    """The same at Ometria, one step earlier: an open order and a closed one are both "complete"
    there (the peak runs sent about 2,250 orders a run again for it)."""
    hub = hub_at(account("ometria"), IdMergingDestination())
    hub.pull("orders", document("orders", 1, line(0), line(1, "1002")))
    hub.push()
    hub.pull("orders", document("orders", 1, *closed(line(0), line(1, "1002")), status="closed",
                                source_updated_at="2026-11-21T10:00:00+00:00"))
    hub.push()

    assert hub.destination.pushed_keys.count("1") == 1
    assert OutboxItem.objects.get(flow=hub.orders, record_key="1").payload["state"] == "closed"


def test_a_change_only_one_destination_receives_goes_only_there():
    """A tax correction moves the grand total and the tax, which Ometria's order carries and
    dotdigital's Orders collection does not (its orderTotal is before tax)."""
    from esp.default_mappings import mappings_install_defaults

    dd_customers = FlowFactory(entity="customers", destination=account("dotdigital"))
    connection = dd_customers.connection
    om_customers = FlowFactory(entity="customers", connection=connection, destination=account("ometria"))
    sent_to = {}
    for customers in (dd_customers, om_customers):
        mappings_install_defaults(destination=customers.destination)
        orders = FlowFactory(entity="orders", connection=connection, destination=customers.destination)
        sent_to[customers.destination.kind] = ((customers, orders), IdMergingDestination())

    def step(entity, record):
        connection_pull(connection=connection, entity=entity, adapter=FakeSource([[record]]))
        for flows, destination in sent_to.values():
            for flow in flows:
                flow_push(flow=flow, adapter=destination)

    step("business_partners", bp_record("C001", email="jane@example.com"))
    step("orders", document("orders", 1, line(0, price=50.0)))
    step("orders", document("orders", 1, line(0, price=50.0), vat_total=5.0, doc_total=55.0,
                            source_updated_at="2026-11-21T10:00:00+00:00"))

    at_dotdigital, at_ometria = sent_to["dotdigital"][1], sent_to["ometria"][1]
    assert at_dotdigital.pushed_keys.count("1") == 1
    assert at_ometria.pushed_keys.count("1") == 2
    assert at_ometria.orders["5001"]["taxTotal"] == 5.0


def test_the_upgrade_rehashes_accepted_orders_so_none_goes_again_unchanged():
    """Rows accepted before the hash covered what the destination receives: the migration
    recomputes them, and the next plan of the same order sends nothing."""
    import hashlib
    import importlib

    from django.apps import apps

    from syncapp.bulksql import json_text

    hub = hub_at()
    hub.pull("orders", document("orders", 1, line(0)))
    hub.push()
    row = OutboxItem.objects.get(flow=hub.orders, record_key="1")
    old = hashlib.sha256(f"{row.identifier}\n{json_text(row.payload)}".encode()).hexdigest()
    OutboxItem.objects.filter(pk=row.pk).update(payload_hash=old, accepted_hash=old)

    importlib.import_module("syncapp.migrations.0018_order_hashes_as_sent").hashes_as_sent(apps, None)
    hub.pull("orders", document("orders", 1, line(0), source_updated_at="2026-11-21T10:00:00+00:00"))
    hub.push()

    row.refresh_from_db()
    assert (row.payload_hash, row.accepted_hash) != (old, old)
    assert hub.destination.pushed_keys.count("1") == 1
