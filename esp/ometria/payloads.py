"""Ometria's record shapes: what each engine entity becomes on the wire, and back.

Pure functions, no HTTP. The engine hands vendor-neutral payloads (see
syncapp/planning*.py); this module picks and renames what Ometria takes:

- customers -> `contact` in the account's collection. `id` = prefix + CardCode and
  `customer_id` = CardCode (no personal data in either); `email` = the engine's
  identifier. Mapped targets named like Ometria contact fields (CONTACT_FIELDS) go
  top level, every other target into `properties`. A mapped `name` (a full name, as
  SAP keeps it) is split into firstname/lastname unless those are mapped themselves.
  `marketing_optin` takes Ometria's enum or a yes/no value; unknown consent is not
  sent, so Ometria's own opt-in precedence decides. `@force_optin` only with the
  account's option on. `@merge: true`: Ometria keeps what others wrote (e.g. a
  preference centre's timestamps); a mapped field the ERP emptied is sent as null.
- orders -> the whole `order` (no `@merge`: an edit resends it under the same id);
  `is_valid` false for cancelled and fully refunded orders; line refunds as
  `quantity_refunded` / `refunded` (Ometria's preferred partial-refund method), on
  every line (0 when none), so a reversed refund clears what was sent before.
- products -> `product` keyed by SKU with `@merge: true`, so the shop's url and
  images survive the ERP's title, price and stock.
- dispatch_events -> `custom_event` (`event_type` "order_<event>", under 32
  characters) tied to the contact by `identity_email`.

Errors: the sandbox (and this module) name a record in `error_path` as
`<@type>[<id>] > <field path>`, e.g. `order[WEB-1] > lineitems > 0 > product_id`.
Ometria documents only `root > lastname`-style paths; how its paths name the record is
unconfirmed, so `record_of_error_path` is the one place to adapt. Paths that index the
pushed array, `root[0] > store` (seen from Ometria, issue 10), name no record but the
record at that position of the call that made the error (`position_of_error_path`;
errors_list.py finds the call). Any other path, the documented form or a head that is
not one of Ometria's record types (`widget[7]`, `order[]`), ties to no record:
errors_list.py then treats everything sent before it was seen as unconfirmed.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from esp.consent_values import NO, YES
from syncapp.adapters import PushItem

MAX_RECORD_BYTES = 60 * 1024  # "Max 60 KB per record" [OM-INTRO; OM-DAI]
MAX_RECORDS_PER_CALL = 100
EVENT_TYPE_MAX = 31  # "keep under 32 characters (longer truncated)" [OM-CE]
OPTIN_VALUES = ("EXPLICITLY_OPTEDIN", "EXPLICITLY_OPTEDOUT", "NOT_SPECIFIED")
TOO_LARGE = "Payload invalid: Record is too large."

RECORD_TYPES = {"customers": "contact", "orders": "order", "products": "product", "dispatch_events": "custom_event"}
RECORD_TYPE_NAMES = frozenset(RECORD_TYPES.values())

# Contact fields Ometria takes at the top level [RS OmetriaContact.json; OM-CONTACTS].
CONTACT_FIELDS = frozenset({
    "phone_number", "prefix", "firstname", "middlename", "lastname", "date_of_birth", "country_id", "timezone",
    "gender", "timestamp_acquired", "timestamp_subscribed", "timestamp_unsubscribed", "store_ids",
    "marketing_optin",
})
# Set by the adapter itself; a mapping may not write them.
RESERVED_FIELDS = frozenset({"id", "customer_id", "email", "properties", "channels"})
FULL_NAME = "name"
PROPERTY_NAME_MAX = 64  # no documented limit; generous but bounded (assumption)
_PROPERTY_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")

_YES, _NO = YES, NO  # consent spelled yes/no, as esp.consent_values reads it


@dataclass(frozen=True)
class RecordRef:
    """Which record an error names: Ometria type and id."""

    type: str
    id: str


def field_name_problem(name: str) -> str | None:
    """Why a mapping may not write to `name` on an Ometria contact, or None."""
    if not name:
        return "An Ometria contact field needs a name."
    if name.startswith("@"):
        return f"'{name}' is an Ometria directive, not a field; the account's options set directives."
    if name in RESERVED_FIELDS:
        return f"'{name}' is set by the hub itself (id and customer_id from the CardCode, email from the ERP)."
    if name in CONTACT_FIELDS or name == FULL_NAME:
        return None
    if len(name) > PROPERTY_NAME_MAX:
        return f"Ometria property names here are at most {PROPERTY_NAME_MAX} characters; '{name}' has {len(name)}."
    if not _PROPERTY_NAME.match(name):
        return (f"'{name}' would be a custom property: use a letter first, then letters, digits and '_' "
                "(properties are segmented by name in Ometria).")
    return None


def record_bytes(record: Mapping[str, Any]) -> int:
    """Size of one record as `requests` sends it (ASCII-escaped JSON, default separators):
    never smaller than a compact UTF-8 encoding, so the local check errs on the safe side."""
    return len(json.dumps(record).encode())


# Room left for what the adapter adds to the mapped fields (id, email, type, channels).
_ENVELOPE_BYTES = 2 * 1024


def payload_size_problem(fields: Mapping[str, Any]) -> str | None:
    """Why Ometria would refuse a record carrying these mapped fields (over 60 KB), or None."""
    size = record_bytes(fields) + _ENVELOPE_BYTES
    if size > MAX_RECORD_BYTES:
        biggest = max(fields, key=lambda name: len(json.dumps(fields[name])), default="")
        return (f"The record is about {size // 1024:,} KB; Ometria takes at most {MAX_RECORD_BYTES // 1024} KB "
                f"per record (the largest value is {biggest}).")
    return None


def iso_timestamp(value: Any) -> str | None:
    """ISO 8601 with an offset; a bare date is midnight UTC."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.isoformat()
    if isinstance(value, date):
        return f"{value.isoformat()}T00:00:00+00:00"
    text = str(value)
    if len(text) == 10:  # YYYY-MM-DD
        return f"{text}T00:00:00+00:00"
    return text


def marketing_optin(value: Any) -> tuple[str | None, str | None]:
    """(Ometria value, problem). None value = do not send (consent unknown)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, None
    if isinstance(value, bool):
        return ("EXPLICITLY_OPTEDIN" if value else "EXPLICITLY_OPTEDOUT"), None
    text = str(value).strip()
    if text.upper() in OPTIN_VALUES:
        return text.upper(), None
    if text.lower() in _YES:
        return "EXPLICITLY_OPTEDIN", None
    if text.lower() in _NO:
        return "EXPLICITLY_OPTEDOUT", None
    return None, (f"marketing_optin {text!r} is neither yes/no nor one of Ometria's values "
                  f"({', '.join(OPTIN_VALUES)}); fix the consent field or its mapping.")


# ---------------------------------------------------------------- ids


def record_id(entity: str, item: PushItem | Any, *, id_prefix: str = "") -> str:
    """The Ometria id a push item is sent under; `confirm()` matches errors by it."""
    fields = item.fields or {}
    if entity == "customers":
        return f"{id_prefix}{item.key}"
    if entity == "orders":
        return str(fields.get("id") or item.key)
    if entity == "products":
        return str(item.identifier or fields.get("sku") or item.key)
    return str(item.key)


def _head(path: str) -> tuple[str, str, str] | None:
    """(name before the bracket, text inside it, field path) of `name[inside] > field`."""
    head, _, field = str(path or "").partition(" > ")
    head = head.strip()
    bracket = head.find("[")
    if bracket <= 0 or not head.endswith("]"):
        return None
    return head[:bracket], head[bracket + 1:-1], field


def record_of_error_path(path: str) -> tuple[RecordRef | None, str]:
    """(the record an error path names, the field path inside it); (None, the path) when
    it names no record of a type Ometria has, e.g. "root > lastname" or "root[0] > store"."""
    parts = _head(path)
    if parts is None or parts[0] not in RECORD_TYPE_NAMES or not parts[1]:
        return None, str(path or "")
    return RecordRef(parts[0], parts[1]), parts[2]


def position_of_error_path(path: str) -> tuple[int | None, str]:
    """(the index into the pushed array a `root[<n>] > field` path names, the field path);
    (None, the path) for any other path."""
    parts = _head(path)
    if parts is None or parts[0] != "root" or not parts[1].isascii() or not parts[1].isdigit():
        return None, str(path or "")
    return int(parts[1]), parts[2]


def field_of_error_path(path: str) -> str:
    """The field inside the record an error is about, whichever way its path names the record."""
    ref, field = record_of_error_path(path)
    if ref is not None:
        return field
    position, field = position_of_error_path(path)
    return field if position is not None else ""


# ---------------------------------------------------------------- records


def contact_record(item: PushItem, *, collection: str, id_prefix: str = "",
                   force_optin: bool = False) -> tuple[dict[str, Any], str | None]:
    """(contact record, problem refusing it locally or None)."""
    record: dict[str, Any] = {"@type": "contact", "@collection": collection, "@merge": True,
                              "id": f"{id_prefix}{item.key}", "customer_id": str(item.key),
                              "email": item.identifier}
    properties: dict[str, Any] = {}
    fields = dict(item.fields or {})
    full_name = fields.pop(FULL_NAME, None)
    for name, value in fields.items():
        if name == "marketing_optin":
            continue
        if name in CONTACT_FIELDS:
            # Empty text is no value: Ometria validates what it is given ("" is no phone number).
            record[name] = None if isinstance(value, str) and not value.strip() else value
        elif name not in RESERVED_FIELDS and not name.startswith("@"):
            properties[name] = value
    if full_name and "firstname" not in fields and "lastname" not in fields:
        first, _, rest = str(full_name).strip().partition(" ")
        record["firstname"], record["lastname"] = first or None, rest.strip() or None
    optin, problem = marketing_optin(fields.get("marketing_optin"))
    if problem:
        return record, problem
    if optin:
        record["marketing_optin"] = optin
        if force_optin:
            record["@force_optin"] = True
    if properties:
        record["properties"] = properties
    return record, None


def _number(value: Any, default: float | None = None) -> float | None:
    if value is None:
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


INVALID_STATES = {"cancelled", "refunded"}
_INVALID_STATUSES = {"cancelled", "canceled", "refunded"}


def order_record(item: PushItem, *, default_statuses: Mapping[str, str]) -> dict[str, Any]:
    """The whole order. `state` decides validity; the status is the destination's name
    for it (the planner's `orderStatus`, from the admin-editable table)."""
    fields = item.fields or {}
    state = fields.get("state")
    status = fields.get("orderStatus") or (default_statuses.get(state) if state else None)
    is_valid = state not in INVALID_STATES if state else str(status).lower() not in _INVALID_STATUSES
    lines = []
    for product in fields.get("products") or []:
        quantity = _number(product.get("qty"), 0.0)
        unit_price = _number(product.get("price"), 0.0)
        line: dict[str, Any] = {
            "product_id": product.get("sku") or None, "sku": product.get("sku") or None,
            "quantity": quantity, "unit_price": unit_price,
            "total": _number(product.get("lineTotal"), round((quantity or 0) * (unit_price or 0), 2)),
        }
        properties = {name: product[name] for name in ("name", "category") if product.get(name)}
        if properties:  # custom line properties (a documented line item field) [RS]
            line["properties"] = properties
        # Always sent, 0 when none: Ometria merges on id, so a refund reversed in the ERP must
        # overwrite the amounts it was sent before.
        line["quantity_refunded"] = _number(product.get("quantityRefunded"), 0.0)
        line["refunded"] = _number(product.get("refunded"), 0.0)
        lines.append(line)
    record: dict[str, Any] = {
        "@type": "order", "id": record_id("orders", item),
        "timestamp": iso_timestamp(fields.get("purchaseDate")),
        "status": status, "is_valid": is_valid, "currency": fields.get("currency") or None,
        "grand_total": _number(fields.get("grandTotal"), _number(fields.get("orderTotal"))),
        "subtotal": _number(fields.get("orderSubtotal")),
        "tax": _number(fields.get("taxTotal")), "shipping": _number(fields.get("shippingTotal")),
        "discount": _number(fields.get("discountTotal")),
        "customer": {k: v for k, v in (("id", fields.get("customerId")), ("email", item.identifier)) if v},
        "lineitems": lines,
    }
    properties = {"order_number": fields.get("orderNumber"), "refunded_total": _number(fields.get("refundedTotal"))}
    if fields.get("webReference"):
        record["web_id"] = fields["webReference"]
    record["properties"] = {k: v for k, v in properties.items() if v is not None}
    return {k: v for k, v in record.items() if v is not None}


def product_record(item: PushItem) -> dict[str, Any]:
    fields = item.fields or {}
    record: dict[str, Any] = {
        "@type": "product", "@merge": True, "id": record_id("products", item), "sku": fields.get("sku") or None,
        "title": fields.get("name") or None, "price": _number(fields.get("price")),
        "currency": fields.get("currency") or None,
        "is_in_stock": bool(fields.get("in_stock")), "is_active": bool(fields.get("active", True)),
    }
    properties = {"stock_level": _number(fields.get("available")), "product_hierarchy": fields.get("productHierarchy")}
    # Numeric stock is not an Ometria field (unconfirmed); kept as a property for segments.
    properties = {k: v for k, v in properties.items() if v is not None}
    if properties:
        record["properties"] = properties
    # The category as a product attribute: the contract lists `attributes` (a list, which
    # @merge replaces whole, so an item that lost its category sends none); Ometria's product
    # guide shapes each as {type, id, label} (unconfirmed here). The id is the ERP's code, so
    # a rename changes the label only.
    code = fields.get("categoryCode")
    record["attributes"] = [{"type": "category", "id": str(code), "label": fields.get("category") or str(code)}
                            ] if code else []
    return {k: v for k, v in record.items() if v is not None}


def custom_event_record(item: PushItem, *, now: datetime | None = None) -> dict[str, Any]:
    fields = item.fields or {}
    event = str(fields.get("event") or "event")
    properties: dict[str, Any] = {"order_id": fields.get("orderId")}
    tracking = [str(t) for t in fields.get("trackingNumbers") or [] if t]
    if tracking:
        properties["tracking_numbers"] = ", ".join(tracking)  # nested arrays are not segmentable [OM-CE]
    return {
        "@type": "custom_event", "id": str(item.key), "event_type": f"order_{event}",
        "timestamp": iso_timestamp(fields.get("date")) or (now or datetime.now(UTC)).isoformat(),
        "identity_email": item.identifier or None,
        "properties": {k: v for k, v in properties.items() if v is not None},
    }
