"""Signal receivers writing AuditEntry rows for every audited model, whatever saves it:
the editor pages, the Django admin, `apply_config`, a shell.

A change is written in the saving transaction, so it is recorded exactly when the
change itself commits. A save that changes nothing but ignored fields writes nothing.
Queryset `update()` and `bulk_create` send no signals and are not seen here.
"""
from __future__ import annotations

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db.models.signals import post_delete, post_save, pre_save

from .context import current_actor
from .registry import AUDITED, audited
from .snapshot import snapshot

_BEFORE = "_audit_before"


def _parent(instance, parent_field: str) -> tuple[ContentType | None, str]:
    if not parent_field:
        return None, ""
    field = instance._meta.get_field(parent_field)
    parent_id = getattr(instance, field.attname)
    if parent_id is None:
        return None, ""
    return ContentType.objects.get_for_model(field.related_model), str(parent_id)


def _write(instance, action: str, before: dict | None, after: dict | None) -> None:
    from .models import AuditEntry

    spec = audited(type(instance))
    actor = current_actor()
    parent_type, parent_id = _parent(instance, spec.parent)
    AuditEntry.objects.create(
        content_type=ContentType.objects.get_for_model(type(instance)), object_id=str(instance.pk),
        object_repr=str(instance)[:200], parent_type=parent_type, parent_id=parent_id, action=action,
        actor=actor.label()[:150], user=actor.user(), change_id=actor.change_id, before=before, after=after)


def _pre_save(sender, instance, raw=False, **kwargs) -> None:
    spec = audited(sender)
    before = None
    if not instance._state.adding and instance.pk is not None:
        stored = sender._base_manager.filter(pk=instance.pk).first()
        before = snapshot(stored, ignored=spec.ignored) if stored is not None else None
    setattr(instance, _BEFORE, before)


def _post_save(sender, instance, created, raw=False, **kwargs) -> None:
    spec = audited(sender)
    before = getattr(instance, _BEFORE, None)
    after = snapshot(instance, ignored=spec.ignored)
    if created or before is None:
        _write(instance, "create", None, after)
    elif before != after:
        _write(instance, "update", before, after)
    setattr(instance, _BEFORE, after)  # a second save of the same object diffs from here


def _post_delete(sender, instance, **kwargs) -> None:
    _write(instance, "delete", snapshot(instance, ignored=audited(sender).ignored), None)


def audit_connect() -> None:
    """Connect the receivers to every registered model that is installed."""
    for spec in AUDITED.values():
        try:
            model = apps.get_model(spec.label)
        except LookupError:
            continue  # an optional app is not installed
        uid = f"audit:{spec.label.lower()}"
        pre_save.connect(_pre_save, sender=model, dispatch_uid=f"{uid}:pre")
        post_save.connect(_post_save, sender=model, dispatch_uid=f"{uid}:post")
        post_delete.connect(_post_delete, sender=model, dispatch_uid=f"{uid}:delete")
