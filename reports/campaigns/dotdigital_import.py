"""Import campaign activity from dotdigital, incrementally, resuming where it stopped.

One import asks for the campaigns with activity since `since`, then for each campaign
its summary (contacts sent), per-contact activity (each contact's send), clicks, opens,
and dotdigital's own claimed revenue. Each campaign fully read is noted in the import
row, so an import stopped by a rate limit or an outage resumes with the same `since`
and the campaigns not yet done. The next import starts where the last finished one
began, less a margin for events dotdigital records late; touches already held are not
added twice.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

from esp.dotdigital.campaigns import CampaignReports, money, parse_date
from esp.dotdigital.client import DotdigitalClient, base_url_for, mask_emails
from syncapp.adapters import TransportError

from .models import ActivityImport, Campaign, Touch
from .touches import RowRefused, audience_refresh, row_refuse, touch, touches_store

logger = logging.getLogger(__name__)

OVERLAP = timedelta(hours=1)
FIRST_IMPORT_DAYS = 90


def reports_for(account) -> CampaignReports:
    """The account's campaign reporting, through the same shared token bucket as its pushes."""
    from esp.dotdigital.adapter import DEFAULT_CALLS_PER_MINUTE
    from syncapp.ratelimit import throttle_for

    rate = account.calls_per_minute or DEFAULT_CALLS_PER_MINUTE
    client = DotdigitalClient(base_url_for(account.region, account.base_url), account.api_user, account.password(),
                              throttle=throttle_for(account, rate))
    return CampaignReports(client)


def _next_since(account, now: datetime) -> datetime:
    last = (ActivityImport.objects.filter(account=account, source=ActivityImport.Source.DOTDIGITAL,
                                          status=ActivityImport.Status.FINISHED)
            .order_by("-started_at").first())
    return last.started_at - OVERLAP if last else now - timedelta(days=FIRST_IMPORT_DAYS)


def activity_import_dotdigital(*, account, reports: CampaignReports | None = None,
                               since: datetime | None = None) -> ActivityImport:
    """Import (or resume importing) the account's campaign activity. Never raises for the
    vendor: a failure is kept on the import row (status "failed") and resumed next time.
    Raises ImportInProgress when another import of the account is running."""
    with import_lock(account) as acquired:
        if not acquired:
            raise ImportInProgress(f"An import of {account.name}'s campaign activity is already running.")
        return _import(account, reports or reports_for(account), since)


class ImportInProgress(Exception):
    """Another process is importing this account's activity; this one did nothing."""


@contextmanager
def import_lock(account) -> Iterator[bool]:
    """One import per account at a time (the engine's pull locks, under another name)."""
    from syncapp.locks import _file_lock, _postgres_lock

    lock = _postgres_lock if connection.vendor == "postgresql" else _file_lock
    with lock(f"campaigns:import:{account.pk}") as acquired:
        yield acquired


def _import(account, reports: CampaignReports, since: datetime | None) -> ActivityImport:
    unfinished = (ActivityImport.objects.filter(account=account, source=ActivityImport.Source.DOTDIGITAL)
                  .exclude(status=ActivityImport.Status.FINISHED).order_by("-started_at").first())
    if unfinished is not None and since is None:
        job = unfinished
        job.status, job.error = ActivityImport.Status.RUNNING, ""
        job.save(update_fields=["status", "error"])
    else:
        job = ActivityImport.objects.create(account=account, source=ActivityImport.Source.DOTDIGITAL,
                                            since=since or _next_since(account, timezone.now()))
    try:
        campaigns = [row for page in reports.campaigns_with_activity_since(job.since) for row in page.rows]
        job.pages_read += 1
        for row in campaigns:
            if row.get("id") in job.campaigns_done:
                continue
            _campaign_import(job, reports, row)
            job.campaigns_done = [*job.campaigns_done, row.get("id")]
            job.save()
    except TransportError as error:
        job.status, job.error = ActivityImport.Status.FAILED, mask_emails(str(error))[:2000]
        job.save()
        logger.warning("dotdigital campaign import for %s stopped: %s", account.name, job.error)
        return job
    job.status, job.finished_at = ActivityImport.Status.FINISHED, timezone.now()
    job.save()
    return job


def _campaign_import(job: ActivityImport, reports: CampaignReports, row: dict) -> None:
    campaign_id = int(row["id"])
    summary = reports.summary(campaign_id)
    campaign, _ = Campaign.objects.update_or_create(
        account=job.account, external_id=str(campaign_id),
        defaults={"name": str(row.get("name") or "")[:255], "subject": str(row.get("subject") or "")[:255],
                  "status": str(row.get("status") or "")[:40], "num_sent": summary.get("numSent"),
                  "date_sent": parse_date(summary.get("dateSent"))})
    streams = (
        (reports.activities_since, Touch.Kind.SEND, "dateSent"),
        (reports.clicks_since, Touch.Kind.CLICK, "dateClicked"),
        (reports.opens_since, Touch.Kind.OPEN, "dateOpened"),
    )
    for read, kind, stamp in streams:
        for page in read(campaign_id, job.since):
            job.pages_read += 1
            found = []
            for index, item in enumerate(page.rows):
                job.rows_read += 1
                try:
                    found.append(touch(campaign, kind, item.get("email"), parse_date(item.get(stamp)),
                                       contact_id=item.get("contactId"), url=item.get("url")))
                except RowRefused as refusal:
                    row_refuse(job, page.skip + index + 1,
                               f"dotdigital campaign {campaign_id}, {kind}: {refusal}", item)
            job.rows_added += touches_store(found)
    claimed_since = campaign.date_sent or job.since
    claimed = reports.revenue_since(campaign_id, claimed_since - timedelta(days=1))
    campaign.claimed_revenue = money(claimed.get("revenue"))
    campaign.claimed_orders = claimed.get("numOrders")
    campaign.claimed_currency = str(claimed.get("currency") or "")[:10]
    campaign.claimed_since, campaign.claimed_read_at = claimed_since - timedelta(days=1), timezone.now()
    campaign.save(update_fields=["claimed_revenue", "claimed_orders", "claimed_currency", "claimed_since",
                                 "claimed_read_at", "updated_at"])
    audience_refresh([campaign.pk])
