from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.utils import timezone
from django.utils.html import format_html

from .bulk import exceptions_bulk_ignore
from .conflicts import conflict_resolve
from .models import DuplicateEmailConflict, SyncException
from .reasons import REASON_CHOICES, reason_for
from .services import QUEUE_UNAVAILABLE, exceptions_retry


class ReasonFilter(admin.SimpleListFilter):
    title = "reason"
    parameter_name = "reason"

    def lookups(self, request, model_admin):
        return REASON_CHOICES

    def queryset(self, request, queryset):
        return queryset.filter(reason_code=self.value()) if self.value() else queryset


class DestinationFilter(admin.SimpleListFilter):
    title = "destination"
    parameter_name = "destination"

    def lookups(self, request, model_admin):
        from esp.models import EspAccount

        return [(a.pk, a.name) for a in EspAccount.objects.order_by("name")]

    def queryset(self, request, queryset):
        return queryset.filter(flow__destination_id=self.value()) if self.value() else queryset


class AgeFilter(admin.SimpleListFilter):
    title = "age"
    parameter_name = "age"
    _ranges = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7)}

    def lookups(self, request, model_admin):
        return [("1h", "First seen in the last hour"), ("24h", "Last 24 hours"), ("7d", "Last 7 days"),
                ("old", "Older than 7 days")]

    def queryset(self, request, queryset):
        value, now = self.value(), timezone.now()
        if value in self._ranges:
            return queryset.filter(first_seen__gte=now - self._ranges[value])
        if value == "old":
            return queryset.filter(first_seen__lt=now - self._ranges["7d"])
        return queryset


@admin.register(SyncException)
class SyncExceptionAdmin(admin.ModelAdmin):
    list_display = ["record_key", "reason_title", "short_message", "flow", "stage", "status", "owner_team",
                    "attempts", "first_seen", "last_seen", "retry_link"]
    list_filter = [ReasonFilter, DestinationFilter, AgeFilter, "status", "owner_team", "stage"]
    search_fields = ["=record_key", "message"]
    list_select_related = ["flow", "connection"]
    show_full_result_count = False
    actions = ["retry_selected", "ignore_selected"]
    readonly_fields = ["connection", "flow", "entity", "record_key", "stage", "reason_code", "destination_code",
                       "message", "what_to_do", "detail", "source_payload", "last_request", "last_response",
                       "attempts", "first_seen", "last_seen", "resolved_at"]
    fields = ["status", "note", "owner_team", *readonly_fields]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("source_payload", "last_request", "last_response")

    @admin.display(description="reason")
    def reason_title(self, obj):
        return reason_for(obj.reason_code).title

    @admin.display(description="what happened")
    def short_message(self, obj):
        return obj.message[:120]

    @admin.display(description="what to do")
    def what_to_do(self, obj):
        return reason_for(obj.reason_code).what_to_do

    @admin.display(description="")
    def retry_link(self, obj):
        if obj.status not in (SyncException.Status.OPEN, SyncException.Status.RETRYING):
            return ""
        return format_html('<a class="button" href="{}">Retry</a>', f"{obj.pk}/retry/")

    def get_urls(self):
        from django.urls import path

        return [path("<int:pk>/retry/", self.admin_site.admin_view(self.retry_view), name="exceptions_retry_one"),
                *super().get_urls()]

    def retry_view(self, request, pk):
        """GET asks for confirmation; only a POST (with its CSRF token) retries."""
        from django.core.exceptions import PermissionDenied
        from django.shortcuts import get_object_or_404, redirect
        from django.template.response import TemplateResponse

        exception = get_object_or_404(SyncException, pk=pk)
        if not self.has_change_permission(request, exception):
            raise PermissionDenied
        if request.method != "POST":
            context = {**self.admin_site.each_context(request), "opts": self.model._meta, "exception": exception,
                       "reason": reason_for(exception.reason_code), "title": f"Retry {exception.record_key}?"}
            return TemplateResponse(request, "admin/exceptions/retry_confirm.html", context)
        exceptions_retry(exceptions=SyncException.objects.filter(pk=pk), actor=request.user)
        messages.success(request, "Retry requested: the record was re-read from the ERP and queued.")
        return redirect("admin:exceptions_syncexception_changelist")

    @admin.action(description="Retry selected")
    def retry_selected(self, request, queryset):
        unqueued: list[int] = []
        with transaction.atomic():  # mark and enqueue (on commit) together
            count = exceptions_retry(exceptions=queryset, unqueued=unqueued, actor=request.user)
        if unqueued:
            messages.error(request, f"{QUEUE_UNAVAILABLE} {len(unqueued)} of {count} record(s) are open again.")
        else:
            messages.success(request, f"Retry requested for {count} record(s).")

    @admin.action(description="Ignore selected")
    def ignore_selected(self, request, queryset):
        count = exceptions_bulk_ignore(queryset=queryset, user=request.user, note="Ignored from the admin's list.")
        messages.success(request, f"Ignored {count} open or retrying exception(s).")


class ConflictResolutionForm(forms.ModelForm):
    """A conflict is resolved by choosing what happens; the status follows from it."""

    class Meta:
        model = DuplicateEmailConflict
        fields = ["resolution", "winner_card_code"]

    def clean(self):
        data = super().clean()
        resolution, winner = data.get("resolution"), data.get("winner_card_code", "")
        if not resolution:
            raise forms.ValidationError("Choose what happens: one record wins, merge them, or send none.")
        if resolution == DuplicateEmailConflict.Resolution.WINNER and winner not in self.instance.card_codes:
            self.add_error("winner_card_code",
                           f"Enter one of the partners in this conflict: {', '.join(self.instance.card_codes)}.")
        return data


@admin.register(DuplicateEmailConflict)
class DuplicateEmailConflictAdmin(admin.ModelAdmin):
    form = ConflictResolutionForm
    list_display = ["email_masked", "card_codes", "status", "resolution", "winner_card_code", "resolved_by",
                    "updated_at", "connection"]
    list_filter = ["status", "resolution", "connection"]
    list_select_related = ["connection", "resolved_by"]
    readonly_fields = ["connection", "email_normalised", "card_codes", "status", "resolved_by", "resolved_at"]
    fields = ["connection", "email_normalised", "card_codes", "status", "resolution", "winner_card_code",
              "resolved_by", "resolved_at"]
    actions = ["resolve_reject"]

    def has_add_permission(self, request):
        return False  # planning finds conflicts; people resolve them

    @admin.display(description="email")
    def email_masked(self, obj):
        from syncapp.logging import mask_email

        return mask_email(obj.email_normalised)

    def save_model(self, request, obj, form, change):
        # Resolving goes through the service, which releases the held records at once.
        conflict_resolve(conflict=obj, resolution=obj.resolution, winner_card_code=obj.winner_card_code,
                         user=request.user)

    @admin.action(description="Reject: send none of these partners")
    def resolve_reject(self, request, queryset):
        for conflict in queryset:
            conflict_resolve(conflict=conflict, resolution=DuplicateEmailConflict.Resolution.REJECT, user=request.user)
        messages.success(request, "Resolved.")
