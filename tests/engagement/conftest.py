"""A hub on both sandboxes with the engagement write-back switched on, and a campaign click helper."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from engagement.models import WriteBackSettings
from tests.hub import Hub, partner

CAMPAIGN = 201
CAMPAIGN_NAME = "Winter knitwear"


class EngagementHub(Hub):
    """Two customers already contacts at dotdigital; campaign 201 sent."""

    def __init__(self):
        super().__init__()
        WriteBackSettings.objects.create(connection=self.connection)
        self.sap.add_business_partners([partner("C001"), partner("C002")])
        self.sync()
        self.dd.campaigns.add_campaign(CAMPAIGN, CAMPAIGN_NAME)
        self.account.calls_per_minute = 100_000  # the activity import's own bucket: no waiting in tests
        self.account.save()
        self.sap.request_log.clear()

    def click(self, email: str = "c001@example.com", *, minutes_ago: int = 5) -> None:
        """The contact clicks the campaign at the sandbox dotdigital."""
        self.dd.campaigns.add_click(CAMPAIGN, email, timezone.now() - timedelta(minutes=minutes_ago))

    def sap_writes(self) -> list[tuple[str, str]]:
        """(method, path) of every write SAP received ($batch requests and the PATCHes inside)."""
        return [(method, path) for method, path, _ in self.sap.request_log if method in ("PATCH", "POST")
                and not path.endswith(("/Login", "/Logout"))]


@pytest.fixture
def hub(db):
    hub = EngagementHub()
    yield hub
    hub.close()
