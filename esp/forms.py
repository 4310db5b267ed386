"""Forms of the configuration pages: the mapping set of one destination and entity, the
preview controls, and a warehouse rule.

Mapping rows are checked by `esp.mapping.mapping_validate` and the destination
adapter's naming rules, as in the admin; what only the whole set can tell (two rows
filling one destination field) is checked by the formset.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django import forms
from django.forms import BaseModelFormSet, modelformset_factory
from django.forms.utils import flatatt
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from erp.models import Warehouse
from esp.field_catalog import FieldCatalog, target_refusal
from esp.mapping import _destination_refusal, mapping_validate
from esp.models import EspAccount, FieldMapping, WarehouseRule
from esp.ownership import owner_clash, owner_field, owner_or_default
from esp.source_fields import SourceField
from esp.transform_args import ALL_INPUTS, ArgInputError, arg_from_inputs, input_for, inputs_from_arg
from esp.transforms import transform_choices
from syncapp.models import Flow

ROW_FIELDS = ("position", "source_field", "transform", "target_field", "target_type", "required", "enabled",
              "owner")
NEW_TARGET = "__new__"  # the target choice meaning "a field the destination does not have yet"
POSITION_STEP = 10  # as the default mappings are placed, leaving room to insert


def _options_html(choices: list, data: dict[str, dict[str, str]]) -> str:
    """<option>s (and <optgroup>s) for `choices`, none selected, with their data attributes."""
    parts = []
    for group, options in choices:
        if isinstance(options, (list, tuple)):
            parts.append(format_html('<optgroup label="{}">', group))
            parts.extend(_option_html(value, label, data) for value, label in options)
            parts.append("</optgroup>")
        else:
            parts.append(_option_html(group, options, data))
    return "".join(parts)


def _option_html(value: str, label: str, data: dict[str, dict[str, str]]) -> str:
    attributes = flatatt({f"data-{key}": text for key, text in data.get(str(value), {}).items()})
    return format_html('<option value="{}"{}>{}</option>', value, attributes, label)


class OptionSelect(forms.Select):
    """A select whose options carry data attributes (a source's sample, a target's type)
    for the page's script; `option_data` maps value -> {attribute: text}.

    The options every row shares are rendered once a page (`shared_html`, from
    RowChoices) and only the selected mark differs per row: a page of twenty rows has
    two thousand options, which Django's option templates would take seconds to draw.
    `choices` holds the row's own options (the blank one, a saved value not listed)."""

    option_data: dict[str, dict[str, str]] = {}
    shared_html: str = ""

    def render(self, name, value, attrs=None, renderer=None):
        final = self.build_attrs(self.attrs, attrs)
        final["name"] = name
        final.pop("maxlength", None)  # the field's length check, meaningless on a select
        html = _options_html(list(self.choices), self.option_data) + self.shared_html
        current = "" if value is None else str(value)
        marker = format_html('<option value="{}"', current)
        if current and marker in html:
            html = html.replace(marker, marker + " selected", 1)
        return mark_safe(format_html("<select{}>", flatatt(final)) + html + "</select>")


@dataclass(frozen=True)
class RowChoices:
    """What the rows of one page choose from: the destination's fields (and what may be
    added), the mapped sources with their samples; built once per page."""

    catalog: FieldCatalog
    saved_targets: tuple[str, ...]
    sources: tuple[SourceField, ...]

    @cached_property
    def source_data(self) -> dict[str, dict[str, str]]:
        return {source.name: {"sample": source.sample} for source in self.sources}

    @cached_property
    def source_html(self) -> str:
        groups: dict[str, list] = {}
        for source in self.sources:
            example = f"e.g. {source.sample}" if source.sample else "no example yet"
            groups.setdefault(source.group, []).append((source.name, f"{source.name} · {source.label} · {example}"))
        return _options_html(list(groups.items()), self.source_data)

    @cached_property
    def target_data(self) -> dict[str, dict[str, str]]:
        return {item.name: {"type": item.type} for item in self.catalog.fields if item.type}

    @cached_property
    def listed_targets(self) -> set[str]:
        known = {item.name.lower() for item in self.catalog.fields}
        return known | {name.lower() for name in self.saved_targets}

    @cached_property
    def target_html(self) -> str:
        catalog = self.catalog
        declared = []
        for item in catalog.fields:
            shown = item.name + (f" · {item.type}" if item.type and catalog.kind == "dotdigital" else "")
            if item.help and catalog.kind != "dotdigital":
                shown += f" · {item.help}"
            declared.append((item.name, shown))
        known = {item.name.lower() for item in catalog.fields}
        mapped = [(name, name) for name in self.saved_targets if name.lower() not in known]
        options: list = []
        if declared:
            options.append((f"{catalog.label} fields", declared))
        if mapped:
            options.append(("Already mapped" if catalog.kind == "dotdigital" else "Properties already mapped", mapped))
        if catalog.new_label:
            options.append((NEW_TARGET, catalog.new_label))
        return _options_html(options, self.target_data)


def _source_choices(choices: RowChoices, current: str) -> list:
    """The row's own source options: the blank one, and a saved source no record has."""
    options: list = [("", "— choose the ERP field —")]
    if current and current not in choices.source_data:
        options.append(("Saved", [(current, f"{current} · not in any record yet")]))
    return options


def _target_choices(choices: RowChoices, destination: EspAccount, current: str) -> list:
    """The row's own target options: the blank one, and a typed name nobody lists."""
    options: list = [("", "— choose the destination field —")]
    if current and current != NEW_TARGET and current.lower() not in choices.listed_targets:
        options.append(("Typed", [(current, f"{current} · not known to {destination}")]))
    return options


class MappingRowForm(forms.ModelForm):
    """One mapping row. `destination` and `entity` come from the page, not the form.

    The source and destination fields are chosen from lists (`RowChoices`); a new
    destination field is added on purpose by choosing NEW_TARGET and naming it. The
    transform's argument is edited through the input its transform names
    (esp.transform_args); `transform_arg` itself is set from those inputs."""

    source_field = forms.CharField(max_length=100, widget=OptionSelect)
    transform = forms.ChoiceField(choices=transform_choices, initial="none")
    target_field = forms.CharField(max_length=100, widget=OptionSelect)
    target_new = forms.CharField(required=False, max_length=100, label="New field name",
                                 widget=forms.TextInput(attrs={"size": 16, "class": "target-new"}))
    arg_format = forms.CharField(required=False, label="Date format", widget=forms.TextInput(
        attrs={"size": 12, "list": "date-formats", "placeholder": "YYYY-MM-DD"}))
    arg_value = forms.CharField(required=False, label="Value when empty", widget=forms.TextInput(attrs={"size": 14}))
    arg_pairs = forms.CharField(required=False, label="Replacements, one a line: ERP value = destination value",
                                widget=forms.Textarea(attrs={"rows": 2, "cols": 22,
                                                             "placeholder": "Y = true\nN = false\n* = false"}))
    arg_part = forms.ChoiceField(required=False, label="Part", choices=[("", "—"), ("first", "First name"),
                                                                        ("last", "Last name")])
    arg_json = forms.CharField(required=False, label="Argument (JSON)", widget=forms.TextInput(attrs={"size": 14}))
    owner = owner_field()

    class Meta:
        model = FieldMapping
        fields = ROW_FIELDS
        widgets = {
            "position": forms.NumberInput(attrs={"class": "position", "min": 0, "style": "width: 4em"}),
        }

    def __init__(self, *args, destination: EspAccount, entity: str, choices: RowChoices | None = None,
                 for_save: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.destination, self.entity, self.for_save = destination, entity, for_save
        self.new_target = False
        self.saved_arg = self.instance.transform_arg
        if self.instance.pk is not None:
            for name, text in inputs_from_arg(self.instance.transform, self.instance.transform_arg).items():
                self.initial.setdefault(name, text)
        self.choices = choices or RowChoices(FieldCatalog(kind=destination.kind, available=False), (), ())
        source = self["source_field"].value() or ""
        target = self["target_field"].value() or ""
        widgets = {"source_field": (_source_choices(self.choices, source), self.choices.source_data,
                                    self.choices.source_html),
                   "target_field": (_target_choices(self.choices, destination, target), self.choices.target_data,
                                    self.choices.target_html)}
        for name, (options, data, shared) in widgets.items():
            widget = self.fields[name].widget
            widget.choices, widget.option_data, widget.shared_html = options, data, shared
        self.fields["target_new"].help_text = self.choices.catalog.new_help

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("DELETE"):
            return cleaned
        target = (cleaned.get("target_field") or "").strip()
        if target == NEW_TARGET:
            target = (cleaned.get("target_new") or "").strip()
            self.new_target = True
            if not target:
                self.add_error("target_new", "Name the new field.")
        cleaned["target_field"] = target
        cleaned["owner"] = self.instance.owner = owner_or_default(cleaned.get("owner"), target)
        try:
            cleaned["transform_arg"] = arg_from_inputs(cleaned.get("transform") or "", cleaned)
        except ArgInputError as error:
            self.add_error(error.input_name, str(error))
            return cleaned
        self.instance.transform_arg = cleaned["transform_arg"]
        # No destination on the candidate: the other rows are compared by the formset,
        # against what they will be, not against what is stored.
        candidate = FieldMapping(pk=self.instance.pk, entity=self.entity, transform_arg=cleaned["transform_arg"],
                                 **{name: cleaned.get(name) for name in ROW_FIELDS if name in cleaned})
        problems = mapping_validate(mapping=candidate)
        if "transform_arg" in problems:
            problems[input_for(cleaned.get("transform") or "") or "transform"] = problems.pop("transform_arg")
        if target and "target_field" not in problems:
            refusal = _destination_refusal(self.destination.kind, target) or self._target_refusal(cleaned, target)
            if refusal:
                problems["target_field"] = refusal
        for name, problem in problems.items():
            if name not in self.errors:  # the field's own error says more
                self.add_error(name if name in self.fields else None, problem)
        return cleaned

    @property
    def arg_input(self) -> str | None:
        """The input editing this row's argument, for the page to show."""
        return input_for(str(self["transform"].value() or ""))

    @property
    def source_sample(self) -> str:
        """What the chosen source holds in a real record, as the page shows it."""
        value = str(self["source_field"].value() or "")
        if not value:
            return ""
        sample = self.fields["source_field"].widget.option_data.get(value, {}).get("sample", "")
        return f"e.g. {sample}" if sample else "no record has a value yet"

    @property
    def choosing_new_target(self) -> bool:
        return self["target_field"].value() == NEW_TARGET

    def _target_refusal(self, cleaned: dict[str, Any], target: str) -> str | None:
        """On save only: the destination must know the field (or it is added on purpose),
        and a field it declares with a type takes that type."""
        if not self.for_save:
            return None
        catalog = self.choices.catalog
        refusal = target_refusal(catalog=catalog, target=target, saved=self.choices.saved_targets,
                                 new=self.new_target)
        if refusal:
            return refusal
        declared = catalog.find(target)
        kind = cleaned.get("target_type")
        if (declared and declared.type and kind and declared.type != kind and catalog.kind == "dotdigital"
                and {"target_field", "target_type"} & set(self.changed_data)):
            return f"{declared.name} is a {declared.type} data field in dotdigital; choose the type {declared.type}."
        return None

    def has_changed(self) -> bool:
        # A new row nobody chose anything for stays blank, whatever its inputs hold.
        if self.instance.pk is None:
            return bool(self["source_field"].value() or self["target_field"].value())
        if any(name in self.changed_data for name in ROW_FIELDS):
            return True
        # The argument compares as a value: a browser's line ends in a list of replacements
        # are no change.
        cleaned = getattr(self, "cleaned_data", None) or {}
        if "transform_arg" in cleaned:
            return cleaned["transform_arg"] != self.saved_arg
        return any(name in self.changed_data for name in ALL_INPUTS)

    def mapping(self) -> FieldMapping:
        """The row as an unsaved FieldMapping of the page's destination and entity."""
        instance = self.instance
        instance.destination, instance.entity = self.destination, self.entity
        instance.target_field = instance.target_field.strip()
        return instance


class BaseMappingFormSet(BaseModelFormSet):
    def __init__(self, *args, destination: EspAccount, entity: str, choices: RowChoices | None = None,
                 for_save: bool = False, **kwargs) -> None:
        self.destination, self.entity = destination, entity
        kwargs.setdefault("queryset", FieldMapping.objects.filter(destination=destination, entity=entity)
                          .order_by("position", "id"))
        kwargs["form_kwargs"] = {"destination": destination, "entity": entity, "choices": choices,
                                 "for_save": for_save}
        super().__init__(*args, **kwargs)
        # Blank rows go after the last mapping, so a new field is sent last unless moved.
        last = max((mapping.position for mapping in self.get_queryset()), default=0)
        self.initial_extra = [{"position": last + POSITION_STEP * (n + 1)} for n in range(100)]

    def kept_forms(self) -> list[MappingRowForm]:
        """Rows that stay after saving (call once valid): not deleted, not an untouched blank row."""
        return [form for form in self.forms
                if not form.cleaned_data.get("DELETE") and (form.instance.pk is not None or form.has_changed())]

    def deleted_ids(self) -> list[int]:
        return [form.instance.pk for form in self.forms
                if form.instance.pk is not None and form.cleaned_data.get("DELETE")]

    def clean(self) -> None:
        super().clean()
        seen: dict[str, int] = {}
        rows: list[tuple[MappingRowForm, FieldMapping]] = []
        for number, form in enumerate(self.forms, start=1):
            if not _counted(form):
                continue
            row = FieldMapping(target_field=form.cleaned_data["target_field"],
                               source_field=form.cleaned_data.get("source_field"), owner=form.cleaned_data.get("owner"))
            target = row.target_field.strip().lower()
            if target in seen:
                form.add_error("target_field", f"Row {seen[target]} fills this destination field already; "
                                               "each field is filled once (names compare ignoring case).")
            else:
                seen[target] = number
            rows.append((form, row))
        # One ERP field both sent and written back, in rows as they will be saved.
        candidates = [row for _, row in rows]
        for form, row in rows:
            clash = owner_clash(row, candidates)
            if clash and "owner" not in form.errors:
                form.add_error("owner", clash)

    def mappings(self) -> list[FieldMapping]:
        """The set as it would be saved, in sending order (position, then row order)."""
        kept = [(form.cleaned_data.get("position") or 0, index, form.mapping())
                for index, form in enumerate(self.kept_forms())]
        return [mapping for _, _, mapping in sorted(kept, key=lambda item: (item[0], item[1]))]


def _counted(form: MappingRowForm) -> bool:
    """Whether the formset's checks count this row: valid so far, kept, and not an untouched blank."""
    if not hasattr(form, "cleaned_data") or form.cleaned_data.get("DELETE"):
        return False
    target = (form.cleaned_data.get("target_field") or "").strip()
    return bool(target) and (form.instance.pk is not None or form.has_changed())


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
