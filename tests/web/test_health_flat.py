"""The health page at many flows (issue 14): its figures are one query per kind for all
flows, so 8 flows cost the queries 1 flow does; rows ready to send are counted up to a cap
and the page says "10,000+" past it, as the backlog does."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from syncapp import health
from syncapp.models import Flow, OutboxItem, Priority
from tests.factories import ErpConnectionFactory, FlowFactory
from tests.web.factories import UserFactory

pytestmark = pytest.mark.django_db


def _queries_for_health() -> int:
    with CaptureQueriesContext(connection) as captured:
        health.flows_health()
        health.flows_by_priority(flows=list(Flow.objects.all()))
    return len(captured.captured_queries)


def test_the_health_figures_cost_the_same_queries_at_one_flow_or_eight():
    erp = ErpConnectionFactory()
    FlowFactory(connection=erp)
    one = _queries_for_health()
    for _ in range(7):
        FlowFactory(connection=erp)
    assert _queries_for_health() == one


def test_rows_ready_to_send_are_counted_up_to_the_cap_and_shown_as_more(client, monkeypatch):
    flow = FlowFactory(name="orders-flow")
    OutboxItem.objects.bulk_create(OutboxItem(flow=flow, record_key=f"K{n}", priority=Priority.URGENT)
                                   for n in range(5))
    monkeypatch.setattr(health, "READY_COUNT_CAP", 3)
    assert health.flows_ready([flow.pk], now=timezone.now()) == {(flow.pk, Priority.URGENT): 4}  # stopped there
    monkeypatch.setattr("syncapp.templatetags.peak_health.READY_COUNT_CAP", 3)
    client.force_login(UserFactory(username="ops", role="Integration admin"))
    assert '<td class="ready">3+</td>' in client.get("/health/").content.decode()
