"""Finance's attribution pages: the report with a chart per campaign, one campaign's orders,
the document-level CSV, an import's refused rows, and finance's actions."""
from __future__ import annotations

import csv
from decimal import Decimal

from django.contrib import messages
from django.db import transaction
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from syncapp.roles import capability_required

from .access import can_act, finance_required
from .forms import AttributionSettingsForm, DotdigitalImportForm, OmetriaUploadForm, PeriodForm
from .models import ActivityImport, AttributionRun, AttributionSettings, Campaign
from .ometria_import import activity_import_ometria_file
from .report import attributed_rows, campaign_report, totals

CSV_COLUMNS = ["campaign_destination", "campaign_id", "campaign_name", "order_doc_entry", "order_doc_num",
               "order_date", "customer_code", "order_currency", "order_total_in_order_currency", "touch",
               "touch_at", "parts", "gross_local", "refunds_local", "net_local", "destination_received_order"]


def _period(request) -> tuple[PeriodForm, dict]:
    form = PeriodForm(request.GET or None)
    period = form.cleaned_data if form.is_bound and form.is_valid() else {}
    return form, {"date_from": period.get("date_from"), "date_to": period.get("date_to")}


def _chart(rows) -> list[dict]:
    """Bars per campaign (gross, net, claimed) scaled to the largest figure on the page."""
    top = max([Decimal(1)] + [max(r.gross, r.net, r.claimed or 0) for r in rows])
    width = 300

    def bar(value) -> int:
        return int(width * max(value or 0, 0) / top)

    return [{"row": r, "gross": bar(r.gross), "net": bar(r.net), "claimed": bar(r.claimed),
             "has_claim": r.claimed is not None} for r in rows]


@require_GET
@capability_required("view_reports")
def report_page(request):
    form, period = _period(request)
    run = AttributionRun.latest_finished()
    rows = campaign_report(run=run, **period)
    context = {
        "form": form, "run": run, "rows": rows, "chart": _chart(rows), "totals": totals(rows),
        "settings": AttributionSettings.current(), "can_act": can_act(request.user),
        "imports": ActivityImport.objects.select_related("account").order_by("-started_at")[:10],
        "query": request.GET.urlencode(),
    }
    if context["can_act"]:
        context.update(settings_form=AttributionSettingsForm(instance=context["settings"]),
                       dotdigital_form=DotdigitalImportForm(), ometria_form=OmetriaUploadForm())
    return render(request, "campaigns/report.html", context)


@require_GET
@capability_required("view_reports")
def campaign_page(request, pk: int):
    campaign = get_object_or_404(Campaign.objects.select_related("account"), pk=pk)
    form, period = _period(request)
    run = AttributionRun.latest_finished()
    row = next(r for r in campaign_report(run=run, **period) if r.campaign.pk == campaign.pk)
    documents = attributed_rows(run=run, campaign=campaign, **period)
    return render(request, "campaigns/campaign.html", {
        "campaign": campaign, "row": row, "run": run, "form": form, "documents": documents[:500],
        "more": documents.count() > 500, "query": request.GET.urlencode()})


def _text(value: object) -> str:
    """A text cell a spreadsheet will not run: campaign names come from the ESP, typed by anyone."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@require_GET
@capability_required("view_reports")
def attributed_csv(request):
    """Every attributed order part of the latest run (document level), optionally one campaign."""
    _, period = _period(request)
    campaign = None
    if request.GET.get("campaign", "").isdigit():
        campaign = get_object_or_404(Campaign, pk=int(request.GET["campaign"]))
    rows = attributed_rows(run=AttributionRun.latest_finished(), campaign=campaign, **period)

    class Echo:
        def write(self, value):
            return value

    writer = csv.writer(Echo())

    def lines():
        yield writer.writerow(CSV_COLUMNS)
        for r in rows.iterator(chunk_size=2000):
            o = r.order
            yield writer.writerow([
                _text(r.campaign.account.name), _text(r.campaign.external_id), _text(r.campaign.name), o.doc_entry,
                o.doc_num or "", o.doc_date, _text(o.card_code), o.currency, f"{o.doc_total:.2f}", r.touch_kind,
                r.touch_at.isoformat(), r.parts, r.gross, r.refunds, r.net, "yes" if r.esp_saw_order else "no"])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="campaign-attribution.csv"'
    return response


@require_GET
@capability_required("view_reports")
def import_page(request, pk: int):
    job = get_object_or_404(ActivityImport.objects.select_related("account"), pk=pk)
    return render(request, "campaigns/import.html", {"job": job, "refused": job.refused.order_by("row_number")[:1000]})


@require_POST
@finance_required
def settings_save(request):
    form = AttributionSettingsForm(request.POST, instance=AttributionSettings.current())
    if not form.is_valid():
        messages.error(request, "Not saved: " + "; ".join(e for errors in form.errors.values() for e in errors))
        return redirect("campaigns:report")
    form.save()
    _attribute_later()
    messages.success(request, "Attribution rules saved; the figures are being worked out again.")
    return redirect("campaigns:report")


@require_POST
@finance_required
def attribution_rerun(request):
    _attribute_later()
    messages.success(request, "The attribution is being worked out again; reload in a minute.")
    return redirect("campaigns:report")


@require_POST
@finance_required
def dotdigital_import(request):
    form = DotdigitalImportForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a dotdigital account.")
        return redirect("campaigns:report")
    from .tasks import campaign_activity_import_task

    account_id = form.cleaned_data["account"].pk
    transaction.on_commit(lambda: campaign_activity_import_task.delay(account_id))
    messages.success(request, f"Importing campaign activity from {form.cleaned_data['account'].name}.")
    return redirect("campaigns:report")


@require_POST
@finance_required
def ometria_upload(request):
    form = OmetriaUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "Choose an Ometria account and an Email Events file.")
        return redirect("campaigns:report")
    upload = form.cleaned_data["file"]
    job = activity_import_ometria_file(account=form.cleaned_data["account"], stream=upload.file,
                                       file_name=upload.name)
    if job.status == ActivityImport.Status.FAILED:
        messages.error(request, f"{upload.name} was not imported: {job.error}")
    else:
        _attribute_later()
        level = messages.WARNING if job.rows_refused else messages.SUCCESS
        messages.add_message(request, level, f"{upload.name}: {job.rows_added} events added, "
                                             f"{job.rows_refused} rows refused (see the import).")
    return redirect("campaigns:import", pk=job.pk)


def _attribute_later() -> None:
    from .tasks import attribution_run_task

    transaction.on_commit(attribution_run_task.delay)
