"""What each destination declares it can receive, for the mapping editor to choose from.

dotdigital lists its contact data fields (GET /v2/data-fields, read through the client
and cached briefly: a page view costs at most one call a minute). A field the account
lacks may still be chosen as new: the adapter creates missing data fields before it
pushes (DotdigitalDestination.ensure_fields). Ometria declares no fields over its API:
its documented contact fields are listed from esp/ometria/contact_fields.py, and custom
properties are free-form names added by an admin.

A target is known when the destination declares it, when a saved mapping of the same
destination already writes it, or when the admin marked it new; anything else is
refused on save with a reason (`target_refusal`).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured

from esp.models import EspAccount, FieldMapping
from syncapp.adapters import HubFault, TransportError
from syncapp.ratelimit import AllowanceBusy

logger = logging.getLogger(__name__)

CACHE_SECONDS = 60
FAILURE_CACHE_SECONDS = 15  # a destination that is down is asked again soon, not on every click
PAGE_TIMEOUT_SECONDS = 10  # a page waits this long, not the 121 s a push allows
# Longer than this behind the pushes for the account's allowance, the page says so instead
# (a 429's pause, or a minute the vendor said is spent, can last most of a minute).
PAGE_ALLOWANCE_WAIT_SECONDS = 3.0


@dataclass(frozen=True)
class DeclaredField:
    name: str
    type: str = ""  # String | Numeric | Date | Boolean, when the destination says
    help: str = ""


@dataclass
class FieldCatalog:
    """The fields a destination declares. `available` is False when they could not be
    read (`problem` says why); `new_label` names what an admin may add (a new dotdigital
    data field, a new Ometria property) and `note` explains it."""

    kind: str
    fields: list[DeclaredField] = field(default_factory=list)
    available: bool = True
    problem: str = ""
    new_label: str = ""
    new_help: str = ""
    note: str = ""  # what the list is, e.g. "data fields this dotdigital account has now"
    free_form: str = ""  # what may be sent beyond the list, when the vendor allows it
    case_sensitive: bool = True

    @property
    def label(self) -> str:
        """The vendor's name as people write it."""
        from esp.registry import destination_kind_choices

        return dict(destination_kind_choices()).get(self.kind, self.kind)

    def _key(self, name: str) -> str:
        return name if self.case_sensitive else name.lower()

    def find(self, name: str) -> DeclaredField | None:
        wanted = self._key(name)
        return next((f for f in self.fields if self._key(f.name) == wanted), None)

    def declares(self, name: str) -> bool:
        return self.find(name) is not None


# ---------------------------------------------------------------- per vendor


def _dotdigital_fields(destination: EspAccount) -> list[DeclaredField]:
    from esp.dotdigital.adapter import DEFAULT_CALLS_PER_MINUTE
    from esp.dotdigital.client import DotdigitalClient, base_url_for
    from syncapp.ratelimit import throttle_for, waits_at_most

    # The account's own bucket: the editor takes its turn with the pushes, never around them.
    throttle = throttle_for(destination, destination.calls_per_minute or DEFAULT_CALLS_PER_MINUTE)
    client = DotdigitalClient(base_url_for(destination.region, destination.base_url), destination.api_user,
                              destination.password(), throttle=throttle, timeout=PAGE_TIMEOUT_SECONDS,
                              max_rate_limit_waits=0)
    with waits_at_most(PAGE_ALLOWANCE_WAIT_SECONDS):
        items = client.list_data_fields()
    declared = []
    for item in items:
        name = str(item.get("name") or "").strip()
        if name:
            declared.append(DeclaredField(name, str(item.get("type") or ""),
                                          f"{item.get('type') or 'data'} field, {item.get('visibility') or 'Private'}"))
    return sorted(declared, key=lambda f: f.name.lower())


# What an admin may add to each vendor, and how it compares names; true even when the
# list cannot be read (a new field is then still added on purpose).
_ADDING: dict[str, dict] = {
    "dotdigital": {"case_sensitive": False, "new_label": "New data field…",
                   "new_help": "Created in dotdigital before the next push (1-20 letters, digits, '_' or '-')."},
    "ometria": {"new_label": "New property…",
                "new_help": "A custom contact property: a letter first, then letters, digits, '_'."},
}


def _dotdigital_catalog(destination: EspAccount) -> FieldCatalog:
    return FieldCatalog(kind="dotdigital", fields=_dotdigital_fields(destination),
                        note="data fields this dotdigital account has now", **_ADDING["dotdigital"])


def _ometria_catalog(destination: EspAccount) -> FieldCatalog:
    from esp.ometria.contact_fields import CONTACT_FIELDS, PROPERTIES_NOTE

    return FieldCatalog(kind="ometria", fields=[DeclaredField(f.name, f.type, f.help) for f in CONTACT_FIELDS],
                        note="contact fields Ometria documents", free_form=PROPERTIES_NOTE,
                        **_ADDING["ometria"])


CATALOG_READERS: dict[str, Callable[[EspAccount], FieldCatalog]] = {
    "dotdigital": _dotdigital_catalog,
    "ometria": _ometria_catalog,
}


# ---------------------------------------------------------------- selector


def _cache_key(destination: EspAccount) -> str:
    # The account's settings are part of the key: a new host or user reads afresh.
    stamp = destination.updated_at.timestamp() if destination.updated_at else 0
    return f"esp:field-catalog:{destination.pk}:{stamp}"


def destination_catalog(*, destination: EspAccount, refresh: bool = False) -> FieldCatalog:
    """The fields `destination` declares, from a one-minute cache unless `refresh`.
    Never raises for an unreachable destination: the catalog says it is unavailable."""
    reader = CATALOG_READERS.get(destination.kind)
    if reader is None:
        return FieldCatalog(kind=destination.kind, available=False,
                            problem=f"The hub cannot list the fields of {destination.kind} destinations.")
    key = _cache_key(destination)
    if not refresh:
        cached = cache.get(key)
        if cached is not None:
            return cached
    try:
        catalog = reader(destination)
        seconds = CACHE_SECONDS
    except (TransportError, HubFault, ImproperlyConfigured) as error:
        # The vendor's words, never the secrets: the client's errors carry no credentials.
        logger.info("Could not list the fields of destination %s: %s", destination.name, error)
        catalog = FieldCatalog(kind=destination.kind, available=False, **_ADDING.get(destination.kind, {}),
                               problem=f"The fields of {destination} could not be read: {error}")
        seconds = FAILURE_CACHE_SECONDS
    except AllowanceBusy as busy:
        catalog = FieldCatalog(kind=destination.kind, available=False, **_ADDING.get(destination.kind, {}),
                               problem=(f"The fields of {destination} were not read: its call allowance is in use "
                                        f"by the pushes for about {busy.seconds:.0f} s more"))
        seconds = min(busy.seconds, FAILURE_CACHE_SECONDS)
    cache.set(key, catalog, seconds)
    return catalog


def mapped_targets(*, destination: EspAccount, entity: str) -> list[str]:
    """Targets the saved mappings of this destination and entity already write."""
    return list(FieldMapping.objects.filter(destination=destination, entity=entity)
                .order_by("target_field").values_list("target_field", flat=True))


def target_refusal(*, catalog: FieldCatalog, target: str, saved: Iterable[str], new: bool) -> str | None:
    """Why `target` may not be saved, or None: it must be declared by the destination,
    written by a saved mapping already, or added on purpose as new."""
    if catalog.declares(target):
        return None
    fold = (lambda name: name) if catalog.case_sensitive else str.lower
    if fold(target) in {fold(name) for name in saved}:
        return None
    if new and catalog.new_label:
        return None
    if not catalog.available:
        return (f"'{target}' cannot be checked against the destination now ({catalog.problem}). "
                f"Choose '{catalog.new_label or 'new'}' to add it on purpose, or try again later.")
    if catalog.new_label:
        return (f"The destination has no field '{target}'. Choose one from the list, or choose "
                f"'{catalog.new_label}' to add it.")
    return f"The destination has no field '{target}'. Choose one from the list."
