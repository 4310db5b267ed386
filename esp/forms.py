"""Forms of the configuration pages: the mapping set of one destination and entity, the
preview controls, and a warehouse rule.

Mapping rows are checked by `esp.mapping.mapping_validate` and the destination
adapter's naming rules, as in the admin; what only the whole set can tell (two rows
filling one destination field) is checked by the formset.
"""
from __future__ import annotations

from typing import Any

from django import forms
from django.forms import BaseModelFormSet, modelformset_factory

from erp.models import Warehouse
from esp.mapping import _destination_refusal, mapping_validate
from esp.models import EspAccount, FieldMapping, WarehouseRule
from esp.transforms import transform_choices
from syncapp.models import Flow

ROW_FIELDS = ("position", "source_field", "transform", "transform_arg", "target_field", "target_type", "required",
              "enabled")


class OptionalJSONField(forms.JSONField):
    """JSON, shown empty (not `null`) when there is no value."""

    def prepare_value(self, value: Any) -> Any:
        return "" if value is None else super().prepare_value(value)


POSITION_STEP = 10  # as the default mappings are placed, leaving room to insert


class MappingRowForm(forms.ModelForm):
    """One mapping row. `destination` and `entity` come from the page, not the form."""

    transform = forms.ChoiceField(choices=transform_choices, initial="none")
    transform_arg = OptionalJSONField(required=False, label="Argument (JSON)",
                                      widget=forms.TextInput(attrs={"size": 18}))

    class Meta:
        model = FieldMapping
        fields = ROW_FIELDS
        widgets = {
            "position": forms.NumberInput(attrs={"class": "position", "min": 0, "style": "width: 4em"}),
            "source_field": forms.TextInput(attrs={"list": "source-fields", "size": 18}),
            "target_field": forms.TextInput(attrs={"size": 18}),
        }

    def __init__(self, *args, destination: EspAccount, entity: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.destination, self.entity = destination, entity

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("DELETE"):
            return cleaned
        # No destination on the candidate: the other rows are compared by the formset,
        # against what they will be, not against what is stored.
        candidate = FieldMapping(pk=self.instance.pk, entity=self.entity,
                                 **{name: cleaned.get(name) for name in ROW_FIELDS if name in cleaned})
        problems = mapping_validate(mapping=candidate)
        target = (cleaned.get("target_field") or "").strip()
        if target and "target_field" not in problems:
            refusal = _destination_refusal(self.destination.kind, target)
            if refusal:
                problems["target_field"] = refusal
        for name, problem in problems.items():
            if name not in self.errors:  # the field's own error says more
                self.add_error(name if name in self.fields else None, problem)
        return cleaned

    def mapping(self) -> FieldMapping:
        """The row as an unsaved FieldMapping of the page's destination and entity."""
        instance = self.instance
        instance.destination, instance.entity = self.destination, self.entity
        instance.target_field = instance.target_field.strip()
        return instance


class BaseMappingFormSet(BaseModelFormSet):
    def __init__(self, *args, destination: EspAccount, entity: str, **kwargs) -> None:
        self.destination, self.entity = destination, entity
        kwargs.setdefault("queryset", FieldMapping.objects.filter(destination=destination, entity=entity)
                          .order_by("position", "id"))
        kwargs["form_kwargs"] = {"destination": destination, "entity": entity}
        super().__init__(*args, **kwargs)
        # Blank rows go after the last mapping, so a new field is sent last unless moved.
        last = max((mapping.position for mapping in self.get_queryset()), default=0)
        self.initial_extra = [{"position": last + POSITION_STEP * (n + 1)} for n in range(100)]

    def kept_forms(self) -> list[MappingRowForm]:
        """Rows that stay after saving (call once valid): not deleted, not an untouched blank row."""
        return [form for form in self.forms
                if not form.cleaned_data.get("DELETE") and (form.instance.pk is not None or form.has_changed())]

    def clean(self) -> None:
        super().clean()
        seen: dict[str, int] = {}
        for number, form in enumerate(self.forms, start=1):
            if not hasattr(form, "cleaned_data") or form.cleaned_data.get("DELETE"):
                continue
            target = (form.cleaned_data.get("target_field") or "").strip().lower()
            if not target or (form.instance.pk is None and not form.has_changed()):
                continue
            if target in seen:
                form.add_error("target_field", f"Row {seen[target]} fills this destination field already; "
                                               "each field is filled once (names compare ignoring case).")
            else:
                seen[target] = number

    def mappings(self) -> list[FieldMapping]:
        """The set as it would be saved, in sending order (position, then row order)."""
        kept = [(form.cleaned_data.get("position") or 0, index, form.mapping())
                for index, form in enumerate(self.kept_forms())]
        return [mapping for _, _, mapping in sorted(kept, key=lambda item: (item[0], item[1]))]


MappingFormSet = modelformset_factory(FieldMapping, form=MappingRowForm, formset=BaseMappingFormSet,
                                      extra=1, can_delete=True)


class PreviewForm(forms.Form):
    """Which flow's records to try the mappings on, and which record to preview."""

    flow = forms.ModelChoiceField(queryset=Flow.objects.none(), empty_label=None, label="Flow")
    record = forms.CharField(required=False, max_length=100, label="Record to preview (CardCode, name or email)")

    def __init__(self, *args, flows, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["flow"].queryset = flows


def _warehouse_choices(destination: EspAccount, rule: WarehouseRule | None) -> list[tuple[str, str]]:
    """Warehouses of every connection flowing to the destination, and any the rule names."""
    connections = Flow.objects.filter(destination=destination).values("connection")
    known = {code: f"{code} · {name}" + (" (inactive)" if inactive else "")
             for code, name, inactive in Warehouse.objects.filter(connection__in=connections)
             .order_by("code").values_list("code", "name", "inactive")}
    for code in [*(rule.included_warehouses if rule else []), *(rule.excluded_warehouses if rule else [])]:
        known.setdefault(code, f"{code} (not known to the ERP mirror)")
    return sorted(known.items())


class WarehouseRuleForm(forms.ModelForm):
    """A warehouse rule; the warehouses offered are those the ERP mirror knows."""

    included_warehouses = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label="Counted warehouses",
        help_text="Only these count; none ticked means every active warehouse counts.")
    excluded_warehouses = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label="Ring-fenced warehouses",
        help_text="Never count, e.g. wholesale stock.")

    class Meta:
        model = WarehouseRule
        fields = ("channel", "included_warehouses", "excluded_warehouses", "availability", "low_stock_threshold")
        widgets = {"availability": forms.RadioSelect}
        labels = {"availability": "Stock sent", "low_stock_threshold": "Low-stock threshold"}

    def __init__(self, *args, destination: EspAccount, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.destination = destination
        self.instance.destination = destination
        choices = _warehouse_choices(destination, self.instance if self.instance.pk else None)
        self.fields["included_warehouses"].choices = choices
        self.fields["excluded_warehouses"].choices = choices

    def clean_low_stock_threshold(self) -> float:
        value = self.cleaned_data["low_stock_threshold"]
        if value < 0:
            raise forms.ValidationError("The threshold cannot be negative.")
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        both = set(cleaned.get("included_warehouses") or ()) & set(cleaned.get("excluded_warehouses") or ())
        if both:
            self.add_error("excluded_warehouses",
                           f"{', '.join(sorted(both))} cannot be counted and ring-fenced at once.")
        channel = cleaned.get("channel", "")
        taken = WarehouseRule.objects.filter(destination=self.destination, channel=channel).exclude(
            pk=self.instance.pk)
        if taken.exists():
            self.add_error("channel", f"{self.destination} already has a rule for "
                                      f"{channel or 'the whole account'}.")
        return cleaned
