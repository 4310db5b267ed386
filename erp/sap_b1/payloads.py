"""Service Layer BusinessPartner JSON -> canonical Business Partner data.

Canonical field names are the fields of `erp.models.BusinessPartner`. A record that
cannot be understood becomes a `SourceRecord` with `data=None` and an `error` written
for the people who fix it in SAP; it never raises.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time
from typing import Any

from syncapp.adapters import SourceRecord

log = logging.getLogger(__name__)

ENTITY = "business_partners"
RESOURCE = "BusinessPartners"

# What we ask for; user fields are added per company (see SapB1Source).
SELECT_FIELDS: tuple[str, ...] = (
    "CardCode", "CardName", "CardType", "GroupCode", "EmailAddress",
    "Phone1", "Phone2", "Cellular", "Currency", "Valid", "Frozen",
    "CreateDate", "CreateTime", "UpdateDate", "UpdateTime", "BPAddresses", "ContactEmployees",
)
DEFAULT_UDFS: tuple[str, ...] = ("U_LoyaltyTier", "U_MarketingConsent", "U_Birthday")

# Enum members by name (v1 output) and by DB value (accepted on input too).
CARD_TYPES = {
    "cCustomer": "customer", "C": "customer",
    "cLid": "lead", "L": "lead",
    "cSupplier": "supplier", "S": "supplier",
}
YES_NO = {"tYES": True, "Y": True, "tNO": False, "N": False}
ADDRESS_TYPES = {"bo_ShipTo": "ship_to", "S": "ship_to", "bo_BillTo": "bill_to", "B": "bill_to"}
ADDRESS_KEYS = {
    "AddressName": "address_name", "Street": "street", "StreetNo": "street_no",
    "Block": "block", "BuildingFloorRoom": "building_floor_room", "City": "city",
    "County": "county", "ZipCode": "zip_code", "State": "state", "Country": "country",
}


class Unreadable(ValueError):
    """A value a person must fix in SAP; the message is shown to them."""


def unexpected_value(label: str, key: str, exc: Exception) -> str:
    """The error of a record the converter tripped over (a list where text belongs, an
    Infinity): the record is unreadable, its page goes on, and the cause is logged."""
    log.warning("SAP B1 %s %r could not be converted", label, key[:60], exc_info=True)
    return (f"{label} {key[:60] or '(no code)'} holds a value of a kind the hub did not expect "
            f"({type(exc).__name__}). Check the record in SAP.")


def select_clause(udfs: Iterable[str] = DEFAULT_UDFS) -> str:
    return ",".join((*SELECT_FIELDS, *udfs))


def to_source_record(raw: dict[str, Any]) -> SourceRecord:
    """One Service Layer BusinessPartner -> SourceRecord (data or a plain-language error)."""
    code = raw.get("CardCode") if isinstance(raw, dict) else None
    key = "" if code is None or isinstance(code, dict | list) else str(code).strip()
    if not isinstance(raw, dict):
        raw = {"value": raw}
    try:
        data = business_partner_data(raw)
    except Unreadable as exc:
        return SourceRecord(
            entity=ENTITY, key=key, version=_raw_version(raw), data=None, raw=raw, error=str(exc)
        )
    except Exception as exc:  # noqa: BLE001 - never raises: a value of a kind SAP never sends
        return SourceRecord(entity=ENTITY, key=key, version=_raw_version(raw), data=None, raw=raw,
                            error=unexpected_value("Business partner", key, exc))
    updated = data["source_updated_at"]
    version = updated.isoformat() if updated else ""
    return SourceRecord(entity=ENTITY, key=key, version=version, data=data, raw=raw)


def business_partner_data(raw: dict[str, Any]) -> dict[str, Any]:
    """Canonical fields of one BusinessPartner; raises Unreadable with a reason."""
    card_code = _text(raw.get("CardCode"))
    if not card_code:
        name = _text(raw.get("CardName"))
        hint = f" (name {name!r})" if name else ""
        raise Unreadable(
            f"A business partner in SAP{hint} has no code (CardCode), so it cannot be "
            "matched to anything. Check the record in SAP."
        )
    card_type = CARD_TYPES.get(_text(raw.get("CardType")))
    if card_type is None:
        raise Unreadable(
            f"Business partner {card_code} has a type we do not recognise "
            f"({raw.get('CardType')!r}); expected customer, lead or supplier."
        )
    email = _text(raw.get("EmailAddress"))
    return {
        "card_code": card_code,
        "card_name": _text(raw.get("CardName")),
        "card_type": card_type,
        "email": email,
        "email_normalised": email.lower(),
        "phone1": _text(raw.get("Phone1")),
        "phone2": _text(raw.get("Phone2")),
        "cellular": _text(raw.get("Cellular")),
        "group_code": _group_code(card_code, raw.get("GroupCode")),
        "currency": _text(raw.get("Currency")),
        "valid": _yes_no(card_code, "Active (Valid)", raw.get("Valid"), default=True),
        "frozen": _yes_no(card_code, "Inactive (Frozen)", raw.get("Frozen"), default=False),
        "addresses": _addresses(card_code, raw.get("BPAddresses")),
        "udfs": {k: v for k, v in raw.items() if k.startswith("U_")},
        "source_updated_at": source_updated_at(raw),
        "contact_persons": _contact_persons(card_code, raw.get("ContactEmployees")),
    }


def source_updated_at(
    raw: dict[str, Any], key_field: str = "CardCode", label: str = "Business partner"
) -> datetime | None:
    """UpdateDate + UpdateTime as aware UTC; CreateDate/CreateTime when never updated.

    Service Layer stamps are the server's wall clock without a zone; we read them as UTC.
    Raises Unreadable naming the record as "<label> <key>" when a stamp is garbled.
    """
    card_code = _text(raw.get(key_field)) or "?"
    for date_key, time_key in (("UpdateDate", "UpdateTime"), ("CreateDate", "CreateTime")):
        if raw.get(date_key) in (None, ""):
            continue
        day = parse_b1_date(raw[date_key])
        moment = parse_b1_time(raw.get(time_key))
        if day is None or moment is False:
            value = raw[date_key] if day is None else raw.get(time_key)
            raise Unreadable(
                f"{label} {card_code} has an unreadable last-changed date or time "
                f"({value!r}). Re-save the record in SAP."
            )
        return datetime.combine(day, moment or time(0), tzinfo=UTC)
    return None


_DATE_RE = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})(?:[T ].*)?$")
_TIME_RE = re.compile(r"^(\d{1,2}):?(\d{2})(?::?(\d{2}))?(?:\.\d+)?$")
_ISO_DURATION_RE = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)(?:\.\d+)?S)?$")


def parse_b1_date(value: Any) -> date | None:
    """'2026-11-22', '20261122' or '2026-11-22T00:00:00Z' -> date; None if unreadable."""
    match = _DATE_RE.match(str(value).strip())
    if not match:
        return None
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        return None


def parse_b1_time(value: Any) -> time | bool | None:
    """'14:32:11', '14:32', '1432' or 'PT14H32M11S' -> time; None if absent, False if bad."""
    if value in (None, ""):
        return None
    text = str(value).strip()
    match = _TIME_RE.match(text) or _ISO_DURATION_RE.match(text)
    if not match:
        return False
    hour, minute, second = (int(part) if part else 0 for part in match.groups())
    try:
        return time(hour, minute, second)
    except ValueError:
        return False


def b1_date(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


def b1_minute(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%H:%M")


# ------------------------------------------------------------------ helpers


def _text(value: Any) -> str:
    if isinstance(value, dict | list):
        shown = repr(value)
        raise Unreadable(f"The record holds a list or a group of fields where SAP sends text "
                         f"({shown if len(shown) <= 60 else shown[:57] + '...'}). Check the record in SAP.")
    return "" if value is None else str(value).strip()


def _group_code(card_code: str, value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(value)
        return int(value)
    except (TypeError, ValueError, OverflowError):
        raise Unreadable(
            f"Business partner {card_code} has a group that is not a number ({value!r})."
        ) from None


def _yes_no(card_code: str, label: str, value: Any, *, default: bool) -> bool:
    if value in (None, ""):
        return default
    if not isinstance(value, str) or value not in YES_NO:
        raise Unreadable(
            f"Business partner {card_code} has an unexpected {label} setting ({value!r}); "
            "expected yes or no."
        )
    return YES_NO[value]


def _addresses(card_code: str, value: Any) -> list[dict[str, Any]]:
    if value in (None, ""):
        return []
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise Unreadable(f"Business partner {card_code} has addresses we cannot read.")
    addresses = []
    for row in value:
        if not isinstance(row, dict):
            raise Unreadable(f"Business partner {card_code} has an address we cannot read.")
        address = {new: _text(row.get(old)) for old, new in ADDRESS_KEYS.items()}
        address["address_type"] = ADDRESS_TYPES.get(_text(row.get("AddressType")), "")
        addresses.append(address)
    return addresses


def _contact_persons(card_code: str, value: Any) -> list[dict[str, Any]]:
    """ContactEmployees (OCPR) -> canonical contact persons, by InternalCode."""
    if value in (None, ""):
        return []
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise Unreadable(f"Business partner {card_code} has contact persons we cannot read.")
    persons = {}
    for row in value:
        code = row.get("InternalCode") if isinstance(row, dict) else None
        if isinstance(code, bool) or not isinstance(code, int | str) or not str(code).strip().isdigit():
            raise Unreadable(f"Business partner {card_code} has a contact person without a readable code "
                             f"(InternalCode {code!r}). Check its contact persons in SAP.")
        email = _text(row.get("E_Mail"))
        persons[int(code)] = {
            "code": int(code), "name": _text(row.get("Name")), "first_name": _text(row.get("FirstName")),
            "last_name": _text(row.get("LastName")), "position": _text(row.get("Position")),
            "email": email, "email_normalised": email.lower(), "phone1": _text(row.get("Phone1")),
            "phone2": _text(row.get("Phone2")), "mobile": _text(row.get("MobilePhone")),
            "active": _yes_no(card_code, "contact person Active", row.get("Active"), default=True),
            "marketing_blocked": _yes_no(card_code, "contact person BlockSendingMarketingContent",
                                         row.get("BlockSendingMarketingContent"), default=False),
            "udfs": {k: v for k, v in row.items() if k.startswith("U_")},
        }
    return [persons[code] for code in sorted(persons)]


def _raw_version(raw: dict[str, Any]) -> str:
    return f"{raw.get('UpdateDate') or ''} {raw.get('UpdateTime') or ''}".strip()[:40]
