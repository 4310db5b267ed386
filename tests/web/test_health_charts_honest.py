"""Issue 14, defect 4: the health charts say what the data says.

The corner labels are the data's highest values (not the axis maximum), a new install
shows where samples begin instead of one bar at the right edge, one large chart for the
chosen flow with a small one per row instead of a stack, the "Why" column names current
failures, and "1 record" is singular."""
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from syncapp.models import HealthSample, SyncRun
from tests.factories import FlowFactory
from tests.web.factories import SyncExceptionFactory

pytestmark = pytest.mark.django_db


def chart_texts(html: str) -> list[str]:
    start = html.index('<svg class="chart"')
    return re.findall(r"<text[^>]*>([^<]*)</text>", html[start:html.index("</svg>", start)])


def test_the_backlog_label_is_the_highest_backlog_not_the_axis_maximum(as_role):
    flow = FlowFactory()
    HealthSample.objects.create(flow=flow, taken_at=timezone.now() - timedelta(hours=2), accepted=1, failed=0,
                                backlog=0)
    texts = chart_texts(as_role("marketing").get("/health/").content.decode())
    backlog = [text for text in texts if "backlog" in text]
    assert backlog == ["backlog: highest 0"]
    assert "highest bar: 1 record" in texts and not any("1 records" in text for text in texts)


def test_a_new_install_shows_where_samples_begin(as_role):
    flow = FlowFactory()
    HealthSample.objects.create(flow=flow, taken_at=timezone.now() - timedelta(minutes=5), accepted=3, failed=0,
                                backlog=2)
    html = as_role("marketing").get("/health/").content.decode()
    chart = html[html.index('<svg class="chart"'):html.index("</svg>", html.index('<svg class="chart"'))]
    assert 'class="no-data"' in chart and "no samples before" in chart
    width = float(re.search(r'class="no-data"[^>]*width="([\d.]+)"', chart).group(1))
    assert width > 600  # all but the last bar of 640 is "no data yet", not zeros


def test_one_large_chart_and_a_small_one_per_flow(as_role):
    flows = [FlowFactory(name=f"flow-{n}") for n in range(7)]
    for flow in flows:
        HealthSample.objects.create(flow=flow, taken_at=timezone.now() - timedelta(hours=1), accepted=2, failed=0,
                                    backlog=1)
    client = as_role("marketing")
    html = client.get("/health/").content.decode()
    assert html.count('<svg class="chart"') == 1
    assert html.count('<svg class="sparkline"') == 7
    chosen = client.get(f"/health/?flow={flows[3].pk}").content.decode()
    assert f'id="chart">{flows[3].name}: last 24 hours' in chosen


def test_the_why_column_names_failures_under_the_limit(as_role):
    flow = FlowFactory(error_rate_alert_percent=50)
    now = timezone.now()
    SyncRun.objects.create(flow=flow, kind="push", status=SyncRun.Status.PARTIAL, started_at=now - timedelta(minutes=9),
                           finished_at=now - timedelta(minutes=8), records_accepted=99, records_failed=1)
    SyncExceptionFactory.create_batch(3, flow=flow, reason_code="invalid_email")
    html = as_role("marketing").get("/health/").content.decode()
    row = html[html.index(f'id="flow-{flow.pk}"'):].split("</tr>")[0]
    assert "1 record failed in the last hour" in row
    assert "3 open exceptions" in row and "Invalid email address" in row
