"""The IDoc monitor (SAP's WE02 and BD87 in one page): every IDoc received, filtered; one
IDoc's status history, segments and raw XML; Reprocess after a fix."""
from __future__ import annotations

import json

import django_filters
from django import forms
from django.contrib import messages
from django.db import transaction
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from syncapp.roles import capability_required

from .decisions import idocs_requeue
from .idoc_xml import idoc_from_raw
from .models import Idoc

PAGE_ROWS = 100


class IdocFilter(django_filters.FilterSet):
    message_type = django_filters.CharFilter(label="Message type", lookup_expr="iexact")
    sender_partner = django_filters.CharFilter(label="Partner", lookup_expr="iexact")
    status = django_filters.ChoiceFilter(choices=Idoc.Status.choices, label="Status")
    received_from = django_filters.DateFilter(field_name="received_at", lookup_expr="date__gte", label="Received from",
                                              widget=forms.DateInput(attrs={"type": "date"}))
    received_to = django_filters.DateFilter(field_name="received_at", lookup_expr="date__lte", label="Received to",
                                            widget=forms.DateInput(attrs={"type": "date"}))
    object_key = django_filters.CharFilter(label="Customer, document or material", method="by_object")
    docnum = django_filters.CharFilter(label="IDoc number", method="by_docnum")

    class Meta:
        model = Idoc
        fields = []

    def by_object(self, queryset, name, value):
        value = value.strip()
        return queryset.filter(object_key__in={value, value.lstrip("0"), value.zfill(10), value.zfill(18)})

    def by_docnum(self, queryset, name, value):
        return queryset.filter(docnum=value.strip().zfill(16))


@require_GET
@capability_required("view_exceptions")
def idoc_list(request: HttpRequest) -> HttpResponse:
    filterset = IdocFilter(data=request.GET, queryset=Idoc.objects.select_related("connection").order_by("-id"))
    queryset = filterset.qs if filterset.is_valid() else Idoc.objects.none()
    rows = list(queryset.defer("raw_xml", "control")[:PAGE_ROWS])
    counts = dict(Idoc.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    return render(request, "sap_ecc/idoc_list.html", {
        "filter": filterset, "rows": rows, "shown": len(rows), "more": queryset.count() > PAGE_ROWS,
        "counts": [(label, counts.get(code, 0), code) for code, label in Idoc.Status.choices],
        "reprocessable": {Idoc.Status.ERROR, Idoc.Status.WAITING},
    })


@require_GET
@capability_required("view_exceptions")
def idoc_detail(request: HttpRequest, pk: int) -> HttpResponse:
    idoc = get_object_or_404(Idoc.objects.select_related("connection"), pk=pk)
    return render(request, "sap_ecc/idoc_detail.html", {
        "idoc": idoc, "history": idoc.history.all(),
        "segments": _segments_text(idoc),
        "control": sorted(idoc.control.items()),
        "reprocessable": idoc.status in (Idoc.Status.ERROR, Idoc.Status.WAITING),
    })


def _segments_text(idoc: Idoc) -> str:
    """The parsed segments, indented; a refused message has none (it was never read)."""
    if idoc.status == Idoc.Status.REFUSED or not idoc.raw_xml:
        return "(not read: the message was refused)"
    return json.dumps(idoc_from_raw(idoc.raw_xml).segments_data, indent=1, ensure_ascii=False)


@require_POST
@capability_required("act_on_exceptions")
def idocs_reprocess(request: HttpRequest) -> HttpResponse:
    """Reprocess the chosen IDocs (failed or waiting), applying them at once, then back."""
    from .apply import idocs_apply

    ids = [int(value) for value in request.POST.getlist("idoc") if value.isdigit()]
    chosen = Idoc.objects.filter(pk__in=ids)
    with transaction.atomic():
        requeued = {}
        for idoc in chosen.select_related("connection"):
            requeued.setdefault(idoc.connection, []).append(idoc.pk)
        count = sum(len(idocs_requeue(connection, Idoc.objects.filter(pk__in=pks)))
                    for connection, pks in requeued.items())
    for connection in requeued:
        idocs_apply(connection)
    outcome = Idoc.objects.filter(pk__in=ids).values_list("status", flat=True)
    applied = sum(status == Idoc.Status.APPLIED for status in outcome)
    if not count:
        messages.warning(request, "None of those IDocs can be reprocessed: only failed (51) or waiting (66) ones can.")
    else:
        messages.success(request, f"{count} IDoc{'s' if count != 1 else ''} reprocessed: {applied} applied now; "
                                  "the others say why below.")
    back = request.POST.get("next", "")
    return redirect(back if back.startswith("/ecc/") else "sap_ecc:idocs")
