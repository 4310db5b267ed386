"""Admin for destination accounts and their field mappings.

Accounts show no secret: `password_env` is only the name of an environment variable.
Mapping edits go through `mapping_validate`, so a mapping the engine could not run is
refused at the form, next to the field at fault.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from esp.default_mappings import mappings_install_defaults
from esp.mapping import mapping_validate
from esp.mapping_sets import flows_shaped_by
from esp.models import EspAccount, FieldMapping, OrderStatusMapping, SkuRule, WarehouseRule
from esp.ownership import owner_field, owner_or_default
from esp.replanning import RULE_ENTITIES, flows_replan_after_commit
from esp.transforms import TRANSFORMS, transform_choices

_SOURCE_HELP = (
    "A Business Partner field (card_code, card_name, email, cellular, group_code, ...), "
    "a user-defined field (U_LoyaltyTier) or an address part (bill_to.city, "
    "ship_to.zip_code, bill_to.country, ...)."
)
_ARG_HELP = "JSON. " + " ".join(
    f"{t.label}: {t.help_text}" for t in TRANSFORMS.values() if t.takes_arg
)


@admin.register(EspAccount)
class EspAccountAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "region", "calls_per_minute")
    list_filter = ("kind", "region")
    search_fields = ("name", "api_user")
    readonly_fields = ("created_at", "updated_at")
    formfield_overrides: ClassVar[dict[Any, dict[str, Any]]] = {
        models.URLField: {"assume_scheme": "https"}
    }
    actions = ("install_default_mappings",)

    @admin.action(description="Add the default customer mappings they lack")
    def install_default_mappings(self, request: HttpRequest, queryset: QuerySet) -> None:
        for account in queryset:
            created = mappings_install_defaults(destination=account, entity="customers")
            if created:
                flows_replan_after_commit(flows_shaped_by(destination=account, entity="customers"))
            self.message_user(
                request, f"{account}: {created} mapping(s) added.", level=messages.SUCCESS
            )


class FieldMappingForm(forms.ModelForm):
    """Refuses what `mapping_validate` refuses, each problem on its own field."""

    transform = forms.ChoiceField(choices=transform_choices, initial="none")
    owner = owner_field()

    class Meta:
        model = FieldMapping
        fields = (
            "destination",
            "entity",
            "source_field",
            "transform",
            "transform_arg",
            "target_field",
            "target_type",
            "required",
            "enabled",
            "position",
            "owner",
        )
        help_texts: ClassVar[dict[str, str]] = {
            "source_field": _SOURCE_HELP,
            "transform_arg": _ARG_HELP,
        }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        target = cleaned.get("target_field") or ""
        cleaned["owner"] = self.instance.owner = owner_or_default(cleaned.get("owner"), target)
        candidate = FieldMapping(
            pk=self.instance.pk,
            **{name: cleaned.get(name) for name in self._meta.fields if name != "destination"},
        )
        if cleaned.get("destination") is not None:
            candidate.destination = cleaned["destination"]
        for name, problem in mapping_validate(mapping=candidate).items():
            if name in self.errors:
                continue  # the field's own error says more than a check on a missing value
            self.add_error(name if name in self.fields else None, problem)
        return cleaned


class TransformFilter(admin.SimpleListFilter):
    title = "transform"
    parameter_name = "transform"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return transform_choices()

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(transform=self.value()) if self.value() else queryset


@admin.register(FieldMapping)
class FieldMappingAdmin(admin.ModelAdmin):
    form = FieldMappingForm
    list_display = (
        "target_field",
        "destination",
        "entity",
        "source_field",
        "transform",
        "target_type",
        "required",
        "enabled",
        "position",
        "owner",
    )
    list_editable = ("required", "enabled", "position")
    list_filter = ("destination", "entity", TransformFilter, "target_type", "enabled", "owner")
    list_select_related = ("destination",)
    search_fields = ("source_field", "target_field")
    ordering = ("destination__name", "entity", "position", "id")

    # Mappings shape every payload of their flows: re-plan them, as the mapping editor does.
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        flows_replan_after_commit(flows_shaped_by(destination=obj.destination, entity=obj.entity))

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        flows_replan_after_commit(flows_shaped_by(destination=obj.destination, entity=obj.entity))

    def delete_queryset(self, request, queryset):
        shaped = set(queryset.values_list("destination", "entity"))
        super().delete_queryset(request, queryset)
        for destination_id, entity in shaped:
            flows_replan_after_commit(flows_shaped_by(destination=destination_id, entity=entity))


def _replan_products_after_save(flows) -> None:
    """Rules shape every product: re-plan them once the change is committed."""
    flows_replan_after_commit(flows.filter(entity__in=RULE_ENTITIES))


@admin.register(SkuRule)
class SkuRuleAdmin(admin.ModelAdmin):
    list_display = ["connection", "trim", "strip_leading_zeros", "case", "updated_at"]

    def save_model(self, request, obj, form, change):
        from syncapp.models import Flow

        super().save_model(request, obj, form, change)
        _replan_products_after_save(Flow.objects.filter(connection=obj.connection))


@admin.register(WarehouseRule)
class WarehouseRuleAdmin(admin.ModelAdmin):
    """Edited by admins; the change page previews a SKU's figures under the saved rule."""

    list_display = ["destination", "channel", "availability", "low_stock_threshold", "updated_at"]
    change_form_template = "admin/esp/warehouserule/change_form.html"

    def save_model(self, request, obj, form, change):
        from syncapp.models import Flow

        super().save_model(request, obj, form, change)
        _replan_products_after_save(Flow.objects.filter(destination=obj.destination))

    def delete_model(self, request, obj):
        from syncapp.models import Flow

        super().delete_model(request, obj)  # a ring-fence removed must release its stock at once
        _replan_products_after_save(Flow.objects.filter(destination=obj.destination))

    def delete_queryset(self, request, queryset):
        from syncapp.models import Flow

        destinations = list(queryset.values_list("destination_id", flat=True))
        super().delete_queryset(request, queryset)
        _replan_products_after_save(Flow.objects.filter(destination_id__in=destinations))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        sku = request.GET.get("preview_sku", "").strip()
        rule = self.get_object(request, object_id)
        if sku and rule is not None:
            from esp.stock_preview import stock_preview

            extra_context["preview"] = stock_preview(rule=rule, sku=sku)
            extra_context["preview_sku"] = sku
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(OrderStatusMapping)
class OrderStatusMappingAdmin(admin.ModelAdmin):
    """What each ERP order state is called at a destination; unmapped states use the defaults."""

    list_display = ["destination", "erp_status", "destination_status"]
    list_filter = ["destination"]
    list_editable = ["destination_status"]
