"""Selectors: the per-campaign report of the latest attribution run, and its document rows.

Beside our figures stands what the destination claims (dotdigital's revenue endpoint).
The difference is split into parts that add up to it exactly:
- refunds it ignores: of the orders it received it counts the gross value and never hears
  of their credit memos or returns, so each refunded cent makes its figure higher;
- orders it never saw: orders we credit to the campaign that never reached it (no orders
  flow had them accepted) are missing from its figure, by their net value;
- the rest: its own rules (attribution window, last/first touch, orders it matched that
  we did not, another currency).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db.models import Count, Q, QuerySet, Sum

from .models import AttributedOrder, AttributionRun, Campaign, cents_to_decimal


@dataclass
class Explanation:
    label: str
    amount: Decimal


@dataclass
class CampaignRow:
    campaign: Campaign
    contacts_sent: int
    contacts_clicked: int
    orders: int
    gross: Decimal
    refunds: Decimal
    net: Decimal
    refunds_seen: Decimal  # refunds of the credited orders the destination received
    net_unseen: Decimal  # net of the credited orders it never received
    claimed: Decimal | None
    explanation: list[Explanation] = field(default_factory=list)

    @property
    def difference(self) -> Decimal | None:
        """The destination's claim less our net (positive: it claims more)."""
        return None if self.claimed is None else self.claimed - self.net


def attributed_rows(*, run: AttributionRun | None, campaign: Campaign | None = None,
                    date_from: date | None = None, date_to: date | None = None) -> QuerySet[AttributedOrder]:
    """The run's document rows (orders by their date), for the CSV and the drill-down."""
    rows = AttributedOrder.objects.filter(run=run).select_related("order", "campaign", "campaign__account")
    if campaign is not None:
        rows = rows.filter(campaign=campaign)
    if date_from:
        rows = rows.filter(order__doc_date__gte=date_from)
    if date_to:
        rows = rows.filter(order__doc_date__lte=date_to)
    return rows.order_by("campaign__name", "campaign_id", "order__doc_date", "order__doc_entry")


def campaign_report(*, run: AttributionRun | None, date_from: date | None = None,
                    date_to: date | None = None) -> list[CampaignRow]:
    """One row per campaign with activity, whether or not it earned anything."""
    figures = {
        row["campaign_id"]: row
        for row in attributed_rows(run=run, date_from=date_from, date_to=date_to).order_by().values("campaign_id")
        .annotate(orders=Count("order_id", distinct=True), gross=Sum("gross_cents"), refunds=Sum("refunds_cents"),
                  net=Sum("net_cents"), refunds_seen=Sum("refunds_cents", filter=Q(esp_saw_order=True)),
                  net_unseen=Sum("net_cents", filter=Q(esp_saw_order=False)))
    }
    rows = []
    for campaign in Campaign.objects.select_related("account").order_by("account__name", "-date_sent", "name"):
        figure = figures.get(campaign.pk, {})
        row = CampaignRow(
            campaign=campaign,
            contacts_sent=campaign.num_sent if campaign.num_sent is not None else campaign.contacts_with_send,
            contacts_clicked=campaign.contacts_clicked,
            orders=figure.get("orders", 0),
            gross=cents_to_decimal(figure.get("gross")),
            refunds=cents_to_decimal(figure.get("refunds")),
            net=cents_to_decimal(figure.get("net")),
            refunds_seen=cents_to_decimal(figure.get("refunds_seen")),
            net_unseen=cents_to_decimal(figure.get("net_unseen")),
            claimed=campaign.claimed_revenue,
        )
        row.explanation = explain(row)
        rows.append(row)
    return rows


def explain(row: CampaignRow) -> list[Explanation]:
    """The difference (claimed - net) in parts that add up to it exactly."""
    if row.claimed is None:
        return []
    vendor = row.campaign.account.get_kind_display()
    parts = [
        Explanation(f"Returns and credit memos {vendor} ignores (on orders it received)", row.refunds_seen),
        Explanation(f"Orders {vendor} never received (their net value)", Decimal("0.00") - row.net_unseen),
    ]
    rest = row.difference - sum((part.amount for part in parts), Decimal(0))
    currency = row.campaign.claimed_currency
    rules = f"{vendor}'s own attribution (its window and model, orders it matched that we did not"
    rules += f", its figures in {currency})" if currency else ")"
    parts.append(Explanation(rules, rest))
    return parts


def totals(rows: list[CampaignRow]) -> dict[str, Decimal | int]:
    return {
        "orders": sum(r.orders for r in rows),
        "gross": sum((r.gross for r in rows), Decimal("0.00")),
        "refunds": sum((r.refunds for r in rows), Decimal("0.00")),
        "net": sum((r.net for r in rows), Decimal("0.00")),
    }
