"""The warehouse rules editor: which warehouses' stock each destination (or channel) may
sell from, with a per-SKU preview under the saved rule.

Every role may read the rules (view_configuration); only integration admins change them
(edit_configuration). Saving re-plans the destination's product and stock-signal flows.
"""
from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from esp.forms import WarehouseRuleForm
from esp.models import EspAccount, WarehouseRule
from esp.replanning import RULE_ENTITIES, flows_replan_after_commit
from esp.stock_preview import stock_preview
from esp.warehouse_impact import warehouse_rule_impact
from syncapp.models import Flow
from syncapp.roles import capability_required, user_can


@capability_required("view_configuration")
def warehouse_rule_index(request: HttpRequest) -> HttpResponse:
    destinations = EspAccount.objects.order_by("name").prefetch_related("warehouse_rules")
    return render(request, "esp/warehouse_rule_index.html", {"destinations": destinations})


def _save(request: HttpRequest, form: WarehouseRuleForm) -> WarehouseRule:
    with transaction.atomic():
        rule = form.save()
        flows = Flow.objects.filter(destination=rule.destination, entity__in=RULE_ENTITIES)
        replanned = flows_replan_after_commit(flows)
    note = f" Re-planning {len(replanned)} flow(s)." if replanned else ""
    messages.success(request, f"Warehouse rule {rule} saved.{note}")
    return rule


@capability_required("view_configuration")
def warehouse_rule_edit(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = get_object_or_404(WarehouseRule.objects.select_related("destination"), pk=rule_id)
    can_edit = user_can(request.user, "edit_configuration")
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied("Your role does not allow this (edit configuration).")
        form = WarehouseRuleForm(request.POST, instance=rule, destination=rule.destination)
        if form.is_valid() and request.POST.get("action") == "impact":
            # The edited rule, unsaved: what saving it would re-send.
            return _edit_page(request, rule, form, can_edit, impact=warehouse_rule_impact(rule=form.instance))
        if form.is_valid():
            _save(request, form)
            return redirect("esp:warehouse_rule_edit", rule_id=rule.pk)
    else:
        form = WarehouseRuleForm(instance=rule, destination=rule.destination)
    if not can_edit:
        for field in form.fields.values():
            field.disabled = True
    return _edit_page(request, rule, form, can_edit)


def _edit_page(request: HttpRequest, rule: WarehouseRule, form: WarehouseRuleForm, can_edit: bool,
               impact=None) -> HttpResponse:
    sku = request.GET.get("preview_sku", "").strip()
    return render(request, "esp/warehouse_rule_edit.html", {
        "rule": rule, "destination": rule.destination, "form": form, "can_edit": can_edit,
        "preview_sku": sku, "preview": stock_preview(rule=rule, sku=sku) if sku else None,
        "flows": Flow.objects.filter(destination=rule.destination, entity__in=RULE_ENTITIES),
        "impact": impact,
    })


@capability_required("edit_configuration")
def warehouse_rule_add(request: HttpRequest, destination_id: int) -> HttpResponse:
    destination = get_object_or_404(EspAccount, pk=destination_id)
    form = WarehouseRuleForm(request.POST or None, destination=destination)
    if request.method == "POST" and form.is_valid():
        rule = _save(request, form)
        return redirect("esp:warehouse_rule_edit", rule_id=rule.pk)
    return render(request, "esp/warehouse_rule_edit.html", {
        "rule": None, "destination": destination, "form": form, "can_edit": True,
        "flows": Flow.objects.filter(destination=destination, entity__in=RULE_ENTITIES),
    })
