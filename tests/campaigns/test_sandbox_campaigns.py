"""The dotdigital sandbox's campaign endpoints against the published v2 OpenAPI document,
and the rules the document leaves to the contract notes (paging bounds, auth, region)."""
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import requests

from esp.dotdigital.campaigns import CampaignReports
from esp.dotdigital.sandbox import DEMO_API_USER
from syncapp.adapters import TransportError
from tests.esp.dotdigital_contract import check_exchange
from tests.esp.dotdigital_support import PASSWORD, world

SINCE = datetime(2026, 11, 1, tzinfo=UTC)


def _fill(sandbox) -> None:
    sandbox.campaigns.add_campaign(7, "Autumn")
    sandbox.campaigns.add_click(7, "a@example.com", datetime(2026, 11, 2, 10, tzinfo=UTC))
    sandbox.campaigns.add_open(7, "b@example.com", datetime(2026, 11, 2, 11, tzinfo=UTC))
    sandbox.campaigns.add_send(7, "c@example.com", datetime(2026, 11, 2, 9, tzinfo=UTC))
    sandbox.campaigns.add_order(7, datetime(2026, 11, 3, tzinfo=UTC), Decimal("19.99"))


def test_every_campaign_exchange_matches_the_published_document():
    with world() as w:
        _fill(w.sandbox)
        reports = CampaignReports(w.client(), page_size=1)
        for read in (reports.campaigns_with_activity_since,):
            assert [row["id"] for page in read(SINCE) for row in page.rows] == [7]
        for read in (reports.activities_since, reports.clicks_since, reports.opens_since):
            list(read(7, SINCE))
        reports.summary(7)
        assert reports.revenue_since(7, SINCE)["revenue"] == 19.99
        with pytest.raises(TransportError) as missing:
            reports.summary(999)
        assert (missing.value.status, missing.value.reason_code) == (404, "ERROR_CAMPAIGN_NOT_FOUND")
        assert len(w.sandbox.exchanges) >= 10
        for exchange in w.sandbox.exchanges:
            check_exchange(exchange)


@pytest.mark.parametrize("query", ["select=0", "select=1001", "skip=-1", "select=ten"])
def test_select_is_one_to_a_thousand_and_skip_not_negative(query):
    with world() as w:
        _fill(w.sandbox)
        answer = requests.get(f"{w.server.url}/r1/v2/campaigns/7/clicks/since-date/2026-11-01?{query}",
                              auth=(DEMO_API_USER, PASSWORD))
        assert answer.status_code == 400 and answer.json()["message"].endswith("ERROR_PARAMETER_INVALID")


def test_skip_pages_without_repeating_or_losing_a_row():
    with world() as w:
        w.sandbox.campaigns.add_campaign(7, "Autumn")
        for n in range(7):
            w.sandbox.campaigns.add_click(7, f"c{n}@example.com", datetime(2026, 11, 2, n, tzinfo=UTC))
        pages = list(CampaignReports(w.client(), page_size=3).clicks_since(7, SINCE))
        assert [len(p.rows) for p in pages] == [3, 3, 1]
        assert [r["email"] for p in pages for r in p.rows] == [f"c{n}@example.com" for n in range(7)]


def test_a_date_is_a_date_or_a_date_time_and_after_means_strictly_later():
    with world() as w:
        _fill(w.sandbox)
        auth = (DEMO_API_USER, PASSWORD)
        base = f"{w.server.url}/r1/v2/campaigns/7/clicks/since-date"
        assert len(requests.get(f"{base}/2026-11-02", auth=auth).json()) == 1
        assert requests.get(f"{base}/2026-11-02T10:00:00Z", auth=auth).json() == []
        assert requests.get(f"{base}/yesterday", auth=auth).status_code == 400


def test_campaign_reports_need_the_api_user_the_region_and_the_rate_limit():
    with world(calls_per_minute=1) as w:
        _fill(w.sandbox)
        url = "/v2/campaigns/with-activity-since/2026-11-01"
        assert requests.get(f"{w.server.url}/r1{url}", auth=(DEMO_API_USER, "wrong")).status_code == 401
        assert requests.get(f"{w.server.url}/r2{url}", auth=(DEMO_API_USER, PASSWORD)).status_code == 403
        first = requests.get(f"{w.server.url}/r1{url}", auth=(DEMO_API_USER, PASSWORD))
        assert first.status_code == 200 and first.headers["X-RateLimit-Remaining"] == "0"
        second = requests.get(f"{w.server.url}/r1{url}", auth=(DEMO_API_USER, PASSWORD))
        assert second.status_code == 429 and second.json()["message"].endswith("ERROR_APIUSAGE_EXCEEDED")
