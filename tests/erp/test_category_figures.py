"""Category figures in SQL (erp.category_figures), on SQLite and PostgreSQL alike."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from erp.categories import customers_in_groups, item_categories, orders_in_groups
from erp.customer_figures import customer_figures
from erp.models import CreditMemo, Item, ItemGroup, SalesOrder
from tests.factories import ErpConnectionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def connection():
    connection = ErpConnectionFactory()
    ItemGroup.objects.create(connection=connection, code="110", name="Knitwear", content_hash="x")
    ItemGroup.objects.create(connection=connection, code="111", name="Socks", content_hash="x")
    for code, group in (("K1", "110"), ("S1", "111"), ("H1", "HATS01"), ("N1", "")):
        Item.objects.create(connection=connection, item_code=code, category_code=group, content_hash="x")
    return connection


def document(model, connection, entry: int, card_code: str, day: int, *lines, discount=0, rate=1, **fields):
    total = sum(Decimal(qty) * Decimal(price) for _, qty, price in lines) * (1 - Decimal(discount) / 100)
    doc = model.objects.create(connection=connection, doc_entry=entry, doc_num=entry, card_code=card_code,
                               doc_date=date(2026, 11, day), doc_total=total, doc_total_local=total * rate,
                               discount_percent=discount, content_hash="x", **fields)
    for n, (item, qty, price) in enumerate(lines):
        doc.lines.create(line_num=n, item_code=item, quantity=qty, price=price, line_total=Decimal(qty) * price)
    return doc


def figures(connection, *codes):
    return {code: {name: found[name] for name in ("first_purchase_category", "most_purchased_category",
                                                  "categories_bought")}
            for code, found in customer_figures(connection=connection, card_codes=codes).items()}


def test_first_most_and_bought_by_value_net_of_credit_memos(connection):
    document(SalesOrder, connection, 1, "C1", 1, ("S1", 1, 5), ("K1", 1, 60))  # first: knitwear, the larger line
    document(SalesOrder, connection, 2, "C1", 3, ("S1", 10, 5), ("H1", 1, 20))
    document(CreditMemo, connection, 7, "C1", 4, ("K1", 1, 60))  # the jumper comes back
    assert figures(connection, "C1")["C1"] == {
        "first_purchase_category": "Knitwear", "most_purchased_category": "Socks",
        # An ECC material group without a name is known by its code; a refund does not un-buy.
        "categories_bought": "HATS01, Knitwear, Socks"}


def test_the_header_discount_and_the_local_currency_weigh_each_line(connection):
    # 100 EUR of socks at 0.5 is 50 GBP; 60 GBP of knitwear at 25% off is 45: socks win.
    document(SalesOrder, connection, 1, "C1", 1, ("K1", 1, 60), discount=25)
    document(SalesOrder, connection, 2, "C1", 2, ("S1", 10, 10), rate=Decimal("0.5"), currency="EUR")
    assert figures(connection, "C1")["C1"]["most_purchased_category"] == "Socks"


def test_cancelled_orders_and_uncategorised_items_count_for_nothing(connection):
    document(SalesOrder, connection, 1, "C1", 1, ("K1", 1, 60), cancelled=True)
    document(SalesOrder, connection, 2, "C1", 2, ("N1", 1, 60), ("GONE", 1, 10))
    document(SalesOrder, connection, 3, "C2", 2, ("S1", 1, 5))
    document(CreditMemo, connection, 8, "C2", 3, ("S1", 1, 5))  # all of it refunded
    found = figures(connection, "C1", "C2", "C3")
    assert found["C1"] == found["C3"] == dict.fromkeys(found["C1"])
    assert found["C2"] == {"first_purchase_category": "Socks", "most_purchased_category": None,
                           "categories_bought": "Socks"}


def test_a_rename_finds_the_items_orders_and_customers_of_its_group(connection):
    document(SalesOrder, connection, 1, "C1", 1, ("K1", 1, 60))
    document(SalesOrder, connection, 2, "C2", 1, ("S1", 1, 5))
    assert orders_in_groups(connection=connection, codes=["110"]) == [1]
    assert customers_in_groups(connection=connection, codes=["110", "111"]) == ["C1", "C2"]
    assert {code: c.name for code, c in item_categories(connection_id=connection.pk,
                                                         item_codes=["K1", "H1", "N1"]).items()} == {
        "K1": "Knitwear", "H1": "HATS01"}
