"""Each contact's engagement from the campaign activity held: windows, last dates and campaign."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engagement.email_status import email_statuses
from engagement.measures import engagement_by_email
from reports.campaigns.models import Campaign, Touch
from reports.campaigns.touches import day_number
from tests.factories import ErpConnectionFactory, EspAccountFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def _touch(campaign, kind, email, days_ago, hour=10):
    moment = NOW.replace(hour=hour) - timedelta(days=days_ago)
    Touch.objects.create(campaign=campaign, kind=kind, contact_key=email, occurred_at=moment, day=day_number(moment))


def test_opens_and_clicks_are_counted_in_whole_day_windows():
    account = EspAccountFactory(name="dd-engagement")
    sale = Campaign.objects.create(account=account, external_id="1", name="Autumn sale")
    knit = Campaign.objects.create(account=account, external_id="2", name="Winter knitwear")
    for days_ago in (0, 29, 30, 89, 90):  # 0 and 29 are inside the 30 days; 89 inside the 90
        _touch(sale, "open", "ann@example.com", days_ago)
    _touch(knit, "click", "ann@example.com", 3)
    _touch(knit, "send", "ann@example.com", 0, hour=11)  # the latest touch names the last campaign
    other = Campaign.objects.create(account=EspAccountFactory(name="dd-elsewhere"), external_id="3", name="Not ours")
    _touch(other, "click", "ann@example.com", 0, hour=12)  # another account's activity is not counted
    found = engagement_by_email(accounts=[account], emails=["ann@example.com", "nobody@example.com"], now=NOW)
    assert found == {"ann@example.com": {
        "last_open": "2026-12-04", "last_click": "2026-12-01", "opens_30": 2, "opens_90": 4, "clicks_30": 1,
        "clicks_90": 1, "last_campaign": "Winter knitwear"}}


def test_an_email_status_comes_from_the_consent_read_back():
    from consent.models import ConsentState

    connection, account = ErpConnectionFactory(), EspAccountFactory(name="dd-consent")
    ConsentState.objects.create(connection=connection, card_code="C2", destination=account, status="hard_bounced",
                                changed_at=NOW)
    ConsentState.objects.create(connection=connection, card_code="C3", destination=account, status="unsubscribed",
                                changed_at=NOW)
    assert email_statuses(connection=connection, card_codes=["C1", "C2", "C3"]) == {
        "C1": "subscribed", "C2": "bounced", "C3": "unsubscribed"}
