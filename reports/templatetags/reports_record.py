"""`{% exception_order_record exception as record %}`: the sales document an exception is
about, with lines, totals and chain, for the exception's record page."""
from __future__ import annotations

from django import template

from erp.documents import DOCUMENT_MODELS

from ..documents import document_record

register = template.Library()


@register.simple_tag
def exception_order_record(exception):
    """The document (orders, deliveries, invoices, credit memos, returns) or None; a web
    order's key ("web:...") or a non-document entity has none."""
    entity = exception.entity
    key = str(exception.record_key or "")
    if entity not in DOCUMENT_MODELS or not key.isdigit() or not exception.connection_id:
        return None
    return document_record(connection_id=exception.connection_id, entity=entity, doc_entry=int(key))
