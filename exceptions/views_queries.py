"""What the exception and conflict pages read (selectors), each one bounded query.

No page counts a whole table: the list is keyset-paginated on (last_seen, id), the
reason groups are one GROUP BY over the filtered rows, and a record page reads its
source record, outbox row and history by key.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.core.cache import cache
from django.db.models import Count, Max, Q, QuerySet
from django.forms.models import model_to_dict
from django.utils.module_loading import import_string

from syncapp.entities import FLOW_ENTITIES

from .filters import ENTITY_LABELS
from .models import DuplicateEmailConflict, SyncException, Team
from .reasons import reason_for

PAGE_SIZE = 50
# The list never loads payloads; the record page does.
LIST_FIELDS = ("id", "connection_id", "flow_id", "entity", "record_key", "stage", "reason_code", "message",
               "status", "owner_team", "attempts", "first_seen", "last_seen", "destination_code", "assignee_id")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# -- keyset pagination ---------------------------------------------------------------

def cursor_encode(row: SyncException) -> str:
    """(last_seen, id) as "<microseconds since epoch>-<id>": exact, and safe in a URL."""
    return f"{(row.last_seen - _EPOCH) // timedelta(microseconds=1)}-{row.pk}"


def cursor_decode(value: str | None) -> tuple[datetime, int] | None:
    try:
        micros, pk = (value or "").split("-", 1)
        return _EPOCH + timedelta(microseconds=int(micros)), int(pk)
    except ValueError:
        return None  # a mangled cursor shows the first page rather than an error


@dataclass
class KeysetPage:
    rows: list[SyncException]
    next_cursor: str | None  # older rows exist
    prev_cursor: str | None  # newer rows exist


def exceptions_page(queryset: QuerySet[SyncException], *, after: str | None = None, before: str | None = None,
                    size: int = PAGE_SIZE) -> KeysetPage:
    """Newest first. `after` continues past a row (older), `before` goes back (newer).

    Reads size + 1 rows to know whether another page exists; never counts."""
    queryset = queryset.select_related("flow__destination", "assignee").only(
        *LIST_FIELDS, "flow__name", "flow__destination__name", "assignee__username")
    back = cursor_decode(before)
    forward = None if back else cursor_decode(after)
    if back:
        seen, pk = back
        # `last_seen >= seen` gives the index a range to start from; the OR settles ties.
        rows = list(queryset.filter(last_seen__gte=seen).filter(Q(last_seen__gt=seen) | Q(id__gt=pk))
                    .order_by("last_seen", "id")[:size + 1])
        has_newer = len(rows) > size
        rows = rows[:size][::-1]
        return KeysetPage(rows=rows, next_cursor=cursor_encode(rows[-1]) if rows else None,
                          prev_cursor=cursor_encode(rows[0]) if rows and has_newer else None)
    if forward:
        seen, pk = forward
        queryset = queryset.filter(last_seen__lte=seen).filter(Q(last_seen__lt=seen) | Q(id__lt=pk))
    rows = list(queryset.order_by("-last_seen", "-id")[:size + 1])
    has_older = len(rows) > size
    rows = rows[:size]
    return KeysetPage(rows=rows, next_cursor=cursor_encode(rows[-1]) if rows and has_older else None,
                      prev_cursor=cursor_encode(rows[0]) if rows and forward else None)


# -- reason groups -------------------------------------------------------------------

@dataclass
class ReasonGroup:
    reason_code: str
    entity: str
    exceptions: int
    records: int
    newest: datetime

    @property
    def title(self) -> str:
        return reason_for(self.reason_code).title

    @property
    def owner(self) -> str:
        return Team(reason_for(self.reason_code).owner).label

    @property
    def entity_label(self) -> str:
        return ENTITY_LABELS.get(self.entity, self.entity)


# How long a group table is kept for the same filter and the same rows (see exception_groups).
GROUPS_KEPT_SECONDS = 60


def exception_groups(queryset: QuerySet[SyncException]) -> list[ReasonGroup]:
    """One GROUP BY over the filtered rows: per reason and entity, how many exceptions
    and how many distinct records they concern; the most recently seen group first.

    COUNT(*) rather than COUNT(id) lets PostgreSQL answer from an index holding
    (reason_code, entity, record_key) plus the filtered columns, without the table.
    Counting distinct records sorts every row (58,000 on the default tab of a big hub),
    so the table is kept in the cache under the filter and a fingerprint of its rows (how
    many, the latest last_seen: any save or status change moves one), read from the
    same index at a sixth of the cost: a change shows at once, an unchanged hub is not
    recounted."""
    fingerprint = queryset.order_by().aggregate(n=Count("*"), newest=Max("last_seen"))
    sql, params = queryset.order_by().query.sql_with_params()
    key = "exception_groups:" + hashlib.sha256(repr((sql, params, fingerprint)).encode()).hexdigest()
    rows = cache.get(key)
    if rows is None:
        rows = list(queryset.order_by().values("reason_code", "entity")
                    .annotate(exceptions=Count("*"), records=Count("record_key", distinct=True),
                              newest=Max("last_seen")).order_by("-newest"))
        cache.set(key, rows, GROUPS_KEPT_SECONDS)
    return [ReasonGroup(**row) for row in rows]


# -- one record ----------------------------------------------------------------------

# Entities named as ingest reads them (no flow), beside the flow entities of syncapp.entities.
_SOURCE_MIRRORS = {
    "business_partners": ("erp.models.BusinessPartner", "card_code"),
    "items": ("erp.models.Item", "item_code"),
    "item_stock": ("erp.models.Item", "item_code"),
    "warehouses": ("erp.models.Warehouse", "code"),
    "orders": ("erp.documents.SalesOrder", "doc_entry"),
    "deliveries": ("erp.documents.Delivery", "doc_entry"),
    "invoices": ("erp.documents.Invoice", "doc_entry"),
    "credit_notes": ("erp.documents.CreditMemo", "doc_entry"),
    "returns": ("erp.documents.Return", "doc_entry"),
}
_HIDDEN_FIELDS = {"id", "connection", "raw", "content_hash", "stock_hash"}


@dataclass
class MirrorRecord:
    kind: str
    fields: dict


def source_record_for(exception: SyncException) -> MirrorRecord | None:
    """The record as the mirror holds it now (read live), or None if it is not there."""
    spec = FLOW_ENTITIES.get(exception.entity)
    if exception.flow_id and spec is not None:
        path, key_field = spec.mirror_model, spec.mirror_key
        key = spec.source_keys([exception.record_key])[0]
    elif exception.entity in _SOURCE_MIRRORS:
        path, key_field = _SOURCE_MIRRORS[exception.entity]
        key = exception.record_key
    else:
        return None
    model = import_string(path)
    if model._meta.get_field(key_field).get_internal_type() == "IntegerField":
        try:
            key = int(key)
        except ValueError:
            return None  # "(connection)" and unreadable records have no mirror row
    row = model.objects.filter(connection_id=exception.connection_id, **{key_field: key}).first()
    if row is None and path == "erp.models.BusinessPartner":  # a B2B contact person ("C001#3")
        from erp.contact_persons import contact_persons_named

        named = contact_persons_named(connection_id=exception.connection_id, keys=[key]).get(key)
        row, model = (named[0], type(named[0])) if named else (None, model)
    if row is None:
        return None
    values = model_to_dict(row, exclude=list(_HIDDEN_FIELDS))
    for name in ("source_updated_at", "mirrored_at"):
        if hasattr(row, name):
            values[name] = getattr(row, name)  # not editable, so model_to_dict leaves them out
    labelled = {str(model._meta.get_field(name).verbose_name).capitalize(): value for name, value in values.items()}
    return MirrorRecord(kind=str(model._meta.verbose_name), fields=labelled)


def outbox_row_for(exception: SyncException):
    """The destination's side of the record: what is queued or was last sent, and the
    engine's own attempts and last error."""
    if not exception.flow_id:
        return None
    from syncapp.models import OutboxItem

    return OutboxItem.objects.filter(flow_id=exception.flow_id, record_key=exception.record_key).first()


def conflict_for(exception: SyncException) -> DuplicateEmailConflict | None:
    """The conflict holding a duplicate-email record, found by its partner's email."""
    if exception.reason_code != "duplicate_email":
        return None
    from erp.models import BusinessPartner

    email = (BusinessPartner.objects.filter(connection_id=exception.connection_id,
                                            card_code=exception.record_key)
             .values_list("email_normalised", flat=True).first())
    if not email:
        return None
    return DuplicateEmailConflict.objects.filter(connection_id=exception.connection_id,
                                                 email_normalised=email).first()


# -- conflicts -----------------------------------------------------------------------

@dataclass
class Partner:
    card_code: str
    card_name: str = ""
    card_type: str = ""
    email: str = ""
    source_updated_at: datetime | None = None
    orders: int | None = None
    in_mirror: bool = True
    # What decides a winner besides recency: the value the partner brought (orders net of
    # credit memos, as the contact's LIFETIMEVALUE) and whether it consented to marketing.
    lifetime_value: float | None = None
    last_order_date: object = None
    consent: str = ""
    consent_field: str = ""


def _consent(udfs: dict) -> tuple[str, str]:
    """(field, value) of the partner's marketing-consent user field, e.g. U_MarketingConsent."""
    for name, value in (udfs or {}).items():
        if "consent" in name.lower() or "optin" in name.lower():
            return name, "" if value is None else str(value)
    return "", ""


def conflict_partners(conflicts: list[DuplicateEmailConflict]) -> dict[int, list[Partner]]:
    """The Business Partners of each conflict side by side, with the figures the contact
    would carry (orders, lifetime value net of credit memos, last order, as
    erp.customer_figures counts them) and their marketing consent: a few queries per
    connection on the page, whatever its size."""
    from erp.contact_persons import contact_persons_named
    from erp.customer_figures import customer_figures
    from erp.models import BusinessPartner, ErpConnection

    by_connection: dict[int, set[str]] = {}
    for conflict in conflicts:
        by_connection.setdefault(conflict.connection_id, set()).update(conflict.card_codes)
    partners: dict[tuple[int, str], Partner] = {}
    figures: dict[tuple[int, str], dict] = {}
    for connection_id, codes in by_connection.items():
        for bp in BusinessPartner.objects.filter(connection_id=connection_id, card_code__in=codes).only(
                "card_code", "card_name", "card_type", "email", "source_updated_at", "udfs"):
            consent_field, consent = _consent(bp.udfs)
            partners[(connection_id, bp.card_code)] = Partner(
                card_code=bp.card_code, card_name=bp.card_name, card_type=bp.get_card_type_display(),
                email=bp.email, source_updated_at=bp.source_updated_at, consent=consent,
                consent_field=consent_field)
        # A B2B contact person ("C001#3") stands beside them with its company's figures.
        companies = {code: code for code in codes}
        for key, (person, company) in contact_persons_named(connection_id=connection_id, keys=codes).items():
            consent_field, consent = _consent({**(company.udfs or {}), **(person.udfs or {})})
            partners[(connection_id, key)] = Partner(
                card_code=key, card_name=f"{person.full_name} ({company.card_name})",
                card_type=f"Contact person of a {company.get_card_type_display().lower()}", email=person.email,
                source_updated_at=company.source_updated_at, consent="N" if person.marketing_blocked else consent,
                consent_field=consent_field)
            companies[key] = company.card_code
        connection = ErpConnection(pk=connection_id)
        found_figures = customer_figures(connection=connection, card_codes=sorted(set(companies.values())))
        for code, company_code in companies.items():
            figures[(connection_id, code)] = found_figures[company_code]
    result = {}
    for conflict in conflicts:
        side = []
        for code in conflict.card_codes:
            partner = partners.get((conflict.connection_id, code)) or Partner(card_code=code, in_mirror=False)
            found = figures.get((conflict.connection_id, code), {})
            partner.orders = found.get("order_count", 0)
            partner.lifetime_value = found.get("lifetime_value")
            partner.last_order_date = found.get("last_order_date")
            side.append(partner)
        result[conflict.pk] = side
    return result
