"""Importing campaign activity from the dotdigital sandbox over a real socket: paging with
select/skip, incremental since-dates, a 429 honoured, and an import that resumes."""
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import requests
from django.utils import timezone

from esp.dotdigital.campaigns import CampaignReports
from esp.dotdigital.sandbox import DEMO_API_USER
from reports.campaigns.dotdigital_import import OVERLAP, activity_import_dotdigital
from reports.campaigns.models import ActivityImport, Campaign, Touch
from syncapp.adapters import TransportError
from tests.esp.dotdigital_support import PASSWORD, world
from tests.factories import EspAccountFactory

pytestmark = pytest.mark.django_db

SINCE = datetime(2026, 11, 1, tzinfo=UTC)


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def _campaigns(sandbox) -> None:
    state = sandbox.campaigns
    state.add_campaign(101, "November sale")
    state.add_campaign(102, "Black Friday")
    state.add_campaign(103, "Never opened")
    for n in range(5):  # five contacts click 101: three pages of two
        state.add_click(101, f"buyer{n}@example.com", at(2 + n))
    state.add_open(101, "Buyer0@Example.com", at(2, 9))
    state.add_click(102, "buyer1@example.com", at(20))
    state.add_send(103, "quiet@example.com", at(3))
    state.add_order(101, at(3), Decimal("120.50"))
    state.add_order(101, at(4), Decimal("80.25"))


def test_an_import_reads_every_page_and_the_claimed_revenue():
    with world() as w:
        _campaigns(w.sandbox)
        account = EspAccountFactory(name="dd-campaigns")
        job = activity_import_dotdigital(account=account, reports=CampaignReports(w.client(), page_size=2),
                                         since=SINCE)
        assert job.status == ActivityImport.Status.FINISHED, job.error
        paths = [(path, status) for _, path, status in w.sandbox.call_log]
        clicks = [p for p, _ in paths if p.startswith("/v2/campaigns/101/clicks/since-date/")]
        assert len(clicks) == 3  # 2 + 2 + 1: the short page ends the list
        queries = [e.query for e in w.sandbox.exchanges if e.path.startswith("/v2/campaigns/101/clicks")]
        assert queries == ["select=2&skip=0", "select=2&skip=2", "select=2&skip=4"]
        sale = Campaign.objects.get(account=account, external_id="101")
        assert sale.name == "November sale" and sale.num_sent == 5 and sale.contacts_clicked == 5
        assert (sale.claimed_revenue, sale.claimed_orders, sale.claimed_currency) == (Decimal("200.75"), 2, "GBP")
        assert Touch.objects.filter(campaign=sale, kind="click").count() == 5
        assert set(Touch.objects.filter(campaign=sale, kind="open").values_list("contact_key", flat=True)) == {
            "buyer0@example.com"}  # lower-cased, as orders meet it
        assert Touch.objects.filter(campaign=sale, kind="send").count() == 5
        assert not Campaign.objects.filter(external_id="103").exists()  # no activity since the date


def test_the_next_import_starts_where_the_last_one_began():
    with world() as w:
        _campaigns(w.sandbox)
        account = EspAccountFactory(name="dd-campaigns")
        reports = CampaignReports(w.client(), page_size=2)
        first = activity_import_dotdigital(account=account, reports=reports, since=SINCE)
        held, before = Touch.objects.count(), len(w.sandbox.exchanges)
        later = timezone.now() + timedelta(minutes=5)
        w.sandbox.campaigns.add_click(102, "late@example.com", later)
        second = activity_import_dotdigital(account=account, reports=reports)
        assert second.since == first.started_at - OVERLAP
        assert second.status == ActivityImport.Status.FINISHED
        assert Touch.objects.count() == held + 2  # the new click and its contact's send
        paths = [e.path for e in w.sandbox.exchanges[before:]]
        stamp = second.since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert paths[0] == f"/v2/campaigns/with-activity-since/{stamp}"
        # 101 had nothing since then: only 102 is read again.
        assert not [p for p in paths if p.startswith("/v2/campaigns/101/")]
        assert f"/v2/campaigns/102/clicks/since-date/{stamp}" in paths


def test_a_429_is_honoured_and_nothing_is_lost():
    with world(calls_per_minute=4) as w:
        _campaigns(w.sandbox)
        for _ in range(4):  # another worker spends the minute's allowance
            requests.get(f"{w.server.url}/r1/v2/account-info", auth=(DEMO_API_USER, PASSWORD))
        job = activity_import_dotdigital(account=EspAccountFactory(name="dd-campaigns"),
                                         reports=CampaignReports(w.client(), page_size=2), since=SINCE)
        statuses = [status for _, _, status in w.sandbox.call_log]
        assert statuses[4] == 429  # the import's first call was refused ...
        assert w.throttle.deferred and w.clock.sleeps  # ... every worker paused, and this one waited
        assert job.status == ActivityImport.Status.FINISHED
        assert Touch.objects.filter(kind="click").count() == 6


class FailsOnce(CampaignReports):
    """dotdigital fails while reading campaign 102's clicks, once."""

    failed = False

    def clicks_since(self, campaign_id, since):
        if campaign_id == 102 and not self.failed:
            FailsOnce.failed = True
            raise TransportError("dotdigital kept answering 'too many requests'", permanent=False, status=429)
        return super().clicks_since(campaign_id, since)


def test_a_stopped_import_resumes_with_the_campaigns_not_yet_read():
    with world() as w:
        _campaigns(w.sandbox)
        account = EspAccountFactory(name="dd-campaigns")
        reports = FailsOnce(w.client(), page_size=2)
        stopped = activity_import_dotdigital(account=account, reports=reports, since=SINCE)
        assert stopped.status == ActivityImport.Status.FAILED and "too many requests" in stopped.error
        assert stopped.campaigns_done == [101]
        calls_before = len(w.sandbox.call_log)
        resumed = activity_import_dotdigital(account=account, reports=reports)
        assert resumed.pk == stopped.pk and resumed.since == SINCE
        assert resumed.status == ActivityImport.Status.FINISHED and resumed.campaigns_done == [101, 102]
        again = [path for _, path, _ in w.sandbox.call_log[calls_before:]]
        assert not [p for p in again if p.startswith("/v2/campaigns/101/")]  # 101 was done
        assert Touch.objects.filter(campaign__external_id="102", kind="click").count() == 1


def test_the_task_imports_through_the_accounts_own_bucket_and_attributes(redis_url, settings):
    from reports.campaigns.models import AttributionRun
    from reports.campaigns.tasks import campaign_activity_import_task
    from tests.esp.dotdigital_support import account_for

    settings.REDIS_URL = redis_url
    with world() as w:
        w.sandbox.campaigns.add_campaign(5, "This week")
        w.sandbox.campaigns.add_click(5, "recent@example.com", timezone.now() - timedelta(days=2))
        account = account_for(w.server, calls_per_minute=600)
        account.save()
        campaign_activity_import_task(account.pk)
        job = ActivityImport.objects.get(account=account)
        assert job.status == ActivityImport.Status.FINISHED and job.since < timezone.now() - timedelta(days=80)
        assert Touch.objects.filter(campaign__external_id="5", kind="click").count() == 1
        assert AttributionRun.latest_finished() is not None
