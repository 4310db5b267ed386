"""Consent rows are what the destinations reported: read here, never edited by hand."""
from __future__ import annotations

from django.contrib import admin

from .models import ConsentEvent, ConsentReadBack, ConsentState


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ConsentState)
class ConsentStateAdmin(ReadOnly):
    list_display = ("card_code", "connection", "destination", "status", "reason", "changed_at")
    list_filter = ("destination", "status")
    list_select_related = ("connection", "destination")
    search_fields = ("card_code",)


@admin.register(ConsentEvent)
class ConsentEventAdmin(ReadOnly):
    list_display = ("card_code", "destination", "status", "source", "occurred_at", "recorded_at")
    list_filter = ("destination", "status")
    list_select_related = ("destination",)
    search_fields = ("card_code",)


@admin.register(ConsentReadBack)
class ConsentReadBackAdmin(ReadOnly):
    list_display = ("destination", "read_until", "last_run_at", "changes", "unknown", "last_error")
    list_select_related = ("destination",)
