"""Email campaigns and their reporting (v2 `/v2/campaigns/...`) as a dotdigital sandbox holds them.

Served (shapes from the v2 swagger, V2SW, and the campaigns spec, CAMP):
- GET /v2/campaigns/with-activity-since/{date}: sent campaigns (ApiCampaign) with an open
  or a click after `date`, by id;
- GET /v2/campaigns/{id}/activities/since-date/{date}: ApiCampaignContactSummary of each
  contact sent the campaign with an open or click after `date`;
- GET /v2/campaigns/{id}/clicks/since-date/{date} (ApiCampaignContactClick) and
  /opens/since-date/{date} (ApiCampaignContactOpen), oldest first;
- GET /v2/campaigns/{id}/summary (ApiCampaignSummary, the counters this sandbox tracks);
- GET /v2/campaigns/{id}/revenue/since-date/{date} (ApiCampaignRevenueAttributionDetail).
Paging: `select` 1..1000 (default 1000) and `skip` >= 0; anything else is 400
ERROR_PARAMETER_INVALID. Lists are in a stable order, so skip paging never repeats or
loses a row while nothing is added. `date` is ISO 8601, a date or a date-time (the two
specs disagree); "after" is strictly later. An unknown campaign is 404
ERROR_CAMPAIGN_NOT_FOUND (the code is inferred from the ERROR_<THING>_NOT_FOUND family).
The claimed revenue is what the test put in with `add_order`: like dotdigital, it knows
only the orders it was told about and never hears of returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from .state import SandboxError

MAX_SELECT = 1000


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _param_date(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise SandboxError(400, "ERROR_PARAMETER_INVALID",
                           f"The date '{value}' is not a valid ISO 8601 date.") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _paging(query: dict[str, list[str]]) -> tuple[int, int]:
    try:
        select = int((query.get("select") or ["1000"])[0])
        skip = int((query.get("skip") or ["0"])[0])
    except ValueError:
        raise SandboxError(400, "ERROR_PARAMETER_INVALID", "select and skip must be whole numbers.") from None
    if not 1 <= select <= MAX_SELECT or skip < 0:
        raise SandboxError(400, "ERROR_PARAMETER_INVALID",
                           "select must be between 1 and 1000. skip must not be negative.")
    return select, skip


@dataclass
class SandboxCampaign:
    id: int
    name: str
    subject: str
    status: str = "Sent"
    sends: dict[str, datetime] = field(default_factory=dict)  # email -> dateSent
    opens: list[dict[str, Any]] = field(default_factory=list)
    clicks: list[dict[str, Any]] = field(default_factory=list)
    orders: list[tuple[datetime, Decimal]] = field(default_factory=list)

    def api(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "subject": self.subject, "fromName": "Sandbox",
                "fromAddress": {"id": 1, "email": "news@sandbox.example"},
                # The v2 swagger requires non-empty content (the campaigns spec's example shows null).
                "htmlContent": f"<p>{self.name}</p>", "plainTextContent": self.name, "replyAction": "Unset",
                "replyToAddress": None, "isSplitTest": False, "status": self.status}


@dataclass
class CampaignState:
    """In-memory campaigns. Callers hold the sandbox lock."""

    currency: str = "GBP"
    campaigns: dict[int, SandboxCampaign] = field(default_factory=dict)
    contact_ids: dict[str, int] = field(default_factory=dict)

    # ------------------------------------------------------------ test hooks

    def add_campaign(self, campaign_id: int, name: str, subject: str = "", status: str = "Sent") -> None:
        self.campaigns[campaign_id] = SandboxCampaign(campaign_id, name, subject or name, status)

    def contact_id(self, email: str) -> int:
        return self.contact_ids.setdefault(email.lower(), 2_000_001 + len(self.contact_ids))

    def add_send(self, campaign_id: int, email: str, at: datetime) -> None:
        self.campaigns[campaign_id].sends.setdefault(email.lower(), at)

    def add_open(self, campaign_id: int, email: str, at: datetime) -> None:
        self.add_send(campaign_id, email, at)
        self.campaigns[campaign_id].opens.append({
            "contactId": self.contact_id(email), "email": email, "mailClient": "Sandbox Mail",
            "mailClientVersion": "1", "ipAddress": "192.0.2.1", "userAgent": "sandbox", "isHtml": True,
            "isForward": False, "dateOpened": at})

    def add_click(self, campaign_id: int, email: str, at: datetime, url: str = "https://shop.example/") -> None:
        self.add_send(campaign_id, email, at)
        self.campaigns[campaign_id].clicks.append({
            "contactId": self.contact_id(email), "email": email, "url": url, "ipAddress": "192.0.2.1",
            "userAgent": "sandbox", "dateClicked": at, "keyword": ""})

    def add_order(self, campaign_id: int, at: datetime, amount: Decimal) -> None:
        """An order dotdigital's ROI tracking attributed to the campaign (its own claim)."""
        self.campaigns[campaign_id].orders.append((at, Decimal(amount)))

    # ------------------------------------------------------------ routes

    def route(self, method: str, parts: list[str], query: dict[str, list[str]]) -> tuple[int, Any]:
        """`parts` after /v2/campaigns."""
        if method != "GET":
            raise SandboxError(405, "ERROR_METHOD_NOT_ALLOWED", f"{method} is not allowed here.")
        if len(parts) == 2 and parts[0] == "with-activity-since":
            return 200, self._page([c.api() for c in self._active_since(_param_date(parts[1]))], query)
        if not parts or not parts[0].isdigit():
            raise SandboxError(404, "ERROR_RESOURCE_NOT_FOUND", "No such resource.")
        campaign = self.campaigns.get(int(parts[0]))
        if campaign is None:
            raise SandboxError(404, "ERROR_CAMPAIGN_NOT_FOUND", "Campaign not found.")
        rest = parts[1:]
        if rest == ["summary"]:
            return 200, self._summary(campaign)
        if len(rest) == 3 and rest[1] == "since-date":
            since = _param_date(rest[2])
            if rest[0] == "activities":
                return 200, self._page(self._activities(campaign, since), query)
            if rest[0] == "clicks":
                return 200, self._page(_after(campaign.clicks, "dateClicked", since), query)
            if rest[0] == "opens":
                return 200, self._page(_after(campaign.opens, "dateOpened", since), query)
            if rest[0] == "revenue":
                return 200, self._revenue(campaign, since)
        raise SandboxError(404, "ERROR_RESOURCE_NOT_FOUND", "No such resource.")

    def _page(self, rows: list[dict[str, Any]], query: dict[str, list[str]]) -> list[dict[str, Any]]:
        select, skip = _paging(query)
        return rows[skip: skip + select]

    def _active_since(self, since: datetime) -> list[SandboxCampaign]:
        def active(c: SandboxCampaign) -> bool:
            return any(o["dateOpened"] > since for o in c.opens) or any(k["dateClicked"] > since for k in c.clicks)

        return [c for _, c in sorted(self.campaigns.items()) if c.status == "Sent" and active(c)]

    def _activities(self, campaign: SandboxCampaign, since: datetime) -> list[dict[str, Any]]:
        rows = []
        for email, sent in sorted(campaign.sends.items(), key=lambda item: self.contact_id(item[0])):
            opens = [o["dateOpened"] for o in campaign.opens if o["email"].lower() == email]
            clicks = [k["dateClicked"] for k in campaign.clicks if k["email"].lower() == email]
            if not any(moment > since for moment in opens + clicks):
                continue
            row = {
                "contactId": self.contact_id(email), "email": email, "numOpens": len(opens), "numPageViews": 0,
                "numClicks": len(clicks), "numForwards": 0, "numEstimatedForwards": 0, "numReplies": 0,
                "dateSent": _iso(sent), "firstOpenIp": "192.0.2.1" if opens else "", "unsubscribed": False,
                "softBounced": False, "hardBounced": False}
            if opens:  # the open dates are not nullable in the swagger: left out when there is none
                row.update(dateFirstOpened=_iso(min(opens)), dateLastOpened=_iso(max(opens)))
            rows.append(row)
        return rows

    def _summary(self, campaign: SandboxCampaign) -> dict[str, Any]:
        clicked = {k["email"].lower() for k in campaign.clicks}
        opened = {o["email"].lower() for o in campaign.opens}
        sent = min(campaign.sends.values()) if campaign.sends else None
        summary = {"numUniqueOpens": len(opened),
                "numOpens": len(campaign.opens), "numClicks": len(campaign.clicks),
                "numTotalClicks": len(campaign.clicks), "numRecipientsClicked": len(clicked),
                "numSent": len(campaign.sends), "numTotalSent": len(campaign.sends),
                "numDelivered": len(campaign.sends), "numUnsubscribes": 0, "numHardBounces": 0,
                "numSoftBounces": 0}
        if sent:
            summary["dateSent"] = _iso(sent)
        return summary

    def _revenue(self, campaign: SandboxCampaign, since: datetime) -> dict[str, Any]:
        orders = [amount for at, amount in campaign.orders if at > since]
        clicked = len({k["email"].lower() for k in campaign.clicks}) or 1
        sent = max(campaign.sends.values()) if campaign.sends else None
        # A JSON number, as dotdigital sends it (the example shows 233498.94361681378).
        answer = {"campaignID": campaign.id, "currency": self.currency, "revenue": float(sum(orders, Decimal(0))),
                  "numOrders": len(orders), "conversionRate": round(100.0 * len(orders) / clicked, 6)}
        if sent:
            answer["dateLastSent"] = _iso(sent)
        return answer


def _after(events: list[dict[str, Any]], stamp: str, since: datetime) -> list[dict[str, Any]]:
    rows = sorted((e for e in events if e[stamp] > since), key=lambda e: (e[stamp], e["contactId"]))
    return [{**e, stamp: _iso(e[stamp])} for e in rows]
