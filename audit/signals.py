"""Signal receivers writing AuditEntry rows for every audited model, whatever saves it:
the editor pages, the Django admin, `apply_config`, a shell.

A change is written in the saving transaction, so it is recorded exactly when the
change itself commits. A save that changes nothing but ignored fields writes nothing.
Queryset `update()` and `bulk_create` send no signals and are not seen here.
Many-to-many fields named in the registry (`many`) are entries of their own, listing the
related objects by name before and after; `concealed` fields show as "(changed)" only.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save

from .context import current_actor
from .registry import AUDITED, audited
from .snapshot import snapshot

_BEFORE = "_audit_before"
_CONCEALED = "_audit_concealed"  # the stored values of concealed fields, compared, never written
_MANY = "_audit_many"  # between a pre_ and a post_ m2m signal: (field, owner pk) -> (owner, names before)
CHANGED = "(changed)"
# through model -> (the model owning the many-to-many field, the field's name)
_WATCHED_MANY: dict[type, tuple[type, str]] = {}
_suspended: ContextVar[bool] = ContextVar("audit_suspended", default=False)


@contextmanager
def audit_suspended() -> Iterator[None]:
    """Nothing saved inside is audited: setup that is nobody's change, such as the
    permissions `migrate` grants a role for new models."""
    token = _suspended.set(True)
    try:
        yield
    finally:
        _suspended.reset(token)


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


def _concealed_values(instance, spec) -> dict:
    return {name: getattr(instance, name) for name in spec.concealed}


def _concealed_marked(instance, spec, after: dict) -> dict:
    """`after` with each concealed field that changed since it was read shown as "(changed)"."""
    stored = getattr(instance, _CONCEALED, None)
    if not stored:
        return after
    changed = {name: CHANGED for name, value in stored.items() if getattr(instance, name) != value}
    return {**after, **changed}


def _pre_save(sender, instance, raw=False, **kwargs) -> None:
    if _suspended.get():
        return
    spec = audited(sender)
    before = concealed = None
    if not instance._state.adding and instance.pk is not None:
        stored = sender._base_manager.filter(pk=instance.pk).first()
        if stored is not None:
            before, concealed = snapshot(stored, ignored=spec.ignored), _concealed_values(stored, spec)
    setattr(instance, _BEFORE, before)
    setattr(instance, _CONCEALED, concealed)


def _post_save(sender, instance, created, raw=False, **kwargs) -> None:
    if _suspended.get():
        return
    spec = audited(sender)
    before = getattr(instance, _BEFORE, None)
    after = snapshot(instance, ignored=spec.ignored)
    shown = _concealed_marked(instance, spec, after)
    if created or before is None:
        _write(instance, "create", None, after)
    elif before != shown:
        _write(instance, "update", before, shown)
    setattr(instance, _BEFORE, after)  # a second save of the same object diffs from here
    setattr(instance, _CONCEALED, _concealed_values(instance, spec))


def _post_delete(sender, instance, **kwargs) -> None:
    if _suspended.get():
        return
    _write(instance, "delete", snapshot(instance, ignored=audited(sender).ignored), None)


def _many_names(owner, name: str) -> list[str]:
    return sorted(str(related) for related in getattr(owner, name).all())


def _many_owners(instance, reverse: bool, pk_set, owner_model, name: str) -> list:
    """The objects whose field `name` changes: the instance, or on the reverse side
    (`group.user_set.add(user)`) the users named, or all of them on a clear."""
    if not reverse:
        return [instance]
    if pk_set is not None:
        return list(owner_model._base_manager.filter(pk__in=pk_set))
    accessor = owner_model._meta.get_field(name).remote_field.get_accessor_name()
    return list(getattr(instance, accessor).all())


def _m2m_changed(sender, instance, action, reverse, pk_set=None, **kwargs) -> None:
    if _suspended.get():
        return
    owner_model, name = _WATCHED_MANY[sender]
    pending = instance.__dict__.setdefault(_MANY, {})
    if action in ("pre_add", "pre_remove", "pre_clear"):
        for owner in _many_owners(instance, reverse, pk_set, owner_model, name):
            pending[(name, owner.pk)] = (owner, _many_names(owner, name))
    elif action in ("post_add", "post_remove", "post_clear"):
        for key in [key for key in pending if key[0] == name]:
            owner, before = pending.pop(key)
            after = _many_names(owner, name)
            if before != after:
                _write(owner, "update", {name: before}, {name: after})


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
        for name in spec.many:
            through = model._meta.get_field(name).remote_field.through
            _WATCHED_MANY[through] = (model, name)
            m2m_changed.connect(_m2m_changed, sender=through, dispatch_uid=f"{uid}:{name}:m2m")
