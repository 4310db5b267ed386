"""B2B contact persons: the buyers of a company, each a contact of their own.

SAP B1 keeps them inside the Business Partner (`ContactEmployees`, table OCPR), so they
arrive with it: a company read again brings its whole list. A contact person's record key
is `<CardCode>#<InternalCode>` (`C001#3`): InternalCode is SAP's identity of the person
(OCPR.CntctCode), never reused, so the key stays the same through renames and moves in
the list, and it is unique beside every CardCode (a contact key is never a company key).
"""
from __future__ import annotations

from django.db import models

from .models import ErpConnection

SEPARATOR = "#"


def contact_key(card_code: str, code: int) -> str:
    return f"{card_code}{SEPARATOR}{code}"


def split_contact_key(key: str) -> tuple[str, int] | None:
    """(CardCode, InternalCode) of a contact person's key; None for any other key."""
    card_code, sep, code = str(key).rpartition(SEPARATOR)
    if not sep or not card_code or not code.isdigit():
        return None
    return card_code, int(code)


def company_of(key: str) -> str:
    """The company's CardCode of a customers-flow key (a company's key is its own)."""
    split = split_contact_key(key)
    return split[0] if split else key


class ContactPerson(models.Model):
    """A contact person as the ERP last told us, a child row of its Business Partner.

    Rewritten with its company (like an order's lines). One the ERP no longer lists is
    kept, flagged `removed`, so planning can stop what it queued for them."""

    connection = models.ForeignKey(ErpConnection, on_delete=models.CASCADE, related_name="+", db_index=False)
    card_code = models.CharField(max_length=50)
    code = models.IntegerField(help_text="SAP's InternalCode (OCPR.CntctCode).")
    name = models.CharField(max_length=100, blank=True, help_text="SAP's contact ID (Name).")
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    position = models.CharField(max_length=100, blank=True)
    email = models.CharField(max_length=254, blank=True)
    email_normalised = models.CharField(max_length=254, blank=True)
    phone1 = models.CharField(max_length=50, blank=True)
    phone2 = models.CharField(max_length=50, blank=True)
    mobile = models.CharField(max_length=50, blank=True)
    active = models.BooleanField(default=True)
    marketing_blocked = models.BooleanField(
        default=False, help_text="SAP's BlockSendingMarketingContent: the person asked for no marketing.")
    udfs = models.JSONField(default=dict, blank=True)
    removed = models.BooleanField(default=False, help_text="The ERP no longer lists this person.")
    mirrored_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "card_code", "code"],
                                               name="contact_person_unique")]
        indexes = [models.Index(fields=["connection", "email_normalised"], name="contact_person_email_idx")]

    def __str__(self) -> str:
        return contact_key(self.card_code, self.code)

    @property
    def key(self) -> str:
        return contact_key(self.card_code, self.code)

    @property
    def full_name(self) -> str:
        return full_name(self)


def full_name(person) -> str:
    """First and last name, or SAP's contact ID (Name) when neither is kept."""
    return " ".join(part for part in (person.first_name, person.last_name) if part) or person.name


def _named(connection_id: int, keys) -> tuple[dict[tuple[str, int], str], models.QuerySet]:
    wanted = {split: key for key in keys if (split := split_contact_key(key))}
    persons = ContactPerson.objects.filter(connection_id=connection_id, removed=False,
                                           card_code__in={code for code, _ in wanted})
    return wanted, persons


def contact_persons_held(*, connection, keys: list[str]) -> list[str]:
    """Which of these keys are contact persons the mirror holds (the ERP still lists)."""
    wanted, persons = _named(connection.pk, keys)
    if not wanted:
        return []
    return [wanted[pair] for pair in persons.values_list("card_code", "code") if pair in wanted]


def contact_persons_named(*, connection_id: int, keys) -> dict[str, tuple[ContactPerson, models.Model]]:
    """key -> (contact person, its company) for the keys naming a person the mirror holds."""
    from .models import BusinessPartner

    wanted, persons = _named(connection_id, keys)
    if not wanted:
        return {}
    found = [person for person in persons if (person.card_code, person.code) in wanted]
    companies = {bp.card_code: bp for bp in BusinessPartner.objects.filter(
        connection_id=connection_id, card_code__in={p.card_code for p in found}).defer("raw")}
    return {wanted[(p.card_code, p.code)]: (p, companies[p.card_code]) for p in found if p.card_code in companies}
