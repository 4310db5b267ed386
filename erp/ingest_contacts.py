"""Ingest of contact persons, the child rows of a Business Partner (SAP B1 ContactEmployees).

They come with their company and are written with it, set-based like an order's lines:
for the companies a page rewrote, one UPDATE flags every person they had as removed and
one upsert (COPY into staging, then INSERT ... ON CONFLICT) writes the persons the ERP
lists now, clearing the flag. A person the ERP stopped listing so stays in the mirror,
flagged, for planning to stop what it had queued for them.
"""
from __future__ import annotations

from django.utils import timezone

from syncapp.bulksql import bulk_insert, execute, in_values, json_text, quote

from .contact_persons import ContactPerson

_TEXT = {"name": 100, "first_name": 100, "last_name": 100, "position": 100, "email": 254, "email_normalised": 254,
         "phone1": 50, "phone2": 50, "mobile": 50}
_FIELDS = [*_TEXT, "active", "marketing_blocked", "udfs"]
_UPDATE = [*_FIELDS, "removed", "mirrored_at"]


def contact_persons_replace(*, connection, persons_by_company: dict[str, list[dict]]) -> None:
    """Make the mirror's contact persons of these companies (CardCode -> the persons the
    ERP lists now, canonical) what the ERP says. Companies not named are left alone."""
    codes = list(persons_by_company)
    if not codes:
        return
    table = quote(ContactPerson._meta.db_table)
    for start in range(0, len(codes), 1000):
        condition, params = in_values(codes[start:start + 1000])
        execute(f"UPDATE {table} SET removed = %s WHERE connection_id = %s AND removed = %s AND card_code {condition}",
                [True, connection.pk, False, *params])
    now = timezone.now()
    rows = []
    for card_code, persons in persons_by_company.items():
        for person in persons:
            texts = [(person.get(name) or "")[:limit] for name, limit in _TEXT.items()]
            rows.append((connection.pk, card_code, person["code"], *texts, person.get("active") is not False,
                         bool(person.get("marketing_blocked")), json_text(person.get("udfs") or {}), False, now))
    bulk_insert(ContactPerson, ["connection", "card_code", "code", *_UPDATE], rows,
                conflict=["connection", "card_code", "code"], update=_UPDATE)
