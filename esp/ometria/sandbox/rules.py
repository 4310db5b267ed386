"""Validation the Ometria sandbox applies after it has answered 200.

Ometria's full rules are unconfirmed (esp-apis.md section 4); these are realistic
choices, each a documented field constraint or what RudderStack's mapping requires:
- contact: an email (valid format) or a phone_number (E.164); marketing_optin in
  Ometria's enum; date_of_birth YYYY-MM-DD; timestamps ISO 8601; country_id two
  letters; properties an object.
- order: timestamp, grand_total, currency (ISO 4217) and a customer with an id or a
  valid email are required; status in the documented values; is_valid boolean; totals
  numbers; each line item has a product_id, a quantity >= 0, numeric prices, and
  quantity_refunded between 0 and its quantity.
- product: a title (unless `@merge` finds one stored); price a number, currency ISO
  4217, booleans boolean; properties an object; attributes a list (the contract: @merge
  replaces the list) of {type, id, label} objects, type and id non-empty text, label
  text (the shape is Ometria's product guide's, unconfirmed in the contract).
- line items: properties, when sent, an object.
- custom_event: event_type, timestamp, and an identity (identity_email,
  identity_account_id or profile_id) naming a contact the account holds; string
  properties at most 512 characters. event_type is cut to 31 characters, as Ometria
  truncates [OM-CE], not refused.
Each problem is `(field path, message)`; the path is relative to the record.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                   r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}$")
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
CURRENCY = re.compile(r"^[A-Z]{3}$")
COUNTRY = re.compile(r"^[A-Z]{2}$")
OPTIN = ("EXPLICITLY_OPTEDIN", "EXPLICITLY_OPTEDOUT", "NOT_SPECIFIED")
ORDER_STATUSES = ("pending", "complete", "shipped", "cancelled", "refunded", "partial_refund")
EVENT_TYPE_MAX = 31
PROPERTY_STRING_MAX = 512
NOT_VALID = "not a valid value"

Problems = list[tuple[str, str]]


def is_iso_timestamp(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return "T" in value


def is_iso_date(value: Any) -> bool:
    if not isinstance(value, str) or len(value) != 10:
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def valid_email(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= 254 and ".." not in value and bool(EMAIL.match(value))


def _optional(record: dict, name: str, check: Callable[[Any], bool], problems: Problems, path: str = "") -> None:
    value = record.get(name)
    if value is not None and not check(value):
        problems.append((f"{path}{name}", NOT_VALID))


def contact_problems(record: dict, stored: Any) -> Problems:
    problems: Problems = []
    if record.get("email") is None and record.get("phone_number") is None and not stored:
        problems.append(("email", "a contact needs an email or a phone_number"))
    _optional(record, "email", valid_email, problems)
    _optional(record, "phone_number", lambda v: isinstance(v, str) and bool(E164.match(v)), problems)
    _optional(record, "marketing_optin", lambda v: v in OPTIN, problems)
    _optional(record, "@force_optin", lambda v: isinstance(v, bool), problems)
    _optional(record, "date_of_birth", is_iso_date, problems)
    _optional(record, "country_id", lambda v: isinstance(v, str) and bool(COUNTRY.match(v)), problems)
    for name in ("timestamp_acquired", "timestamp_subscribed", "timestamp_unsubscribed"):
        _optional(record, name, is_iso_timestamp, problems)
    for name in ("firstname", "lastname", "middlename", "prefix", "customer_id"):
        _optional(record, name, lambda v: isinstance(v, str) and len(v) <= 255, problems)
    _optional(record, "properties", lambda v: isinstance(v, dict), problems)
    return problems


def order_problems(record: dict) -> Problems:
    problems: Problems = []
    for name, check in (("timestamp", is_iso_timestamp), ("grand_total", is_number),
                        ("currency", lambda v: isinstance(v, str) and bool(CURRENCY.match(v)))):
        if record.get(name) is None:
            problems.append((name, "is required"))
        elif not check(record[name]):
            problems.append((name, NOT_VALID))
    customer = record.get("customer")
    if not isinstance(customer, dict) or not (customer.get("id") or customer.get("email")):
        problems.append(("customer", "is required, with an id or an email"))
    else:
        _optional(customer, "email", valid_email, problems, "customer > ")
    _optional(record, "status", lambda v: v in ORDER_STATUSES, problems)
    _optional(record, "is_valid", lambda v: isinstance(v, bool), problems)
    for name in ("subtotal", "tax", "shipping", "discount"):
        _optional(record, name, is_number, problems)
    lines = record.get("lineitems")
    if lines is not None and not isinstance(lines, list):
        problems.append(("lineitems", NOT_VALID))
        lines = []
    for n, line in enumerate(lines or []):
        where = f"lineitems > {n} > "
        if not isinstance(line, dict):
            problems.append((f"lineitems > {n}", NOT_VALID))
            continue
        if not isinstance(line.get("product_id"), str) or not line["product_id"].strip():
            problems.append((f"{where}product_id", "is required"))
        if not is_number(line.get("quantity")) or line["quantity"] < 0:
            problems.append((f"{where}quantity", NOT_VALID))
        for name in ("unit_price", "total", "subtotal", "tax", "discount", "refunded"):
            _optional(line, name, is_number, problems, where)
        _optional(line, "properties", lambda v: isinstance(v, dict), problems, where)
        refunded_qty = line.get("quantity_refunded")
        if refunded_qty is not None and (not is_number(refunded_qty) or refunded_qty < 0
                                         or (is_number(line.get("quantity")) and refunded_qty > line["quantity"])):
            problems.append((f"{where}quantity_refunded", NOT_VALID))
    return problems


def product_problems(record: dict, stored: Any) -> Problems:
    problems: Problems = []
    title = record.get("title")
    if title is None and not (record.get("@merge") and stored and stored.get("title")):
        problems.append(("title", "is required"))
    elif title is not None and (not isinstance(title, str) or not title.strip()):
        problems.append(("title", NOT_VALID))
    _optional(record, "price", is_number, problems)
    _optional(record, "currency", lambda v: isinstance(v, str) and bool(CURRENCY.match(v)), problems)
    for name in ("is_in_stock", "is_active", "is_variant"):
        _optional(record, name, lambda v: isinstance(v, bool), problems)
    _optional(record, "properties", lambda v: isinstance(v, dict), problems)
    attributes = record.get("attributes")
    if attributes is not None and not isinstance(attributes, list):
        problems.append(("attributes", NOT_VALID))
    for n, attribute in enumerate(attributes if isinstance(attributes, list) else []):
        if not isinstance(attribute, dict) or not all(
                isinstance(attribute.get(name), str) and attribute[name].strip() for name in ("type", "id")) \
                or not isinstance(attribute.get("label", ""), str):
            problems.append((f"attributes > {n}", NOT_VALID))
    return problems


def custom_event_problems(record: dict, contact_known: Callable[[str, str], bool]) -> Problems:
    problems: Problems = []
    if not isinstance(record.get("event_type"), str) or not record["event_type"].strip():
        problems.append(("event_type", "is required"))
    if record.get("timestamp") is None:
        problems.append(("timestamp", "is required"))
    elif not is_iso_timestamp(record["timestamp"]):
        problems.append(("timestamp", NOT_VALID))
    identities = [(name, record.get(name)) for name in ("identity_email", "identity_account_id", "profile_id")
                  if record.get(name)]
    if not identities:
        problems.append(("", "a custom event must be associated with a contact (identity_email, "
                             "identity_account_id or profile_id)"))
    elif not any(contact_known(name, str(value)) for name, value in identities):
        name, _ = identities[0]
        problems.append((name, "no contact found for this identity"))
    properties = record.get("properties")
    if properties is not None and not isinstance(properties, dict):
        problems.append(("properties", NOT_VALID))
    for key, value in (properties or {}).items():
        if isinstance(value, str) and len(value) > PROPERTY_STRING_MAX:
            problems.append((f"properties > {key}", f"longer than {PROPERTY_STRING_MAX} characters"))
    return problems
