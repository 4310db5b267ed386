"""The mapping editor: field mappings per destination and entity, chosen from lists,
with preview, impact and save. Integration admins only (edit_configuration), reading
included: mappings name the customer data sent out, which is configuration, not a report.

One form carries the whole set; its buttons say what to do with it. Destination fields
come from what the destination declares (esp.field_catalog), source fields from the
mirror with a sample each (esp.source_fields). Preview and the impact preview use the
set as chosen, unsaved. Save applies it in one transaction and re-plans, but only once
the impact of exactly that set has been shown: otherwise Save shows the impact first.
"""
from __future__ import annotations

from django.contrib import messages
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from audit.selectors import entries_of_children
from erp.models import ErpConnection
from esp.field_catalog import destination_catalog, mapped_targets
from esp.forms import NEW_TARGET, MappingFormSet, PreviewForm, RowChoices
from esp.mapping import MappingConfigError
from esp.mapping_impact import mapping_impact, mapping_set_fingerprint
from esp.mapping_preview import payload_preview
from esp.mapping_sets import MappingSaveConflict, flows_shaped_by, mapping_set_save
from esp.mapping_trial import trial_for
from esp.models import EspAccount, FieldMapping
from esp.source_fields import source_catalog
from esp.transform_args import DATE_FORMATS, input_for
from esp.transforms import TRANSFORMS
from syncapp.roles import capability_required

ENTITIES = dict(FieldMapping.Entity.choices)
# "dry_run" is the impact preview's old name, kept for forms still open in a browser.
ACTIONS = ("add_row", "find", "preview", "impact", "dry_run", "save", "refresh_fields")


@capability_required("edit_configuration")
def mapping_index(request: HttpRequest) -> HttpResponse:
    """Every destination with, per entity, how many mappings it has and the flows they shape."""
    counts = {(row["destination"], row["entity"]): row for row in FieldMapping.objects.values(
        "destination", "entity").annotate(total=Count("id"), enabled=Count("id", filter=Q(enabled=True)))}
    rows = []
    for destination in EspAccount.objects.order_by("name").prefetch_related("flows"):
        for entity, label in ENTITIES.items():
            count = counts.get((destination.pk, entity), {})
            flows = [flow for flow in destination.flows.all() if flow.entity == entity]
            rows.append({"destination": destination, "entity": entity, "label": label, "flows": flows,
                         "total": count.get("total", 0), "enabled": count.get("enabled", 0)})
    return render(request, "esp/mapping_index.html", {"rows": rows})


def _with_one_more_row(data: QueryDict) -> QueryDict:
    data = data.copy()
    data["form-TOTAL_FORMS"] = str(int(data.get("form-TOTAL_FORMS", "0")) + 1)
    return data


def _row_choices(destination: EspAccount, entity: str, flows, *, refresh: bool = False) -> RowChoices:
    connections = {flow.connection_id: flow.connection for flow in flows}.values() or ErpConnection.objects.all()
    return RowChoices(catalog=destination_catalog(destination=destination, refresh=refresh),
                      saved_targets=tuple(mapped_targets(destination=destination, entity=entity)),
                      sources=tuple(source_catalog(connections=list(connections), refresh=refresh)))


@capability_required("edit_configuration")
def mapping_edit(request: HttpRequest, destination_id: int, entity: str) -> HttpResponse:
    if entity not in ENTITIES:
        raise Http404("No such entity.")
    destination = get_object_or_404(EspAccount, pk=destination_id)
    flows = flows_shaped_by(destination=destination, entity=entity)
    context: dict = {"destination": destination, "entity": entity, "entity_label": ENTITIES[entity],
                     "flows": flows}
    action = request.POST.get("action", "") if request.method == "POST" else ""
    action = {"dry_run": "impact"}.get(action, action)
    choices = _row_choices(destination, entity, flows, refresh=action == "refresh_fields")
    context["row_choices"] = choices
    if request.method != "POST":
        formset = MappingFormSet(destination=destination, entity=entity, choices=choices)
        preview_form = PreviewForm(flows=flows, initial={"record": request.GET.get("record", "")})
        return _render(request, context, formset, preview_form)

    if action not in ACTIONS:
        action = "preview"
    data = _with_one_more_row(request.POST) if action == "add_row" else request.POST
    formset = MappingFormSet(data, destination=destination, entity=entity, choices=choices,
                             for_save=action == "save")
    preview_form = PreviewForm(data, flows=flows)
    if not formset.is_valid():
        context["invalid"] = True
        return _render(request, context, formset, preview_form)
    mappings = formset.mappings()
    fingerprint = mapping_set_fingerprint(destination_id=destination.pk, entity=entity, mappings=mappings,
                                          deleted_ids=formset.deleted_ids())
    seen = request.POST.get("impact_seen", "") == fingerprint
    if action in ("add_row", "refresh_fields"):
        if seen:
            context["impact_seen"] = fingerprint  # a blank row changes nothing that was counted
        return _render(request, context, formset, preview_form)  # the new blank row is never checked
    if action == "save" and _changes(formset) and not seen:
        # Nobody saves blind: the impact of exactly this set is shown first.
        context.update(impact=mapping_impact(flows=flows, mappings=mappings), impact_seen=fingerprint,
                       impact_first=True)
        return _render(request, context, formset, preview_form)
    if action == "save":
        return _save(request, context, formset, preview_form)
    if action == "impact":
        context.update(impact=mapping_impact(flows=flows, mappings=mappings), impact_seen=fingerprint)
    elif seen:
        context["impact_seen"] = fingerprint  # still the set whose impact was shown
    if action in ("find", "preview") and preview_form.is_valid():
        context.update(_try(action, mappings, preview_form))
    return _render(request, context, formset, preview_form)


def _changes(formset) -> bool:
    return bool(formset.deleted_ids()) or any(form.instance.pk is None or form.has_changed()
                                              for form in formset.kept_forms())


def _save(request, context: dict, formset, preview_form) -> HttpResponse:
    destination, entity = context["destination"], context["entity"]
    try:
        result = mapping_set_save(formset=formset)
    except MappingSaveConflict as error:
        context["save_error"] = str(error)
        return _render(request, context, formset, preview_form)
    if result.total:
        flows_note = f" Re-planning {len(result.replanned_flow_ids)} flow(s)." if result.replanned_flow_ids else ""
        messages.success(request, f"Mappings saved: {result.created} added, {result.changed} changed, "
                                  f"{result.deleted} deleted.{flows_note}")
    else:
        messages.info(request, "Nothing to save: the mappings are as they were.")
    return redirect(reverse("esp:mapping_edit", args=[destination.pk, entity]))


def _try(action: str, mappings: list[FieldMapping], preview_form: PreviewForm) -> dict:
    """Preview or find with the unsaved set; nothing is written."""
    flow = preview_form.cleaned_data["flow"]
    try:
        trial = trial_for(flow=flow, mappings=mappings)
        text = preview_form.cleaned_data["record"].strip()
        if trial is None:
            return {"preview_message": f"Preview is not available for {flow.entity} yet."}
        if not text:
            return {"preview_message": f"Type a {trial.key_label}, a name or an email to preview a record."}
        if action == "preview" and trial.load(text) is not None:
            return {"preview": payload_preview(flow=flow, mappings=mappings, key=text)}
        choices = trial.search(text)
        if action == "preview" and len(choices) == 1:
            return {"preview": payload_preview(flow=flow, mappings=mappings, key=choices[0].key)}
        if not choices:
            return {"preview_message": f"No record of {flow.connection} matches {text!r}."}
        return {"choices": choices}
    except MappingConfigError as error:  # validated above; kept for a mapping the trial still refuses
        return {"preview_message": str(error)}


def _render(request, context: dict, formset, preview_form) -> HttpResponse:
    context.update({
        "formset": formset,
        "preview_form": preview_form,
        "transforms": list(TRANSFORMS.values()),
        "arg_inputs": {name: input_for(name) for name in TRANSFORMS},
        "date_formats": DATE_FORMATS,
        "new_target": NEW_TARGET,
        "history": entries_of_children(parent=context["destination"], model=FieldMapping,
                                       where={"entity": context["entity"]}),
    })
    return render(request, "esp/mapping_edit.html", context)
