"""Issue 14, defect 3: an order is shown by the number people know (DocNum, web reference)
and the exceptions search finds a record by DocNum, web reference, CardCode, email or SKU."""
import pytest

from erp.documents import SalesOrderLine
from tests.factories import BusinessPartnerFactory, FlowFactory
from tests.web.factories import SalesOrderFactory, SyncExceptionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def order_problem():
    flow = FlowFactory(entity="orders")
    BusinessPartnerFactory(connection=flow.connection, card_code="C00063", email="jo@example.com",
                           email_normalised="jo@example.com")
    order = SalesOrderFactory(connection=flow.connection, doc_entry=39, doc_num=100039, num_at_card="WEB-100909",
                              card_code="C00063")
    SalesOrderLine.objects.create(document=order, line_num=0, item_code="SKU-RED-9", quantity=1, price=1,
                                  line_total=1)
    exception = SyncExceptionFactory(flow=flow, entity="orders", record_key="39", reason_code="waiting_for_customer",
                                     message="Order 100039 waits for customer C00063.")
    SyncExceptionFactory(flow=flow, entity="orders", record_key="40")  # another order, never found
    return exception


def test_the_list_and_the_record_page_show_the_docnum_and_web_reference(as_role, order_problem):
    client = as_role("marketing")
    html = client.get("/exceptions/").content.decode()
    assert "Order 100039" in html and "WEB-100909" in html
    detail = client.get(f"/exceptions/{order_problem.pk}/").content.decode()
    assert "<h1>Order 100039" in detail


@pytest.mark.parametrize("typed", ["100039", "WEB-100909", "C00063", "jo@example.com", "JO@example.com",
                                   "SKU-RED-9", "39"])
def test_the_search_finds_the_order_by_any_of_its_names(as_role, order_problem, typed):
    rows = as_role("marketing").get("/exceptions/", {"q": typed}).context["page"].rows
    assert [row.pk for row in rows] == [order_problem.pk]


def test_the_api_search_finds_the_order_by_its_docnum(as_role, order_problem):
    body = as_role("marketing").get("/api/exceptions/", {"q": "100039"}).json()
    assert [row["record_key"] for row in body["results"]] == ["39"]
