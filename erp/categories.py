"""Product categories: what each item's category is called, and who a rename touches.

An item names its category by code (`Item.category_code`: SAP B1's item group number,
ECC's material group); the name is the ItemGroup's (SAP B1 GroupName), or the code
itself where the ERP sends no name (ECC IDocs carry no group texts). Names are looked up
when a record is planned, never copied onto items or lines, so a rename is one changed
row: the records that show the name are planned again, and the hash compare sends only
those whose payload really changed.

Every lookup here takes a page of keys and costs one or two statements, whatever the
page's size (the plan's hot path, issue 12).
"""
from __future__ import annotations

from dataclasses import dataclass

from syncapp.bulksql import fetch, quote, select_by_keys

from .documents import SalesOrder, SalesOrderLine
from .models import Item, ItemGroup


@dataclass(frozen=True)
class Category:
    code: str
    name: str


def category_names(*, connection_id: int, codes) -> dict[str, str]:
    """Code -> name for the given category codes (the code itself when no group names it)."""
    codes = sorted({code for code in codes if code})
    named = dict(select_by_keys(ItemGroup, ["code", "name"], key="code", keys=codes,
                                where={"connection_id": connection_id}))
    return {code: named.get(code) or code for code in codes}


def categories_of_codes(*, connection_id: int, item_codes: dict[str, str]) -> dict[str, Category]:
    """Item code -> its Category, from a map of item code -> category code already in hand
    (items without a category are left out)."""
    names = category_names(connection_id=connection_id, codes=item_codes.values())
    return {item: Category(code, names[code]) for item, code in item_codes.items() if code}


def item_categories(*, connection_id: int, item_codes) -> dict[str, Category]:
    """Item code -> its Category for the given items (two statements)."""
    codes = dict(select_by_keys(Item, ["item_code", "category_code"], key="item_code", keys=sorted(set(item_codes)),
                                where={"connection_id": connection_id}))
    return categories_of_codes(connection_id=connection_id, item_codes=codes)


def category_payload(category: Category | None) -> dict:
    """The vendor-neutral category fields of a product or an order line."""
    return {"category": category.name if category else None, "categoryCode": category.code if category else None}


# ---------------------------------------------------------------- who a rename touches


def items_in_groups(*, connection, codes) -> list[str]:
    """Item codes of the items in these categories."""
    return list(Item.objects.filter(connection=connection, category_code__in=list(codes))
                .values_list("item_code", flat=True))


def _lines_in_groups(connection, codes, column: str) -> list:
    # A rename is rare and this is one statement; order lines have no index by item, so
    # it reads the connection's order lines once (not per record, and off the hot path).
    codes = list(codes)
    if not codes:
        return []
    marks = ", ".join(["%s"] * len(codes))
    return [value for (value,) in fetch(
        f"SELECT DISTINCT d.{column} FROM {quote(SalesOrder._meta.db_table)} d "
        f"JOIN {quote(SalesOrderLine._meta.db_table)} l ON l.document_id = d.id "
        f"JOIN {quote(Item._meta.db_table)} i ON i.connection_id = d.connection_id AND i.item_code = l.item_code "
        f"WHERE d.connection_id = %s AND i.category_code IN ({marks})", [connection.pk, *codes])]


def orders_in_groups(*, connection, codes) -> list[int]:
    """DocEntries of the orders with a line in these categories."""
    return sorted(_lines_in_groups(connection, codes, "doc_entry"))


def customers_in_groups(*, connection, codes) -> list[str]:
    """Customers who ordered from these categories: those whose figures can name them."""
    return sorted(_lines_in_groups(connection, codes, "card_code"))
