"""The configuration history: one row per create, change or delete of an audited object."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone

from .snapshot import changed_fields


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: Any
    after: Any


class AuditEntry(models.Model):
    """Who changed which configuration object, when, and how (field by field).

    `before`/`after` are snapshots with secrets hidden: None before a create and after a
    delete. `actor` is the username, or "system:<command>" for a management command;
    `user` is kept when a person acted. `parent_*` points at the object the entry is
    shown under too (a mapping's destination). Entries of one save share `change_id`.
    """

    class Action(models.TextChoices):
        CREATE = "create", "Created"
        UPDATE = "update", "Changed"
        DELETE = "delete", "Deleted"

    at = models.DateTimeField(default=timezone.now)
    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200)
    parent_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    parent_id = models.CharField(max_length=64, blank=True)
    action = models.CharField(max_length=6, choices=Action.choices)
    actor = models.CharField(max_length=150)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    change_id = models.UUIDField(null=True, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["content_type", "object_id", "-at"], name="audit_object_idx"),
            models.Index(fields=["parent_type", "parent_id", "-at"], name="audit_parent_idx"),
            models.Index(fields=["-at"], name="audit_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.object_repr} by {self.actor}"

    @property
    def changes(self) -> list[FieldChange]:
        """What differs; for a create the values set, for a delete the values removed."""
        before, after = self.before or {}, self.after or {}
        names = changed_fields(self.before, self.after)
        if self.action == self.Action.CREATE:
            names = [name for name in names if after.get(name) not in (None, "", [], {})]
        return [FieldChange(name, before.get(name), after.get(name)) for name in names]
