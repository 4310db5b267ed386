"""The consent tests' hubs: C001 at each sandbox with the ERP's opt-in, and what was sent."""
from __future__ import annotations

import json

from syncapp.services import connection_pull
from tests.hub import Hub, partner
from tests.test_end_to_end_ometria import OmetriaHub


def dotdigital_hub() -> Hub:
    """C001 at the dotdigital sandbox, with the ERP's opt-in."""
    hub = Hub()
    hub.sap.add_business_partners([partner("C001", CardName="Jane Doe", U_MarketingConsent="Y")])
    hub.sync()
    assert hub.dd.contacts["c001@example.com"]["dataFields"]["MARKETINGCONSENT"] is True
    return hub


def ometria_hub() -> OmetriaHub:
    """C001 at the Ometria sandbox, the account set to force the ERP's opt-in: the case that
    could subscribe a contact again (without it Ometria's opt-outs win over an opt-in)."""
    hub = OmetriaHub()
    hub.om_account.options = {**hub.om_account.options, "force_optin": True}
    hub.om_account.save()
    hub.sap.add_business_partners([partner("C001", CardName="Jane Doe", U_MarketingConsent="Y")])
    pull_and_push_ometria(hub)
    assert hub.contact("C001")["marketing_optin"] == "EXPLICITLY_OPTEDIN"
    return hub


def pull_and_push_ometria(hub) -> None:
    connection_pull(connection=hub.connection)
    hub.push_ometria("customers")


def sent_to_dotdigital(hub, email: str) -> list[dict]:
    """Every contact body the hub sent for `email`: import rows, and single upserts (PATCH)."""
    sent = []
    for exchange in hub.dd.exchanges:
        if exchange.method == "PUT" and exchange.path.endswith("/contacts/v3/import"):
            sent += [row for row in json.loads(exchange.request_body)["contacts"]
                     if row["identifiers"]["email"] == email]
        elif exchange.method == "PATCH" and exchange.path.endswith(f"/email/{email}"):
            sent.append(json.loads(exchange.request_body))
    return sent
