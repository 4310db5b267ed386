"""Credit ERP orders to the campaigns whose clicks (or opens) came before them: one SQL statement.

The rules (AttributionSettings):
- An order is reachable by a touch of its customer's email (the business partner's
  normalised email meets the touch's contact key). The ERP dates an order by day only
  (DocDate, no time), so the window is in days: an order dated D counts for a click on day
  C when C <= D <= C + click_window_days (the click's day in the hub's time zone).
- Clicks come first: opens (when `open_window_days` is set) count only for an order with
  no click in its window.
- last touch: the latest qualifying touch takes the whole order; first touch: the
  earliest; linear: every campaign with a qualifying touch takes an equal part, ordered
  by its first touch, the odd cents going to the earliest so the parts add up exactly.
- Value: the order's DocTotal in local currency, rounded to the cent (foreign-currency
  orders count at the ERP's own local figure). Refunds: every credit memo traced back to
  the order through its lines (credit memo -> invoice -> delivery -> order, or via a
  return), plus returns no credit memo has yet followed; a document touching several
  orders is shared by its line totals. Net = gross - refunds.
- Cancelled orders and cancellation documents count for nothing.

Set-based: a recursive CTE climbs refund lines to their orders, window functions pick
the touch; Python never loops over clicks or orders. The statement runs unchanged on
PostgreSQL and SQLite but for the day arithmetic and casts. PostgreSQL computes in
numeric; SQLite holds decimals as REAL, so there a shared refund is rounded to the cent
from a binary float (the embedded default only; exact on the production path).
"""
from __future__ import annotations

from django.db import connection, transaction
from django.utils import timezone

from erp.models import (
    BusinessPartner,
    CreditMemo,
    CreditMemoLine,
    Delivery,
    DeliveryLine,
    Invoice,
    InvoiceLine,
    Return,
    ReturnLine,
    SalesOrder,
)
from syncapp.models import Flow, OutboxItem

from .models import AttributedOrder, AttributionRun, AttributionSettings, Campaign, Touch

ORDER, INVOICE, DELIVERY, RETURN, CREDIT_MEMO = 17, 13, 15, 16, 14
RUN_LOCK_KEY = 0x6361_6D70_6174_7472  # 'camp' 'attr'
MAX_CHAIN = 6  # credit memo -> return -> delivery -> order is 3 hops; a loop in bad data stops here


def _t(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _day_number(column: str) -> str:
    """A DATE column as days since 1970-01-01."""
    if connection.vendor == "postgresql":
        return f"({column} - DATE '1970-01-01')"
    return f"CAST(julianday({column}) - 2440587.5 AS INTEGER)"


def _lines(model, line_model, obj: int) -> str:
    return (f"SELECT d.connection_id, {obj} AS obj, d.doc_entry, l.line_num, l.base_type, l.base_entry, "
            f"l.base_line FROM {_t(line_model)} l JOIN {_t(model)} d ON d.id = l.document_id")


def _refund_lines() -> str:
    """Credit memo lines, and lines of returns no credit memo follows, with each line's
    part of its document's local total (by line total; by line count when all are zero)."""
    def part(model, line_model, kind: int, extra: str) -> str:
        return f"""
        SELECT {kind} AS doc_kind, d.id AS doc_id, d.connection_id, l.base_type, l.base_entry, l.base_line,
               d.doc_total_local * CASE WHEN SUM(l.line_total) OVER w <> 0
                                        THEN l.line_total * 1.0 / SUM(l.line_total) OVER w
                                        ELSE 1.0 / COUNT(*) OVER w END AS value
        FROM {_t(line_model)} l JOIN {_t(model)} d ON d.id = l.document_id
        WHERE d.cancelled = {_false()} AND d.is_cancellation = {_false()} {extra}
        WINDOW w AS (PARTITION BY d.id)"""

    credited = (f"AND NOT EXISTS (SELECT 1 FROM {_t(CreditMemoLine)} cl JOIN {_t(CreditMemo)} c "
                f"ON c.id = cl.document_id WHERE c.connection_id = d.connection_id AND cl.base_type = {RETURN} "
                f"AND cl.base_entry = d.doc_entry AND c.cancelled = {_false()} AND c.is_cancellation = {_false()})")
    return part(CreditMemo, CreditMemoLine, CREDIT_MEMO, "") + " UNION ALL " + part(Return, ReturnLine, RETURN,
                                                                                    credited)


def _refund_ctes() -> str:
    """The CTEs that trace every refund line up its document chain: `refund_lines`, and
    `climb`, whose rows with base_type 17 name the order a line (and its value) belongs to."""
    return f"""
    base_lines AS (
        {_lines(Invoice, InvoiceLine, INVOICE)} UNION ALL {_lines(Delivery, DeliveryLine, DELIVERY)}
        UNION ALL {_lines(Return, ReturnLine, RETURN)}),
    refund_lines AS ({_refund_lines()}),
    climb (doc_kind, doc_id, connection_id, value, base_type, base_entry, base_line, depth) AS (
        SELECT doc_kind, doc_id, connection_id, value, base_type, base_entry, base_line, 0 FROM refund_lines
        WHERE base_type IS NOT NULL
        UNION ALL
        SELECT c.doc_kind, c.doc_id, c.connection_id, c.value, b.base_type, b.base_entry, b.base_line, c.depth + 1
        FROM climb c JOIN base_lines b ON b.connection_id = c.connection_id AND b.obj = c.base_type
             AND b.doc_entry = c.base_entry AND b.line_num = c.base_line
        WHERE c.base_type <> {ORDER} AND c.depth < {MAX_CHAIN})"""


def untraced_refunds() -> tuple[int, int]:
    """Credit memos and uncredited returns none of whose lines lead to an order (no base
    document, or a chain the mirror does not hold): (documents, local value in cents).
    They reduce no campaign's revenue; the page says so rather than dropping them silently."""
    bigint = "BIGINT" if connection.vendor == "postgresql" else "INTEGER"
    sql = f"""
    WITH RECURSIVE {_refund_ctes()},
    traced AS (SELECT DISTINCT doc_kind, doc_id FROM climb WHERE base_type = {ORDER}),
    untraced AS (
        SELECT r.doc_kind, r.doc_id, SUM(r.value) AS value FROM refund_lines r
        WHERE NOT EXISTS (SELECT 1 FROM traced t WHERE t.doc_kind = r.doc_kind AND t.doc_id = r.doc_id)
        GROUP BY r.doc_kind, r.doc_id)
    SELECT COUNT(*), COALESCE(SUM(CAST(ROUND(value * 100) AS {bigint})), 0) FROM untraced"""
    with connection.cursor() as cursor:
        cursor.execute(sql)
        documents, cents = cursor.fetchone()
    return int(documents), int(cents)


def _false() -> str:
    return "FALSE" if connection.vendor == "postgresql" else "0"


def _statement(settings: AttributionSettings) -> tuple[str, list]:
    open_window = settings.open_window_days
    kinds = "('click', 'open')" if open_window is not None else "('click')"
    order_day = _day_number("o.doc_date")
    if settings.model == AttributionSettings.Model.LINEAR:
        credited = """
        per_campaign AS (
            SELECT order_id, campaign_id, MIN(kind) AS kind, MIN(occurred_at) AS touch_at
            FROM chosen GROUP BY order_id, campaign_id),
        credited AS (
            SELECT order_id, campaign_id, kind, touch_at,
                   ROW_NUMBER() OVER (PARTITION BY order_id ORDER BY touch_at, campaign_id) AS k,
                   COUNT(*) OVER (PARTITION BY order_id) AS n
            FROM per_campaign)"""
    else:
        direction = "DESC" if settings.model == AttributionSettings.Model.LAST_TOUCH else "ASC"
        credited = f"""
        ranked AS (
            SELECT order_id, campaign_id, kind, occurred_at AS touch_at,
                   ROW_NUMBER() OVER (PARTITION BY order_id ORDER BY occurred_at {direction},
                                      touch_id {direction}) AS pick
            FROM chosen),
        credited AS (SELECT order_id, campaign_id, kind, touch_at, 1 AS k, 1 AS n FROM ranked WHERE pick = 1)"""
    bigint = "BIGINT" if connection.vendor == "postgresql" else "INTEGER"
    text = "VARCHAR" if connection.vendor == "postgresql" else "TEXT"
    gross, refunds = _share("gross_c"), _share("refunds_c")
    sql = f"""
    WITH RECURSIVE {_refund_ctes()},
    refunds AS (
        SELECT connection_id, base_entry AS order_entry, SUM(value) AS value
        FROM climb WHERE base_type = {ORDER} GROUP BY connection_id, base_entry),
    orders AS (
        SELECT o.id AS order_id, o.connection_id, o.doc_entry, bp.email_normalised AS contact_key,
               {order_day} AS day,
               CAST(ROUND(o.doc_total_local * 100) AS {bigint}) AS gross_c,
               CAST(ROUND(COALESCE(r.value, 0) * 100) AS {bigint}) AS refunds_c
        FROM {_t(SalesOrder)} o
        JOIN {_t(BusinessPartner)} bp ON bp.connection_id = o.connection_id AND bp.card_code = o.card_code
        LEFT JOIN refunds r ON r.connection_id = o.connection_id AND r.order_entry = o.doc_entry
        WHERE o.cancelled = {_false()} AND o.is_cancellation = {_false()} AND o.doc_date IS NOT NULL
              AND bp.email_normalised <> ''),
    candidates AS (
        SELECT ov.order_id, t.campaign_id, t.kind, t.occurred_at, t.id AS touch_id,
               MIN(t.kind) OVER (PARTITION BY ov.order_id) AS best_kind
        FROM orders ov JOIN {_t(Touch)} t ON t.contact_key = ov.contact_key
        WHERE t.kind IN {kinds} AND ov.day >= t.day
              AND ov.day <= t.day + CASE WHEN t.kind = 'click' THEN %s ELSE %s END),
    chosen AS (SELECT * FROM candidates WHERE kind = best_kind),  -- 'click' < 'open': clicks first
    {credited}
    INSERT INTO {_t(AttributedOrder)} (run_id, campaign_id, order_id, touch_kind, touch_at, parts,
                                      gross_cents, refunds_cents, net_cents, esp_saw_order)
    SELECT %s, cr.campaign_id, cr.order_id, cr.kind, cr.touch_at, cr.n, {gross}, {refunds},
           {gross} - {refunds},
           EXISTS (SELECT 1 FROM {_t(OutboxItem)} oi JOIN {_t(Flow)} f ON f.id = oi.flow_id
                   WHERE f.entity = 'orders' AND f.destination_id = c.account_id
                         AND f.connection_id = ov.connection_id
                         AND oi.record_key = CAST(ov.doc_entry AS {text}) AND oi.accepted_at IS NOT NULL)
    FROM credited cr
    JOIN orders ov ON ov.order_id = cr.order_id
    JOIN {_t(Campaign)} c ON c.id = cr.campaign_id
    """
    return sql, [settings.click_window_days, open_window or 0]


def _share(column: str) -> str:
    """This part's cents of `column`: an equal share, plus one of the odd cents for the first ones."""
    return f"(ov.{column} / cr.n + CASE WHEN cr.k <= ov.{column} %% cr.n THEN 1 ELSE 0 END)"


def attribution_run(*, settings: AttributionSettings | None = None) -> AttributionRun:
    """Compute the attribution afresh under `settings` (default: the current ones).

    The new run's rows replace the previous runs' rows in one transaction, so the pages
    show either the old figures or the new ones, never a mixture.
    """
    settings = settings or AttributionSettings.current()
    run = AttributionRun.objects.create(model=settings.model, click_window_days=settings.click_window_days,
                                        open_window_days=settings.open_window_days)
    sql, params = _statement(settings)
    # The run id is the INSERT's first parameter, after the two window sizes in the CTE.
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                if connection.vendor == "postgresql":
                    # One run at a time (SQLite's immediate transactions serialise by themselves):
                    # a run started by a settings change waits for the one before it, then wins.
                    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [RUN_LOCK_KEY])
                cursor.execute(sql, [*params, run.pk])
            AttributedOrder.objects.filter(run__lt=run.pk).delete()
            run.untraced_refund_documents, run.untraced_refund_cents = untraced_refunds()
    except Exception as error:
        # Written outside the failed transaction, so the failure stays visible.
        AttributionRun.objects.filter(pk=run.pk).update(status=AttributionRun.Status.FAILED, error=str(error)[:2000],
                                                        finished_at=timezone.now())
        raise
    # Counted, not the cursor's rowcount: SQLite reports -1 for an INSERT led by a WITH.
    run.rows_written = AttributedOrder.objects.filter(run=run).count()
    run.orders_attributed = AttributedOrder.objects.filter(run=run).values("order_id").distinct().count()
    run.status, run.finished_at = AttributionRun.Status.FINISHED, timezone.now()
    run.save(update_fields=["rows_written", "orders_attributed", "status", "finished_at",
                            "untraced_refund_documents", "untraced_refund_cents"])
    return run
