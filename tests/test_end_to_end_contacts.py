"""B2B contact persons end to end: SAP B1 ContactEmployees -> engine -> dotdigital and Ometria.

A company (a Business Partner) with several buyers: each buyer is a contact of their own,
keyed `<CardCode>#<InternalCode>`, carrying the company's CardCode and order figures; an
order naming a buyer (ContactPersonCode) is theirs at both destinations.
"""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.contrib import admin

from erp.admin import ErpConnectionAdmin
from erp.models import ContactPerson, ErpConnection
from esp.models import FieldMapping
from exceptions.conflicts import conflict_resolve
from exceptions.models import DuplicateEmailConflict, SyncException
from exceptions.views_queries import conflict_partners, source_record_for
from syncapp.celery import app as celery_app
from syncapp.models import Flow, OutboxItem
from syncapp.services import connection_pull, flow_push
from tests.hub import partner
from tests.test_end_to_end_ometria import OmetriaHub

pytestmark = pytest.mark.django_db

BUYERS = [
    {"FirstName": "Anna", "LastName": "Archer", "E_Mail": "anna@acme.example", "Position": "Buyer"},
    {"FirstName": "Ben", "LastName": "Baker", "E_Mail": "Ben@Acme.example"},
    {"FirstName": "Cleo", "LastName": "Cole", "E_Mail": "cleo@acme.example", "BlockSendingMarketingContent": "tYES"},
]


class ContactsHub(OmetriaHub):
    """SAP B1 with dotdigital (customers and orders) and Ometria (customers and orders)."""

    def __init__(self):
        super().__init__()
        self.dd_orders = Flow.objects.create(name="dd-orders", connection=self.connection, destination=self.account,
                                             entity="orders")

    def pull(self):
        for entity in ("business_partners", "orders", "deliveries", "credit_notes"):
            connection_pull(connection=self.connection, entity=entity)

    def cycle(self):
        self.pull()
        for flow in (self.flow, self.dd_orders, self.flow):  # customers, their orders, then the figures
            flow_push(flow=flow, adapter=self.destination())
        for entity in ("customers", "orders", "customers"):
            self.push_ometria(entity)

    def company(self, code="C001", buyers=BUYERS, **fields):
        self.sap.add_business_partners([partner(code, CardName="Acme Ltd", EmailAddress="buying@acme.example",
                                                ContactEmployees=[dict(b) for b in buyers], **fields)])
        return {f"{p['FirstName']}": p["InternalCode"] for p in self.sap.partners[code]["ContactEmployees"]}

    def om_contacts(self) -> dict:
        return {c["customer_id"]: c for c in self.om.records("contact").values()}

    def dd_contact(self, email: str) -> dict:
        return self.dd.contacts[email]

    def dd_order_owner(self, entry: int) -> str:
        self.dd.insight_collections  # noqa: B018 (settles the imports that are due)
        owner = self.dd.insight.collections["Orders"]["records"][str(entry)]["ownerContactId"]
        return next(email for email, contact in self.dd.contacts.items() if contact["contactId"] == owner)


@pytest.fixture
def hub():
    hub = ContactsHub()
    yield hub
    hub.close()


def _order(hub, card_code, web_ref, value, **header):
    return hub.sap.add_document("orders", {
        "CardCode": card_code, "NumAtCard": web_ref, "DocDate": "2026-11-20", "DocDueDate": "2026-11-25",
        "DocumentLines": [{"LineNum": 0, "ItemCode": "1001", "ItemDescription": "Cushion", "Quantity": 1,
                           "Price": value, "WarehouseCode": "01"}]} | header)["DocEntry"]


def test_a_company_with_three_contact_persons_becomes_three_contacts_with_its_figures_at_both_destinations(hub):
    codes = hub.company()
    _order(hub, "C001", "WEB-1", 120.0)
    hub.cycle()

    keys = {name: f"C001#{code}" for name, code in codes.items()}
    emails = {"Anna": "anna@acme.example", "Ben": "ben@acme.example", "Cleo": "cleo@acme.example"}
    for name, email in emails.items():
        fields = hub.dd_contact(email)["dataFields"]
        assert fields["CARDCODE"] == "C001"  # linked to the company
        assert fields["ORDERCOUNT"] == 1 and fields["LIFETIMEVALUE"] == 120.0  # the company's figures
        assert fields["FULLNAME"].startswith(name)
    assert hub.dd_contact("anna@acme.example")["dataFields"]["MARKETINGCONSENT"] is True
    assert hub.dd_contact("cleo@acme.example")["dataFields"]["MARKETINGCONSENT"] is False  # blocked in SAP
    assert hub.dd_contact("buying@acme.example")["dataFields"]["CARDCODE"] == "C001"  # the main email, by default

    at_ometria = hub.om_contacts()
    assert {"C001", *keys.values()} <= set(at_ometria)
    anna = at_ometria[keys["Anna"]]
    assert anna["email"] == "anna@acme.example" and anna["firstname"] == "Anna" and anna["lastname"] == "Archer"
    assert anna["properties"]["lifetime_value"] == 120.0 and anna["properties"]["order_count"] == 1
    assert at_ometria[keys["Cleo"]]["marketing_optin"] == "EXPLICITLY_OPTEDOUT"
    assert ContactPerson.objects.filter(card_code="C001").count() == 3


def test_the_main_email_is_no_contact_when_the_connection_says_so(hub, django_capture_on_commit_callbacks):
    hub.connection.company_email_as_contact = False
    hub.connection.save()
    hub.company()
    hub.sap.add_business_partners([partner("C002")])  # a company without buyers is its own contact still
    hub.cycle()
    assert "buying@acme.example" not in hub.dd.contacts
    assert {"anna@acme.example", "ben@acme.example", "cleo@acme.example", "c002@example.com"} <= set(hub.dd.contacts)
    assert not OutboxItem.objects.filter(flow=hub.flow, record_key="C001").exists()

    # An admin turns it on: the companies are planned again at once, with no change in SAP.
    hub.connection.company_email_as_contact = True
    celery_app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            ErpConnectionAdmin(ErpConnection, admin.site).save_model(
                request=None, obj=hub.connection, form=SimpleNamespace(changed_data=["company_email_as_contact"]),
                change=True)
    finally:
        celery_app.conf.task_always_eager = False
    flow_push(flow=hub.flow, adapter=hub.destination())
    assert hub.dd_contact("buying@acme.example")["dataFields"]["CARDCODE"] == "C001"


def test_an_order_naming_a_contact_person_is_attributed_to_that_buyer(hub):
    for name, kind in (("buyer_order_count", "Numeric"), ("buyer_lifetime_value", "Numeric")):
        FieldMapping.objects.create(destination=hub.om_account, source_field=name, target_field=name, target_type=kind,
                                    position=90)
    codes = hub.company()
    bens = _order(hub, "C001", "WEB-2", 40.0, ContactPersonCode=codes["Ben"])
    companys = _order(hub, "C001", "WEB-3", 60.0)
    hub.cycle()

    assert hub.dd_order_owner(bens) == "ben@acme.example"
    assert hub.dd_order_owner(companys) == "buying@acme.example"
    om_order = hub.om_order("WEB-2")
    assert om_order["customer"] == {"id": f"C001#{codes['Ben']}", "email": "Ben@Acme.example"}  # as SAP holds it
    assert hub.om_order("WEB-3")["customer"]["id"] == "C001"
    assert hub.dd_contact("ben@acme.example")["dataFields"]["ORDERCOUNT"] == 2  # the company's figures
    # ... and each contact's own: Ben's order is his, the other the company's main contact's.
    at_ometria = hub.om_contacts()
    own = {key: (c["properties"]["buyer_order_count"], c["properties"]["buyer_lifetime_value"])
           for key, c in at_ometria.items()}
    assert own[f"C001#{codes['Ben']}"] == (1, 40.0) and own["C001"] == (1, 60.0)
    assert own[f"C001#{codes['Anna']}"] == (0, 0.0)

    # Its dispatch signal is Ben's too.
    hub.sap_clock.advance(minutes=3)
    hub.sap.add_document("deliveries", {"CardCode": "C001", "DocDate": "2026-11-21", "DocumentLines": [
        {"BaseType": 17, "BaseEntry": bens, "BaseLine": 0, "Quantity": 1}]})
    hub.pull()
    hub.push_ometria("dispatch_events")
    (event,) = hub.om.records("custom_event").values()
    assert event["event_type"] == "order_dispatched" and event["identity_email"] == "Ben@Acme.example"


def test_a_contact_person_sharing_another_partners_email_goes_to_the_duplicate_email_handling(hub):
    codes = hub.company()
    hub.sap.add_business_partners([partner("C002", EmailAddress="ANNA@acme.example")])
    hub.cycle()

    anna = f"C001#{codes['Anna']}"
    conflict = DuplicateEmailConflict.objects.get(email_normalised="anna@acme.example")
    assert sorted(conflict.card_codes) == sorted([anna, "C002"]) and conflict.status == "open"
    assert "anna@acme.example" not in hub.dd.contacts and hub.contact("C002") is None
    held = SyncException.objects.get(flow=hub.flow, record_key=anna)
    assert held.reason_code == "duplicate_email" and "C002" in held.detail
    # The conflicts page and the record page show the person, with the company it buys for.
    side = {p.card_code: p for p in conflict_partners([conflict])[conflict.pk]}
    assert side[anna].card_name == "Anna Archer (Acme Ltd)" and side[anna].in_mirror and side["C002"].in_mirror
    assert source_record_for(held).fields["Email"] == "anna@acme.example"

    conflict_resolve(conflict=conflict, resolution="winner", winner_card_code=anna)
    hub.cycle()
    assert hub.dd_contact("anna@acme.example")["dataFields"]["CARDCODE"] == "C001"
    assert not OutboxItem.objects.filter(flow=hub.flow, record_key="C002").exists()  # lost: never sent
    assert hub.om_contacts()[anna]["email"] == "anna@acme.example" and hub.contact("C002") is None
    assert SyncException.objects.get(flow=hub.flow, record_key=anna).status == "resolved"


def test_a_contact_person_deleted_in_sap_is_no_longer_sent_and_its_contact_stays_as_it_was(hub):
    codes = hub.company()
    _order(hub, "C001", "WEB-4", 50.0)
    hub.cycle()
    ben = f"C001#{codes['Ben']}"

    # Deleted in SAP: the list sent back without Ben replaces the old one.
    hub.sap_clock.advance(minutes=3)
    response = hub.http.patch(f"{hub.base}/BusinessPartners('C001')", headers={"B1S-ReplaceCollectionsOnPatch": "true"},
                              json={"ContactEmployees": [p for p in hub.sap.partners["C001"]["ContactEmployees"]
                                                         if p["InternalCode"] != codes["Ben"]]})
    assert response.status_code == 204, response.text
    _order(hub, "C001", "WEB-5", 30.0)
    hub.cycle()

    assert ContactPerson.objects.get(card_code="C001", code=codes["Ben"]).removed
    assert OutboxItem.objects.get(flow=hub.flow, record_key=ben).payload["ORDERCOUNT"] == 1  # nothing re-queued
    # Ben's contact is left as it was (its consent and engagement are the destination's); the others move on.
    assert hub.dd_contact("ben@acme.example")["dataFields"]["ORDERCOUNT"] == 1
    assert hub.dd_contact("anna@acme.example")["dataFields"]["ORDERCOUNT"] == 2
    assert hub.om_contacts()[ben]["properties"]["order_count"] == 1
    # An order still naming him goes to the company.
    entry = _order(hub, "C001", "WEB-6", 10.0, ContactPersonCode=codes["Ben"])
    hub.cycle()
    assert hub.dd_order_owner(entry) == "buying@acme.example"
