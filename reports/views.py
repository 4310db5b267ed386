"""Finance's pages: the reconciliation (with its CSVs and printable view), a document's
record, and the actions finance takes (re-send, read back now, retry its exceptions).

Views read through selectors (reports.reconcile, reports.documents) and act through
services (reports.resend, exceptions.views_actions); they only shape what they get.
"""
from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from erp.models import ErpConnection
from exceptions.models import SyncException
from exceptions.views import exception_retry_answered
from exceptions.views_actions import exception_may_retry
from reports.finance_exceptions import finance_open_exceptions
from syncapp.models import Flow
from syncapp.roles import capability_required

from .csv_export import TABLES, csv_response
from .destination_side import READ_BACK_KINDS
from .documents import document_record
from .erp_side import KIND_TITLES, KINDS, erp_summary
from .forms import ReconciliationForm, ResendForm
from .periods import Period, last_month, month_of
from .reconcile import CLASS_TITLES, CLASSES, FlowReconciliation, orders_flows, reconciliation
from .resend import differences_resend


def _filtered(form: ReconciliationForm):
    kind, currency, q = form.chosen("kind"), (form.chosen("currency") or "").upper(), form.chosen("q") or ""

    def differences_of(result: FlowReconciliation):
        return [d for d in result.differences
                if (not kind or d.kind == kind) and (not currency or d.currency == currency)
                and (not q or q in d.key or q == d.order_number)]

    return differences_of


# A page lists this many differences at most (a first install before its first read-back
# differs on every order of the month): the per-currency figures still count them all,
# and the CSV lists them all.
DIFFERENCES_SHOWN = 1000


def _shown(differences: list) -> dict[str, object]:
    return {"differences": differences[:DIFFERENCES_SHOWN], "differences_total": len(differences)}


def _summaries(results: list[FlowReconciliation], period: Period) -> dict[str, object]:
    summaries = {}
    for result in results:
        connection = result.flow.connection
        if connection.name not in summaries:
            summaries[connection.name] = erp_summary(connection_id=connection.pk, period=period)
    return summaries


@capability_required("view_reports")
def reconciliation_page(request: HttpRequest) -> HttpResponse:
    """The reconciliation of every orders flow (one section per destination) for a period:
    last calendar month unless a range is given. `format=csv&table=...` downloads a table,
    `format=print` is the printable view."""
    default = last_month(timezone.localdate())
    # Unbound without a query, showing the range its figures cover.
    form = ReconciliationForm(request.GET or None, initial={"date_from": default.date_from,
                                                          "date_to": default.date_to})
    period = form.period()
    chosen_flow = form.chosen("flow")
    results = reconciliation(period=period, flows=[chosen_flow] if chosen_flow else orders_flows())
    differences_of = _filtered(form)
    summaries = _summaries(results, period)
    output = request.GET.get("format")
    if output == "csv":
        table = request.GET.get("table", "differences")
        if table not in TABLES:
            raise Http404("No such table.")
        return csv_response(table=table, period=period, results=results, summaries=summaries,
                            differences_of=differences_of)
    sections = [{"result": result, **_shown(differences_of(result)),
                 "counts": [(kind, CLASS_TITLES[kind], result.counts.get(kind, 0)) for kind in CLASSES],
                 "can_read_back": result.flow.destination.kind in READ_BACK_KINDS,
                 "summary": summaries[result.flow.connection.name]} for result in results]
    today = timezone.localdate()
    context = {
        "form": form, "period": period, "sections": sections, "kinds": [(k, KIND_TITLES[k]) for k in KINDS],
        "tables": TABLES,
        "finance_exceptions": finance_open_exceptions(), "query": request.GET.urlencode(),
        "quick_periods": [("Last month", last_month(today)), ("This month", month_of(today))],
    }
    template = "reports/print.html" if output == "print" else "reports/reconciliation.html"
    return render(request, template, context)


@require_POST
@capability_required("resend_differences")
def resend(request: HttpRequest) -> HttpResponse:
    """Queue the differing documents of one destination and period through the engine."""
    form = ResendForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Could not re-send: " + "; ".join(
            str(error) for errors in form.errors.values() for error in errors))
        return redirect("reports:reconciliation")
    data = form.cleaned_data
    period = Period(data["date_from"], data["date_to"])
    done = differences_resend(flow=data["flow"], period=period, user=request.user, keys=form.key_list())
    if not done.record_keys:
        messages.info(request, "Nothing to re-send: no document of this period differs in a way the ERP can fix.")
    else:
        held = f" {len(done.not_queued)} could not be queued (see their exceptions)." if done.not_queued else ""
        messages.success(request, f"{done.queued} document(s) queued to {data['flow'].destination.name} at "
                                  f"routine priority.{held} The differences clear once they are sent"
                                  f"{' and read back' if data['flow'].destination.kind in READ_BACK_KINDS else ''}.")
    return redirect(f"{reverse('reports:reconciliation')}?{period.query()}&flow={data['flow'].pk}")


@require_POST
@capability_required("resend_differences")
def read_back_now(request: HttpRequest) -> HttpResponse:
    """Ask a worker to read the destination's orders again (a page never waits on a vendor)."""
    from syncapp.incidents import task_enqueue

    from .tasks import read_back_task

    flow = Flow.objects.filter(pk=request.POST.get("flow") if str(request.POST.get("flow", "")).isdigit() else None,
                               entity=Flow.Entity.ORDERS).select_related("destination").first()
    if flow is None:
        messages.error(request, "No such orders flow.")
    elif flow.destination.kind not in READ_BACK_KINDS:
        messages.error(request, f"{flow.destination.name} cannot list its orders; its side is the hub's ledger.")
    elif task_enqueue(read_back_task, flow.pk):
        messages.success(request, f"Reading {flow.destination.name}'s orders again; refresh in a minute.")
    else:
        messages.error(request, "The task queue is not answering; the nightly run will read back.")
    return redirect(f"{reverse('reports:reconciliation')}?{request.POST.get('query', '')}")


@capability_required("view_reports")
def document_page(request: HttpRequest, entity: str, connection_id: int, doc_entry: int) -> HttpResponse:
    """One sales document of the mirror: lines, totals, tax, freight, and its chain."""
    connection = get_object_or_404(ErpConnection, pk=connection_id)
    record = document_record(connection_id=connection.pk, entity=entity, doc_entry=doc_entry)
    if record is None:
        raise Http404("The hub's copy of the ERP does not hold this document.")
    exceptions = (SyncException.objects.filter(connection=connection, entity=entity, record_key=str(doc_entry))
                  .select_related("flow__destination").order_by("-last_seen")[:20])
    return render(request, "reports/document.html", {"record": record, "connection": connection,
                                                     "exceptions": exceptions})


@require_POST
@capability_required("view_exceptions")
def exception_retry(request: HttpRequest, pk: int) -> HttpResponse:
    """Retry for finance on the exceptions it owns (others retry from the exceptions room)."""
    exception = get_object_or_404(SyncException, pk=pk)
    if not exception_may_retry(user=request.user, exception=exception):
        raise PermissionDenied("Your role may retry only the exceptions finance owns.")
    return exception_retry_answered(request, exception)
