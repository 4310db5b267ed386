"""Customer figures by product category, computed in SQL for a page of customers.

- first_purchase_category: the category of the customer's first purchase: the first
  order (by date, then DocEntry) with a line whose item has a category, and in it the
  line of the highest value (then the lowest line number).
- most_purchased_category: the category the customer spent most on, net of credit memos
  (credit memo lines name their item, so no document chain is followed); only a
  category still worth more than nothing counts, ties go to the name first in order.
- categories_bought: the names of every category the customer ordered from, sorted,
  joined with ", " (one text value: contact data fields hold no lists).

As the other figures: cancelled documents and cancellation documents never count; values
are before tax, after the document's header discount, in the company's local currency
(a foreign-currency line is scaled by its document's local total over its total). A
category is named as `erp.categories` says (the ItemGroup's name, else its code); a
customer without a categorised purchase gets None for each.
"""
from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from syncapp.bulksql import fetch, quote, values_table

from .documents import CreditMemo, CreditMemoLine, SalesOrder, SalesOrderLine
from .models import Item, ItemGroup

CATEGORY_FIGURES = {
    "first_purchase_category": "First purchase category",
    "most_purchased_category": "Most purchased category (by value, net of credit memos)",
    "categories_bought": "Categories bought",
}
SEPARATOR = ", "


def _lines(document, line, probe: str, sign: int) -> str:
    """SELECT of (card_code, category name, doc_date, doc_entry, line_num, value, ordered)
    of the counted lines of `document` for the probed customers; `sign` -1 for money given
    back (`ordered` 0: a credit memo alone is no purchase)."""
    return (
        f"SELECT d.card_code AS card_code, COALESCE(NULLIF(g.name, ''), i.category_code) AS category, "
        f"d.doc_date AS doc_date, d.doc_entry AS doc_entry, l.line_num AS line_num, "
        # 100.0 and * 1.0: SQLite stores whole decimals as integers, and would divide them as such.
        f"{sign} * l.line_total * (1 - d.discount_percent / 100.0) "
        f"* (CASE WHEN d.doc_total = 0 THEN 1 ELSE d.doc_total_local * 1.0 / d.doc_total END) AS value, "
        f"{1 if sign > 0 else 0} AS ordered "
        f"FROM {quote(document._meta.db_table)} d "
        f"JOIN {probe} k ON d.card_code = k.value "
        f"JOIN {quote(line._meta.db_table)} l ON l.document_id = d.id "
        f"JOIN {quote(Item._meta.db_table)} i ON i.connection_id = d.connection_id AND i.item_code = l.item_code "
        f"LEFT JOIN {quote(ItemGroup._meta.db_table)} g ON g.connection_id = d.connection_id "
        f"AND g.code = i.category_code "
        f"WHERE d.connection_id = %s AND d.cancelled = %s AND d.is_cancellation = %s AND i.category_code <> ''"
    )


def category_figures(*, connection, card_codes) -> dict[str, dict]:
    """The category figures of each given customer (None where nothing was bought).
    Two statements for the whole page of customers."""
    codes = list(card_codes)
    figures = {code: dict.fromkeys(CATEGORY_FIGURES) for code in codes}
    if not codes:
        return figures
    probe, probe_params = values_table(codes)
    counted = [connection.pk, False, False]
    ordered = _lines(SalesOrder, SalesOrderLine, probe, 1)
    refunded = _lines(CreditMemo, CreditMemoLine, probe, -1)
    totals = fetch(
        f"SELECT card_code, category, SUM(value), MAX(ordered) "
        f"FROM ({ordered} UNION ALL {refunded}) x GROUP BY card_code, category",
        [*probe_params, *counted, *probe_params, *counted])
    firsts = fetch(
        f"SELECT card_code, category FROM (SELECT card_code, category, ROW_NUMBER() OVER ("
        f"PARTITION BY card_code ORDER BY doc_date, doc_entry, value DESC, line_num) AS n FROM ({ordered}) o) f "
        f"WHERE n = 1", [*probe_params, *counted])
    _fill(figures, totals, firsts)
    return figures


def _fill(figures: dict[str, dict], totals: list[tuple], firsts: list[tuple]) -> None:
    bought: dict[str, list[str]] = defaultdict(list)
    best: dict[str, tuple[Decimal, str]] = {}
    for card_code, category, total, was_ordered in totals:
        net = Decimal(str(total or 0))
        if was_ordered:
            bought[card_code].append(category)
        # Largest net value first; of equal values, the name first in order.
        if net > 0 and (card_code not in best or (-net, category) < (-best[card_code][0], best[card_code][1])):
            best[card_code] = (net, category)
    for card_code, names in bought.items():
        figures[card_code]["categories_bought"] = SEPARATOR.join(sorted(names))
    for card_code, (_, category) in best.items():
        figures[card_code]["most_purchased_category"] = category
    for card_code, category in firsts:
        figures[card_code]["first_purchase_category"] = category
