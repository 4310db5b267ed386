"""The nightly reconciliation mailed to finance: the previous day and the month to date,
each destination on its own, with the differences attached as CSV."""
from __future__ import annotations

import csv
import io
import logging
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.utils import timezone

from .destination_side import READ_BACK_KINDS, read_back_orders
from .periods import Period, month_to_date, previous_day
from .reconcile import FlowReconciliation, orders_flows, reconciliation

log = logging.getLogger(__name__)


def _differences_csv(results: list[FlowReconciliation]) -> str:
    from .csv_export import _differences

    out = io.StringIO()
    writer = csv.writer(out)
    for row in _differences(results, lambda result: result.differences):
        writer.writerow(row)
    return out.getvalue()


def nightly_reconciliation_send(*, today=None) -> EmailMessage | None:
    """Read back what can be listed (a failed read is said in the mail, and the previous
    snapshot is used), reconcile both periods, and mail finance (SYNC_ALERT_EMAILS
    ["finance"]). Returns the message, or None when finance has no address."""
    today = today or timezone.localdate()
    flows = orders_flows()
    for flow in flows:
        if flow.enabled and flow.destination.kind in READ_BACK_KINDS:
            try:
                read_back_orders(flow=flow)
            except Exception:  # recorded on the ReadBack row and shown in the report
                log.warning("Nightly read-back of %s failed", flow.destination.name, exc_info=True)
    periods: list[tuple[str, Period]] = [("Yesterday", previous_day(today)), ("Month to date", month_to_date(today))]
    reports = [(title, period, reconciliation(period=period, flows=flows)) for title, period in periods]
    recipients = settings.SYNC_ALERT_EMAILS.get("finance") or []
    if not recipients:
        log.info("Nightly reconciliation: no finance address (SYNC_ALERT_EMAILS_FINANCE); nothing mailed")
        return None
    differing = sum(len(result.differences) for _, _, results in reports for result in results)
    subject = (f"Reconciliation {today - timedelta(days=1):%Y-%m-%d}: "
               + (f"{differing} difference(s)" if differing else "clean"))
    body = render_to_string("reports/nightly_mail.txt", {"reports": reports, "today": today})
    message = EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
    for _, period, results in reports:
        message.attach(f"differences_{period.slug}.csv", _differences_csv(results), "text/csv")
    message.send()
    return message
