"""The exception search finds records by the numbers people know through indexes, never by
reading a whole mirror table (issue 14: with 100,000 orders a DocNum or SKU search read
every order and order line). Timing-free: each lookup's plan is checked with sequential
scans priced out, so a lookup no index can serve still shows a "Seq Scan"."""
from django.db import connection
from django.test.utils import CaptureQueriesContext

from erp.documents import CreditMemo, Delivery, Invoice, Return, SalesOrder, SalesOrderLine
from erp.models import BusinessPartner, Item
from exceptions.models import SyncException
from exceptions.record_names import exceptions_search
from tests.factories import ErpConnectionFactory

ROWS = 1000


def _mirror(connection_row) -> None:
    """A thousand of each, analysed, so the planner weighs the indexes as it would on a real mirror."""
    on = {"connection": connection_row}
    for model in (SalesOrder, Delivery, Invoice, CreditMemo, Return):
        model.objects.bulk_create(model(doc_entry=n, doc_num=200000 + n, card_code=f"C{n:06d}", num_at_card=f"WEB-{n}",
                                        content_hash="x", **on) for n in range(1, ROWS + 1))
    orders = SalesOrder.objects.filter(**on).order_by("doc_entry")
    SalesOrderLine.objects.bulk_create(SalesOrderLine(document=order, line_num=0, item_code=f"ITEM{order.doc_entry}")
                                       for order in orders)
    BusinessPartner.objects.bulk_create(BusinessPartner(card_code=f"C{n:06d}", card_type="customer",
                                                        email_normalised=f"p{n}@example.com", content_hash="x", **on)
                                        for n in range(1, ROWS + 1))
    Item.objects.bulk_create(Item(item_code=f"ITEM{n}", content_hash="x", **on) for n in range(1, ROWS + 1))
    with connection.cursor() as cursor:
        for model in (SalesOrder, Delivery, Invoice, CreditMemo, Return, SalesOrderLine, BusinessPartner, Item):
            cursor.execute(f'ANALYZE "{model._meta.db_table}"')


def _mirror_lookups(text: str) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        exceptions_search(SyncException.objects.all(), text)
    return [query["sql"] for query in captured.captured_queries
            if query["sql"].startswith("SELECT") and '"erp_' in query["sql"] and " WHERE " in query["sql"]]


def _plan(sql: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_each_search_lookup_on_the_mirror_uses_an_index(postgres_only, db):
    _mirror(ErpConnectionFactory())
    # A DocNum, a web reference, a CardCode, an email and a SKU of the mirror above.
    for text in ("200039", "WEB-39", "C000039", "p39@example.com", "ITEM39"):
        lookups = _mirror_lookups(text)
        assert lookups, "the search looked nothing up in the mirror"
        for sql in lookups:
            plan = _plan(sql)
            filters = [line for line in plan.splitlines() if line.strip().startswith("Filter:")]
            assert "Seq Scan" not in plan, f"{sql}\n{plan}"
            assert not [line for line in filters if text in line or text.lower() in line], f"{sql}\n{plan}"
