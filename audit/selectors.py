"""Reading the history: of one object, or of everything shown under a parent."""
from __future__ import annotations

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db.models import Q, QuerySet

from .models import AuditEntry
from .registry import AUDITED, audited

PAGE = 50  # newest entries shown on a page; the admin list holds the rest


def has_history(model) -> bool:
    """Audited itself, or the parent audited objects are shown under."""
    if audited(model):
        return True
    for spec in AUDITED.values():
        try:
            child = apps.get_model(spec.label)
        except LookupError:
            continue
        if spec.parent and child._meta.get_field(spec.parent).related_model is model:
            return True
    return False


def entries_for_object(obj, *, limit: int = PAGE) -> list[AuditEntry]:
    """The newest changes of `obj`, and of the objects shown under it (a destination's
    mappings and rules), newest first. Empty for a model that is not audited."""
    content_type = ContentType.objects.get_for_model(type(obj))
    own = Q(content_type=content_type, object_id=str(obj.pk))
    children = Q(parent_type=content_type, parent_id=str(obj.pk))
    query = own | children if audited(type(obj)) else children
    return list(AuditEntry.objects.filter(query).select_related("content_type")[:limit])


def entries_of_children(*, parent, model, where: dict | None = None, limit: int = PAGE) -> list[AuditEntry]:
    """Changes of `model` rows shown under `parent`, deleted rows included; `where`
    filters on a snapshot field (e.g. {"entity": "customers"}) before or after."""
    queryset: QuerySet = AuditEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(model),
        parent_type=ContentType.objects.get_for_model(type(parent)), parent_id=str(parent.pk))
    for name, value in (where or {}).items():
        queryset = queryset.filter(Q(**{f"after__{name}": value}) | Q(**{f"before__{name}": value}))
    return list(queryset.select_related("content_type")[:limit])
