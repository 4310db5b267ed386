"""Selectors for one sales document as finance reads it: lines, totals, tax, freight, and
its chain (order -> deliveries -> invoices -> credit memos / returns), from the mirror."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.urls import reverse

from erp.document_links import DELIVERY, INVOICE, ORDER, RETURN, orders_of
from erp.documents import DOCUMENT_MODELS

ENTITY_TITLES = {"orders": "Sales order", "deliveries": "Delivery", "invoices": "Invoice",
                 "credit_notes": "Credit memo", "returns": "Return"}


@dataclass(frozen=True)
class ChainLink:
    entity: str
    doc_entry: int
    doc_num: int | None
    doc_date: date | None
    currency: str
    total: Decimal
    cancelled: bool
    url: str

    @property
    def title(self) -> str:
        return ENTITY_TITLES[self.entity]


@dataclass
class DocumentRecord:
    entity: str
    document: object
    lines: list
    subtotal: Decimal
    chain: list[ChainLink] = field(default_factory=list)

    @property
    def title(self) -> str:
        return ENTITY_TITLES[self.entity]


def document_url(entity: str, connection_id: int, doc_entry: int) -> str:
    return reverse("reports:document", args=[entity, connection_id, doc_entry])


def _links(entity: str, connection_id: int, entries) -> list[ChainLink]:
    model = DOCUMENT_MODELS[entity][0]
    return [ChainLink(entity, entry, number, day, currency, total, cancelled,
                      document_url(entity, connection_id, entry))
            for entry, number, day, currency, total, cancelled in model.objects.filter(
                connection_id=connection_id, doc_entry__in=list(entries)).order_by("doc_date", "doc_entry")
            .values_list("doc_entry", "doc_num", "doc_date", "currency", "doc_total", "cancelled")]


def _copied_from(entity: str, connection_id: int, bases: dict[int, set[int]]) -> set[int]:
    """Documents of `entity` with a line copied from one of `bases` ({base type: entries})."""
    line_model = DOCUMENT_MODELS[entity][1]
    found: set[int] = set()
    for base_type, entries in bases.items():
        if entries:
            found |= set(line_model.objects.filter(document__connection_id=connection_id, base_type=base_type,
                                                   base_entry__in=list(entries))
                         .values_list("document__doc_entry", flat=True))
    return found


def document_chain(*, connection_id: int, orders: set[int]) -> list[ChainLink]:
    """The orders and every document copied from them, hop by hop, in chain order."""
    deliveries = _copied_from("deliveries", connection_id, {ORDER: orders})
    invoices = _copied_from("invoices", connection_id, {ORDER: orders, DELIVERY: deliveries})
    returns = _copied_from("returns", connection_id, {DELIVERY: deliveries, INVOICE: invoices})
    credits = _copied_from("credit_notes", connection_id, {INVOICE: invoices, RETURN: returns, ORDER: orders})
    chain = []
    for entity, entries in (("orders", orders), ("deliveries", deliveries), ("invoices", invoices),
                            ("returns", returns), ("credit_notes", credits)):
        chain += _links(entity, connection_id, entries)
    return chain


def document_record(*, connection_id: int, entity: str, doc_entry: int) -> DocumentRecord | None:
    """One document with its lines and chain, or None when the mirror lacks it."""
    if entity not in DOCUMENT_MODELS:
        return None
    model = DOCUMENT_MODELS[entity][0]
    document = model.objects.filter(connection_id=connection_id, doc_entry=doc_entry).first()
    if document is None:
        return None
    lines = list(document.lines.order_by("line_num"))
    if entity == "orders":
        orders = {doc_entry}
    else:
        from erp.models import ErpConnection

        orders = orders_of(connection=ErpConnection.objects.get(pk=connection_id), entity=entity,
                           doc_entries=[doc_entry])
    chain = document_chain(connection_id=connection_id, orders=orders) if orders else []
    return DocumentRecord(entity, document, lines, sum((line.line_total for line in lines), Decimal(0)), chain)

