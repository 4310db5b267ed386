"""The contact fields Ometria documents, for the mapping editor to offer.

Ometria has no data-field API: a contact takes the documented fields below at the top
level [OM-CONTACTS; RS `data/OmetriaContact.json`], and anything else a mapping names
becomes a custom `properties` entry, created by its first use (payloads.py). So the
list is declared here, and properties are free-form names checked by
`payloads.field_name_problem`.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import payloads


@dataclass(frozen=True)
class ContactField:
    name: str
    type: str  # the mapping's target type that fits (esp.models.FieldMapping.FieldType)
    help: str


CONTACT_FIELDS: tuple[ContactField, ...] = (
    ContactField(payloads.FULL_NAME, "String",
                 "Full name; split into firstname and lastname unless those are mapped"),
    ContactField("prefix", "String", "Title, e.g. Mrs"),
    ContactField("firstname", "String", "First name"),
    ContactField("middlename", "String", "Middle name"),
    ContactField("lastname", "String", "Last name"),
    ContactField("date_of_birth", "Date", "Date of birth (YYYY-MM-DD)"),
    ContactField("gender", "String", "Gender: m, f or o"),
    ContactField("phone_number", "String", "Phone number in E.164 (+447700900123); one odd number fails the contact"),
    ContactField("country_id", "String", "Country, ISO 3166 code (GB)"),
    ContactField("timezone", "String", "Time zone, e.g. Europe/London"),
    ContactField("marketing_optin", "String",
                 "Consent: EXPLICITLY_OPTEDIN, EXPLICITLY_OPTEDOUT, NOT_SPECIFIED (or yes/no)"),
    ContactField("timestamp_acquired", "Date", "When the contact was acquired (ISO 8601)"),
    ContactField("timestamp_subscribed", "Date", "When the contact subscribed (ISO 8601)"),
    ContactField("timestamp_unsubscribed", "Date", "When the contact unsubscribed (ISO 8601)"),
    ContactField("store_ids", "String", "Stores the contact belongs to"),
)

# Kept in step with what payloads.py sends top level: a field offered here and not
# sent there would be a silent drop.
assert {f.name for f in CONTACT_FIELDS} == set(payloads.CONTACT_FIELDS) | {payloads.FULL_NAME}

PROPERTIES_NOTE = ("Ometria has no list of custom fields: any other name becomes a contact property the first "
                   "time it is sent. Add a property by name (a letter first, then letters, digits and '_').")
