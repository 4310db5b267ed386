"""SAP ECC end to end: IDoc-XML as ECC sends it -> the hub's endpoint or file port -> the
mirror -> dotdigital and Ometria, beside SAP B1 on the same destinations."""
from __future__ import annotations

from datetime import date

import pytest

from erp.models import BusinessPartner, CreditMemo, Item, SalesOrder, StockLevel
from erp.sap_ecc.apply import idocs_apply
from erp.sap_ecc.models import Idoc
from exceptions.models import SyncException

from .ecc_hub import EccHub

pytestmark = pytest.mark.django_db

MUG, PLATE, BOWL, CUP = "10001547", "10001548", "10001549", "10001550"


@pytest.fixture
def hub():
    hub = EccHub()
    yield hub
    hub.close()


def catalogue(hub: EccHub) -> None:
    w = hub.writer
    hub.send(*(w.matmas(code, name) for code, name in ((MUG, "Blue mug"), (PLATE, "Plate"), (BOWL, "Bowl"),
                                                         (CUP, "Cup"))))


def customer(hub: EccHub, kunnr: str = "99009", email: str = "jane@example.com", **fields) -> None:
    w = hub.writer
    hub.send(w.debmas(kunnr, fields.pop("name", "Jane Example"), city="Leeds", postcode="LS1 1AA", **fields))
    hub.send(w.adrmas(kunnr, email))


def four_lines() -> list[dict]:
    return [{"posex": 10 * n, "matnr": code, "text": f"Item {code}", "qty": n, "price": 5 * n}
            for n, code in enumerate((MUG, PLATE, BOWL, CUP), start=1)]


def order_record(hub: EccHub, web_reference: str) -> dict:
    found = [r for r in hub.dd_orders().values() if r["id"] == web_reference]
    assert len(found) == 1, hub.dd_orders()
    return found[0]


def test_a_customer_from_debmas_and_adrmas_reaches_dotdigital_and_ometria(hub):
    customer(hub, extension_fields={"ZZLOYALTY": "GOLD"})
    hub.cycle()
    partner = BusinessPartner.objects.get(connection=hub.ecc)
    assert (partner.card_code, partner.email, partner.currency) == ("0000099009", "jane@example.com", "GBP")
    assert partner.udfs["U_ZZLOYALTY"] == "GOLD"
    contact = hub.dd_contact("jane@example.com")
    assert contact["dataFields"]["CARDCODE"] == "0000099009"
    assert contact["dataFields"]["CITY"] == "Leeds"
    assert hub.om_contact("0000099009")["email"] == "jane@example.com"
    # The DEBMAS was applied with the ADRMAS queued behind it: never planned "without e-mail".
    assert not SyncException.objects.filter(reason_code="missing_email").exists()


def test_an_order_with_four_lines_reaches_both_destinations_and_dispatch_fires_on_goods_issue(hub):
    catalogue(hub)
    customer(hub)
    w = hub.writer
    hub.send(w.orders("1390", "99009", four_lines(), web_reference="WEB-ECC-1"))
    hub.cycle()
    order = SalesOrder.objects.get(connection=hub.ecc)
    assert (order.doc_entry, order.card_code, order.num_at_card) == (1390, "0000099009", "WEB-ECC-1")
    assert [line.item_code for line in order.lines.order_by("line_num")] == [
        "000000000010001547", "000000000010001548", "000000000010001549", "000000000010001550"]
    record = order_record(hub, "WEB-ECC-1")
    assert record["orderStatus"] == "processing"
    assert [p["sku"] for p in record["products"]] == [MUG, PLATE, BOWL, CUP]  # the SKU rule strips the padding
    assert any(o.get("web_id") == "WEB-ECC-1" for o in hub.om_orders())
    # A delivery picked but not yet goods-issued: no dispatch.
    first = [{"posnr": 10, "matnr": MUG, "qty": 1, "vgbel": "1390", "vgpos": 10},
             {"posnr": 20, "matnr": PLATE, "qty": 2, "vgbel": "1390", "vgpos": 20}]
    hub.send(w.delvry("80000849", "99009", first, goods_issued=None))
    hub.cycle()
    assert order_record(hub, "WEB-ECC-1")["orderStatus"] == "processing"
    assert Idoc.objects.get(message_type="DESADV").status_text.startswith("Applied: the delivery has no goods issue")
    # Goods issue posted for it: dispatched in part; the second delivery completes the order.
    hub.send(w.delvry("80000849", "99009", first, goods_issued=date(2026, 11, 30), tracking="TRK-1"))
    hub.cycle()
    assert order_record(hub, "WEB-ECC-1")["orderStatus"] == "processing"
    rest = [{"posnr": 10, "matnr": MUG, "qty": 0, "vgbel": "1390", "vgpos": 10},
            {"posnr": 30, "matnr": BOWL, "qty": 3, "vgbel": "1390", "vgpos": 30},
            {"posnr": 40, "matnr": CUP, "qty": 4, "vgbel": "1390", "vgpos": 40}]
    hub.send(w.delvry("80000850", "99009", rest, goods_issued=date(2026, 12, 1), tracking="TRK-2"))
    hub.cycle()
    assert order_record(hub, "WEB-ECC-1")["orderStatus"] == "complete"


def test_an_order_change_adds_and_deletes_lines_and_a_rejected_order_is_cancelled(hub):
    catalogue(hub)
    customer(hub)
    w = hub.writer
    lines = four_lines()[:2]
    hub.send(w.orders("1391", "99009", lines, web_reference="WEB-ECC-2"))
    hub.cycle()
    # ORDCHG: item 20 deleted, item 30 added; its totals (E1EDS01) are the changed order's.
    change = [{"posex": 10, "matnr": MUG, "text": "Mug", "qty": 1, "price": 5},
              {"posex": 20, "matnr": PLATE, "text": "Plate", "qty": 2, "price": 10},
              {"posex": 30, "matnr": BOWL, "text": "Bowl", "qty": 1, "price": 15}]
    hub.send(w.orders("1391", "99009", change, web_reference="WEB-ECC-2", mestyp="ORDCHG",
                      item_actions={10: "004", 20: "003", 30: "001"}))
    hub.cycle()
    order = SalesOrder.objects.get(doc_entry=1391)
    assert sorted(order.lines.values_list("line_num", flat=True)) == [10, 30]
    assert sorted(p["sku"] for p in order_record(hub, "WEB-ECC-2")["products"]) == [MUG, BOWL]
    hub.send(w.orders("1391", "99009", change, web_reference="WEB-ECC-2", rejection_reason="Z1"))
    hub.cycle()
    assert SalesOrder.objects.get(doc_entry=1391).cancelled
    assert order_record(hub, "WEB-ECC-2")["orderStatus"] == "canceled"  # dotdigital's spelling


def test_an_invoice_and_a_credit_memo_set_lifetime_value_and_the_refund(hub):
    catalogue(hub)
    customer(hub)
    w = hub.writer
    hub.send(w.orders("1392", "99009", [{"posex": 10, "matnr": MUG, "text": "Mug", "qty": 2, "price": 10}],
                      web_reference="WEB-ECC-3"))
    hub.send(w.invoic("90000001", "99009", [{"posex": 10, "matnr": MUG, "qty": 2, "price": 10, "order": "1392",
                                             "order_item": 10}], web_reference="WEB-ECC-3"))
    hub.send(w.invoic("90000002", "99009", [{"posex": 10, "matnr": MUG, "qty": 1, "price": 10, "order": "1392",
                                             "order_item": 10}], credit_memo=True, web_reference="WEB-ECC-3"))
    hub.cycle()
    assert CreditMemo.objects.get(connection=hub.ecc).doc_entry == 90000002
    record = order_record(hub, "WEB-ECC-3")
    assert float(record["refundedTotal"]) == pytest.approx(10.0)
    fields = hub.dd_contact("jane@example.com")["dataFields"]
    assert fields["ORDERCOUNT"] == 1
    assert float(fields["LIFETIMEVALUE"]) == pytest.approx(20.0 - 10.0)  # net of tax, less the credit memo


def test_goods_movements_apply_as_deltas_once_and_a_snapshot_as_levels_across_plants(hub):
    catalogue(hub)
    w = hub.writer
    hub.send(w.loistd([{"matnr": MUG, "werks": "1000", "lgort": "0001", "labst": 10},
                       {"matnr": MUG, "werks": "2000", "lgort": "0001", "labst": 4}]))
    movement = w.wmmbxy([{"matnr": MUG, "werks": "1000", "lgort": "0001", "bwart": "601", "qty": 3, "shkzg": "H"},
                         {"matnr": MUG, "werks": "2000", "lgort": "0001", "bwart": "101", "qty": 5, "shkzg": "S"}])
    hub.send(movement)
    hub.send(movement)  # the same IDoc again: a duplicate, not applied twice
    hub.cycle()
    idocs_apply(hub.ecc)  # and applying again changes nothing
    levels = dict(StockLevel.objects.filter(connection=hub.ecc).values_list("warehouse_code", "in_stock"))
    assert levels == {"1000-0001": 7.0, "2000-0001": 9.0}
    assert hub.dd_catalog()[MUG]["available"] == 16.0


def test_stock_for_a_material_not_yet_received_waits_for_its_matmas(hub):
    w = hub.writer
    hub.send(w.wmmbxy([{"matnr": MUG, "werks": "1000", "lgort": "0001", "bwart": "101", "qty": 5, "shkzg": "S"}]))
    hub.cycle()
    waiting = Idoc.objects.get(message_type="WMMBXY")
    assert waiting.status == Idoc.Status.WAITING and "MATMAS" in waiting.status_text
    catalogue(hub)
    hub.cycle()
    assert Idoc.objects.get(message_type="WMMBXY").status == Idoc.Status.APPLIED
    assert StockLevel.objects.get(connection=hub.ecc, item_code="000000000010001547").in_stock == 5.0


def test_an_older_debmas_arriving_late_does_not_revert_newer_data(hub):
    w = hub.writer
    older = w.debmas("99009", "Jane Old-Name", city="York")
    newer = w.debmas("99009", "Jane New-Name", city="Leeds")
    hub.send(w.adrmas("99009", "jane@example.com"))
    hub.send(newer)
    hub.cycle()
    hub.send(older)  # created earlier in SAP (lower SERIAL), arriving after
    hub.cycle()
    assert BusinessPartner.objects.get(connection=hub.ecc).card_name == "Jane New-Name"
    late = Idoc.objects.get(docnum=older.docnum)
    assert late.status == Idoc.Status.OBSOLETE and newer.docnum.lstrip("0") in late.status_text
    assert hub.dd_contact("jane@example.com")["dataFields"]["FULLNAME"] == "Jane New-Name"


def test_out_of_order_serials_in_one_message_apply_oldest_first(hub):
    w = hub.writer
    first = w.debmas("99009", "Jane First", city="York")
    second = w.debmas("99009", "Jane Second", city="Leeds")
    hub.send(second, first)  # newest first in the packet
    hub.send(w.adrmas("99009", "jane@example.com"))
    hub.cycle()
    assert BusinessPartner.objects.get(connection=hub.ecc).card_name == "Jane Second"
    assert Idoc.objects.get(docnum=first.docnum).status == Idoc.Status.APPLIED  # applied first, then overtaken


def test_a_failed_debmas_holds_its_customers_orders_until_reprocessed_then_both_flow(hub, settings):
    settings.SYNC_CONTROL_CHARACTERS = "refuse"
    catalogue(hub)
    customer(hub, name="Jane \u202eExample")  # a bidi override: refused under this policy
    hub.send(hub.writer.orders("1393", "99009", four_lines(), web_reference="WEB-ECC-4"))
    hub.cycle()
    debmas = Idoc.objects.get(message_type="DEBMAS")
    order = Idoc.objects.get(message_type="ORDERS")
    assert debmas.status == Idoc.Status.ERROR
    assert order.status == Idoc.Status.WAITING and debmas.display_number in order.status_text
    assert not SalesOrder.objects.filter(connection=hub.ecc).exists()
    assert SyncException.objects.get(entity="orders", record_key="1393").reason_code == "idoc_waiting"
    assert "jane@example.com" not in hub.dd.contacts
    # The admin allows the character to be stripped, then reprocesses the DEBMAS in the monitor.
    settings.SYNC_CONTROL_CHARACTERS = "strip"
    from django.contrib.auth import get_user_model
    from django.test import Client

    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    browser = Client()
    browser.force_login(admin)
    answer = browser.post("/ecc/idocs/reprocess", {"idoc": [debmas.pk]})
    assert answer.status_code == 302
    hub.cycle()
    assert Idoc.objects.get(pk=debmas.pk).status == Idoc.Status.APPLIED
    assert Idoc.objects.get(pk=order.pk).status == Idoc.Status.APPLIED
    assert order_record(hub, "WEB-ECC-4")["orderStatus"] == "processing"
    assert hub.dd_contact("jane@example.com")["dataFields"]["FULLNAME"] == "Jane Example"
    assert SyncException.objects.get(entity="orders", record_key="1393", flow=None).status == "resolved"


def test_a_deletion_flag_reaches_both_destinations(hub):
    customer(hub)
    hub.cycle()
    hub.send(hub.writer.debmas("99009", "Jane Example", city="Leeds", postcode="LS1 1AA", deletion_flag=True))
    hub.cycle()
    assert BusinessPartner.objects.get(connection=hub.ecc).valid is False
    from esp.models import FieldMapping

    # The ECC status is a user field like any other: mapped, it marks the contact in both destinations.
    for account in (hub.account, hub.om_account):
        FieldMapping.objects.create(destination=account, entity="customers", source_field="U_ERP_STATUS",
                                    target_field="ERPSTATUS")
    from syncapp.services import flows_replan_all

    flows_replan_all(flows=[hub.ecc_dd["customers"], hub.ecc_om["customers"]])
    hub.cycle()
    assert hub.dd_contact("jane@example.com")["dataFields"]["ERPSTATUS"] == "deleted"
    assert hub.om_contact("0000099009")["properties"]["ERPSTATUS"] == "deleted"


def test_suppress_withdraws_marketing_consent_for_a_blocked_customer(hub):
    hub.ecc.ecc.deleted_customers = "suppress"
    hub.ecc.ecc.save()
    customer(hub, posting_block=True)
    hub.cycle()
    assert hub.dd_contact("jane@example.com")["dataFields"]["MARKETINGCONSENT"] is False


def test_a_padded_matnr_is_one_product_with_its_sap_b1_twin(hub):
    from erp.sap_b1.sandbox.demo_items import demo_warehouses
    from syncapp.models import Flow
    from syncapp.services import connection_pull, flow_push

    hub.sap.add_warehouses(demo_warehouses())
    hub.sap.add_items([{"ItemCode": MUG, "ItemName": "Blue mug (B1)", "ItemsGroupCode": 100,
                        "ItemPrices": [{"PriceList": 1, "Price": 9.0, "Currency": "GBP"}],
                        "ItemWarehouseInfoCollection": []}])
    b1_products = Flow.objects.create(name="b1-products", connection=hub.connection, destination=hub.account,
                                      entity="products")
    connection_pull(connection=hub.connection, entity="items")
    flow_push(flow=b1_products, adapter=hub.destination())
    catalogue(hub)
    hub.cycle()
    assert Item.objects.get(connection=hub.ecc, item_code="000000000010001547").sku == MUG
    assert Item.objects.get(connection=hub.connection, item_code=MUG).sku == MUG
    assert MUG in hub.dd_catalog() and "000000000010001547" not in hub.dd_catalog()


def test_the_file_port_feeds_the_same_path(hub, tmp_path):
    from django.core.management import call_command

    w = hub.writer
    (tmp_path / "a.xml").write_bytes(w.packet([w.debmas("99010", "Ann File", city="Hull")]))
    (tmp_path / "b.xml").write_bytes(w.packet([w.adrmas("99010", "ann@example.com")]))
    call_command("idoc_import", hub.ecc.name, str(tmp_path))
    hub.cycle()
    assert hub.dd_contact("ann@example.com")["dataFields"]["CARDCODE"] == "0000099010"
    assert sorted(p.name for p in (tmp_path / "done").iterdir()) == ["a.xml", "b.xml"]


def test_a_stored_idoc_left_unapplied_by_a_crash_is_applied_by_the_next_scheduled_pull(hub):
    from syncapp.tasks import connection_pull_task

    customer(hub)  # stored and answered; the apply task never ran (no worker in this test)
    assert Idoc.objects.filter(status=Idoc.Status.READY).count() == 2
    connection_pull_task(hub.ecc.pk, "business_partners")  # what beat schedules every few minutes
    assert BusinessPartner.objects.get(connection=hub.ecc).email == "jane@example.com"
    assert not Idoc.objects.filter(status=Idoc.Status.READY).exists()


def test_a_matmas_with_storage_location_stock_sets_those_levels(hub):
    matmas = hub.writer.matmas(MUG, "Blue mug")
    with_stock = matmas.replace("</E1MARAM>", '<E1MARCM SEGMENT="1"><WERKS>3000</WERKS><E1MARDM SEGMENT="1">'
                                              "<LGORT>0002</LGORT><LABST>12.000</LABST></E1MARDM></E1MARCM></E1MARAM>")
    assert with_stock != matmas
    hub.send(with_stock, root="MATMAS05")
    hub.cycle()
    assert StockLevel.objects.get(connection=hub.ecc, item_code="000000000010001547",
                                  warehouse_code="3000-0002").in_stock == 12.0
    from erp.models import Warehouse

    assert Warehouse.objects.filter(connection=hub.ecc, code="3000-0002").exists()
    assert hub.dd_catalog()[MUG]["available"] == 12.0
