"""Records named as people know them, and found by any of those names.

An exception is keyed by what the engine keys the record by (a DocEntry for documents);
people know an order by its DocNum and the web shop's reference, a customer by CardCode
and email, a product by SKU. `record_labels` names a page of exceptions in one query per
document kind; `exceptions_search` turns what someone typed into the record keys it
names, each lookup an indexed equality on the mirror, then an index probe per key.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.db.models import Q, QuerySet

# Exception entities keyed by a document's DocEntry, with the document kind they name.
_DOCUMENT_ENTITIES = {
    "orders": ("erp.SalesOrder", "Order"),
    "dispatch_events": ("erp.SalesOrder", "Order"),
    "deliveries": ("erp.Delivery", "Delivery"),
    "invoices": ("erp.Invoice", "Invoice"),
    "credit_notes": ("erp.CreditMemo", "Credit memo"),
    "returns": ("erp.Return", "Return"),
}
_CUSTOMER_ENTITIES = ("customers", "business_partners")
_ITEM_ENTITIES = ("products", "items", "item_stock")
_SIGNAL_ENTITIES = ("dispatch_events", "stock_events")  # keyed "<source key>:<what>..."
# A search naming a busy customer or SKU finds its records up to this many orders.
_MAX_ORDERS = 500


def _model(path: str):
    from django.apps import apps

    return apps.get_model(path)


def _doc_entry(exception) -> int | None:
    head = exception.record_key.split(":", 1)[0]
    return int(head) if head.isdigit() else None


def document_label(kind: str, doc_num, doc_entry, reference: str = "") -> str:
    """"Order 100039 · WEB-100909 (DocEntry 39)": the number people know first."""
    number = doc_num if doc_num is not None else f"(DocEntry {doc_entry})"
    label = f"{kind} {number}"
    if reference:
        label += f" · {reference}"
    if doc_num is not None:
        label += f" (DocEntry {doc_entry})"
    return label


def record_labels(exceptions: Iterable) -> dict[int, str]:
    """Exception id -> how people name its record, for the document entities (others keep
    their key, which is already the business one: CardCode, SKU)."""
    wanted: dict[str, dict[int, set[int]]] = defaultdict(lambda: defaultdict(set))
    rows = [e for e in exceptions if e.entity in _DOCUMENT_ENTITIES and _doc_entry(e) is not None]
    for exception in rows:
        wanted[_DOCUMENT_ENTITIES[exception.entity][0]][exception.connection_id].add(_doc_entry(exception))
    found: dict[tuple[str, int, int], tuple] = {}
    for path, by_connection in wanted.items():
        query = Q()
        for connection_id, entries in by_connection.items():
            query |= Q(connection_id=connection_id, doc_entry__in=entries)
        for connection_id, entry, num, reference in _model(path).objects.filter(query).values_list(
                "connection_id", "doc_entry", "doc_num", "num_at_card"):
            found[(path, connection_id, entry)] = (num, reference)
    labels = {}
    for exception in rows:
        path, kind = _DOCUMENT_ENTITIES[exception.entity]
        entry = _doc_entry(exception)
        num, reference = found.get((path, exception.connection_id, entry), (None, ""))
        label = document_label(kind, num, entry, reference)
        rest = exception.record_key.split(":", 1)[1:] if ":" in exception.record_key else []
        labels[exception.pk] = label + (f", {rest[0].replace(':', ' ')}" if rest else "")
    return labels


def exceptions_search(queryset: QuerySet, text: str) -> QuerySet:
    """The exceptions of the records `text` names: a record key, a DocNum or web reference
    (of an order, delivery, invoice, credit memo or return), a CardCode or email (the
    customer and their orders), or a SKU (the product and the orders holding it)."""
    from erp.documents import SalesOrderLine
    from erp.models import BusinessPartner, ErpConnection, Item

    text = text.strip()
    if not text:
        return queryset
    match = Q(record_key=text) | Q(record_key=f"web:{text}")
    # Naming the connections lets each lookup use its (connection, ...) index.
    on = {"connection_id__in": list(ErpConnection.objects.values_list("pk", flat=True))}
    order_entries: set[int] = set()
    by_number = Q(num_at_card=text)
    if text.isdigit() and len(text) < 10:  # a DocNum is an integer column
        by_number |= Q(doc_num=int(text))
    for entity, (path, _) in _DOCUMENT_ENTITIES.items():
        if entity == "dispatch_events":
            continue  # the orders' own lookup covers their signals
        entries = set(_model(path).objects.filter(by_number, **on).values_list("doc_entry", flat=True)[:_MAX_ORDERS])
        if path == "erp.SalesOrder":
            order_entries |= entries
        elif entries:
            match |= Q(entity=entity, record_key__in=[str(e) for e in entries])
    codes = set(BusinessPartner.objects.filter(Q(card_code=text) | Q(email_normalised=text.lower()), **on)
                .values_list("card_code", flat=True)[:50])
    if codes:
        match |= Q(entity__in=_CUSTOMER_ENTITIES, record_key__in=codes)
        order_entries |= set(_model("erp.SalesOrder").objects.filter(card_code__in=codes, **on)
                             .values_list("doc_entry", flat=True)[:_MAX_ORDERS])
    # SKUs are kept as the ERP spells them (the SKU rule upper-cases by default): the text as typed, or upper case.
    items = set(Item.objects.filter(item_code__in={text, text.upper()}, **on)
                .values_list("item_code", flat=True)[:50]) | {text}
    match |= Q(entity__in=_ITEM_ENTITIES, record_key__in=items)
    for code in items:
        match |= Q(entity="stock_events", record_key__startswith=f"{code}:")
    order_entries |= set(SalesOrderLine.objects.filter(item_code__in=items)
                         .values_list("document__doc_entry", flat=True)[:_MAX_ORDERS])
    if order_entries:
        keys = [str(entry) for entry in order_entries]
        match |= Q(entity="orders", record_key__in=keys)
        for key in keys[:100]:  # a dispatch signal is keyed "<DocEntry>:<what>"
            match |= Q(entity="dispatch_events", record_key__startswith=f"{key}:")
    return queryset.filter(match)
