"""B2B contact persons in the customers flow: each buyer of a company is a contact of its own.

A contact person is planned under its own key (`C001#3`, see erp.contact_persons) beside
its company (`C001`), from the company's record with the person's own name, email, phones
and consent: the company's group, currency, addresses, user fields and order figures ride
on it, and its CardCode is the company's (mapped as any partner's), so a segment of the
company's buyers is one condition at the destination. Ometria's `customer_id` and the
outbox key are the person's key, unique beside every CardCode.

Who is not planned as a contact, each skipped (visible in the outbox, never sent):
- a person SAP no longer lists (deleted) or marks inactive: what was queued for them
  stops; what the destination holds stays there untouched (its consent and engagement are
  the destination's; see the report);
- a person without an email (a phone-only contact is no marketing contact);
- a person whose email is their own company's main email while the company is a contact:
  one person, one contact (the company's);
- the company itself when the connection says its main email is not a contact
  (`ErpConnection.company_email_as_contact`) and it has a person who is.

A person sharing an email with another partner (or another company's person) goes
through the same duplicate-email handling as partners, under its key.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

from erp.contact_persons import ContactPerson, company_of, contact_key, full_name, split_contact_key
from erp.models import BusinessPartner

from .bulksql import fetch, quote, select_by_keys

_PERSON = ["card_code", "code", "name", "first_name", "last_name", "position", "email", "email_normalised", "phone1",
           "phone2", "mobile", "active", "marketing_blocked", "udfs", "removed"]


@dataclass
class ContactsPlanned:
    """`records`: contact persons to plan, by key; `skipped`: keys (persons and companies)
    that are not contacts (see the module)."""

    records: dict[str, SimpleNamespace] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def person_keys(record_keys) -> list[str]:
    return [key for key in record_keys if split_contact_key(key)]


def contact_record(company, person) -> SimpleNamespace:
    """A person as a record the customers flow maps: the company's fields with the
    person's own. `card_code` is the person's key (the engine's key everywhere); the
    mapping reads the company's (`mapping_view`). Blocked marketing is no consent."""
    values = dict(vars(company))
    udfs = {**(company.udfs or {}), **(person.udfs or {})}
    if person.marketing_blocked:
        udfs["U_MarketingConsent"] = "N"
    values.update(card_code=contact_key(person.card_code, person.code), company_code=company.card_code,
                  company_name=company.card_name, contact_person_code=person.code, contact_position=person.position,
                  card_name=full_name(person), email=person.email, email_normalised=person.email_normalised,
                  phone1=person.phone1, phone2=person.phone2, cellular=person.mobile, udfs=udfs)
    return SimpleNamespace(**values)


def mapping_view(record):
    """What the field mappings read: a person's record under its company's CardCode."""
    company_code = getattr(record, "company_code", None)
    if company_code is None or company_code == record.card_code:
        return record
    return SimpleNamespace(**{**vars(record), "card_code": company_code})


def _persons(connection_id: int, card_codes: list[str]) -> list[SimpleNamespace]:
    """Every person (removed ones too) of these companies: one indexed probe per company."""
    return [SimpleNamespace(**dict(zip(_PERSON, values, strict=True)))
            for values in select_by_keys(ContactPerson, _PERSON, key="card_code", keys=card_codes,
                                         where={"connection_id": connection_id})]


def _is_contact(person, company, connection) -> str:
    """Why a person is no contact of its own ('' when it is one)."""
    if person.removed or not person.active:
        return "gone"
    if not person.email.strip():
        return "no email"
    if connection.company_email_as_contact and person.email_normalised.strip() == company.email_normalised.strip():
        return "the company's own email"
    return ""


def _companies(connection_id: int, card_codes: list[str]) -> dict:
    from .planning import partners_read  # the customers planner imports this module

    return partners_read(connection_id=connection_id, card_codes=card_codes)


def contact_persons_plan(*, flow, partners: dict, record_keys) -> ContactsPlanned:
    """The contact persons to plan with `partners` (the companies planned now: all their
    persons) and those named in `record_keys` by their own key. Companies that are no
    contact themselves (the setting) are named in `skipped`; the caller leaves them out."""
    planned = ContactsPlanned()
    asked = {key for key in person_keys(record_keys) if key not in partners}
    companies = {code: row for code, row in partners.items() if not split_contact_key(code)}
    missing = sorted({company_of(key) for key in asked} - set(companies))
    if missing:
        companies.update(_companies(flow.connection_id, missing))
    if not companies:
        planned.skipped = sorted(asked)  # their company is gone from the mirror
        return planned
    connection = flow.connection
    with_contacts: set[str] = set()
    for person in _persons(flow.connection_id, list(companies)):
        key = contact_key(person.card_code, person.code)
        if person.card_code not in partners and key not in asked:
            continue  # another person of a company planned for one of its persons only
        asked.discard(key)
        company = companies[person.card_code]
        if _is_contact(person, company, connection):
            planned.skipped.append(key)
            continue
        planned.records[key] = contact_record(company, person)
        with_contacts.add(person.card_code)
    planned.skipped.extend(sorted(asked))  # named, but not in the mirror
    if not connection.company_email_as_contact:
        planned.skipped.extend(code for code in sorted(with_contacts) if code in partners)
    return planned


def persons_sharing(*, flow, types: list[str], emails: list[str]) -> list[SimpleNamespace]:
    """The contact persons (as records) of eligible companies whose email is one of these."""
    if not emails:
        return []
    found = [SimpleNamespace(**dict(zip(_PERSON, values, strict=True))) for values in select_by_keys(
        ContactPerson, _PERSON, key="email_normalised", keys=emails, where={"connection_id": flow.connection_id})]
    if not found:
        return []
    companies = _companies(flow.connection_id, sorted({person.card_code for person in found}))
    return [contact_record(companies[p.card_code], p) for p in found
            if p.card_code in companies and companies[p.card_code].card_type in types
            and not _is_contact(p, companies[p.card_code], flow.connection)]


def persons_sharing_sql(connection, types: list[str]) -> tuple[str, list]:
    """SQL counting, for an email `k.value`, the persons that are contacts of their own
    (to add to the partners sharing it; see `planning._shared_emails`)."""
    persons, partners = quote(ContactPerson._meta.db_table), quote(BusinessPartner._meta.db_table)
    kinds = ", ".join(["%s"] * len(types))
    sql = (f"(SELECT COUNT(*) FROM {persons} p JOIN {partners} c ON c.connection_id = p.connection_id "
           f"AND c.card_code = p.card_code WHERE p.connection_id = %s AND p.email_normalised = k.value "
           f"AND p.removed = %s AND p.active = %s AND c.card_type IN ({kinds}) "
           f"AND (c.email_normalised <> p.email_normalised OR %s = %s))")
    # A person under its company's own email is no contact of its own while the company is one.
    return sql, [connection.pk, False, True, *types, not connection.company_email_as_contact, True]


def any_persons(connection_id: int) -> bool:
    """Whether this connection has contact persons at all (most have none: no extra work)."""
    table = quote(ContactPerson._meta.db_table)
    return bool(fetch(f"SELECT 1 FROM {table} WHERE connection_id = %s LIMIT 1", [connection_id]))


def order_buyers(*, flow, orders) -> dict[int, tuple[str, str]]:
    """DocEntry -> (contact key, email) of the buyer each order names (SAP B1
    ContactPersonCode), for the orders whose buyer is a contact of their own; the others
    stay the company's."""
    named = [order for order in orders if getattr(order, "contact_person_code", None)]
    if not named:
        return {}
    companies = _companies(flow.connection_id, sorted({order.card_code for order in named}))
    persons = {(p.card_code, p.code): p for p in _persons(flow.connection_id, list(companies))}
    buyers = {}
    for order in named:
        person = persons.get((order.card_code, order.contact_person_code))
        company = companies.get(order.card_code)
        if person is not None and company is not None and not _is_contact(person, company, flow.connection):
            buyers[order.doc_entry] = (contact_key(person.card_code, person.code), person.email.strip())
    return buyers


def buyers_attach_figures(flow, partners: dict) -> None:
    """Each contact's own order figures (erp.buyer_figures): a person's orders, or for a
    company the orders naming nobody."""
    from erp.buyer_figures import NO_ORDERS, buyer_figures

    companies = {key: getattr(partner, "company_code", key) for key, partner in partners.items()}
    figures = buyer_figures(connection=flow.connection, card_codes=sorted(set(companies.values())))
    for key, partner in partners.items():
        for name, value in figures.get((companies[key], getattr(partner, "contact_person_code", None)),
                                       NO_ORDERS).items():
            setattr(partner, name, value)


def company_email_setting_changed(*, connection) -> None:
    """Whether a company with contact persons is a contact itself changed: every customer
    of the connection is planned again once the change commits (unchanged ones cost nothing;
    a company no longer a contact stops being updated, its contact stays at the destination)."""
    from esp.replanning import flows_replan_after_commit

    from .models import Flow

    flows_replan_after_commit(Flow.objects.filter(connection=connection, entity=Flow.Entity.CUSTOMERS, enabled=True))
