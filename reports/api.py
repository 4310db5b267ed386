"""REST API of finance's room: the reconciliation, its differences, the ERP side, re-send.

The same selectors and service as the pages; reading needs `view_reports` (finance and
integration admins), re-sending `resend_differences`. Amounts are decimal strings with
two places, never floats. A period is `date_from` and `date_to` (both, or neither for
last calendar month).
"""
from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from erp.models import ErpConnection
from syncapp.models import Flow
from syncapp.roles import HasCapability

from .erp_side import KINDS, erp_summary
from .periods import Period, last_month
from .reconcile import CLASSES, orders_flows, reconciliation
from .resend import differences_resend

_MONEY = {"max_digits": 19, "decimal_places": 2, "coerce_to_string": True}


class PeriodQuerySerializer(serializers.Serializer):
    date_from = serializers.DateField(required=False, help_text="First day; with date_to. Default: last month.")
    date_to = serializers.DateField(required=False, help_text="Last day, included.")

    def validate(self, data):
        if bool(data.get("date_from")) != bool(data.get("date_to")):
            raise serializers.ValidationError("Give both dates, or neither for last month.")
        if data.get("date_from") and data["date_from"] > data["date_to"]:
            raise serializers.ValidationError("The start date is after the end date.")
        return data

    def period(self) -> Period:
        data = self.validated_data
        if data.get("date_from"):
            return Period(data["date_from"], data["date_to"])
        return last_month(timezone.localdate())


class FlowQuerySerializer(PeriodQuerySerializer):
    flow = serializers.PrimaryKeyRelatedField(queryset=Flow.objects.filter(entity=Flow.Entity.ORDERS),
                                              required=False, help_text="One orders flow (so one destination).")


class DifferenceQuerySerializer(FlowQuerySerializer):
    kind = serializers.ChoiceField(choices=CLASSES, required=False)
    currency = serializers.CharField(required=False, max_length=10)


class CurrencyLineSerializer(serializers.Serializer):
    currency = serializers.CharField()
    erp_count = serializers.IntegerField()
    erp_value = serializers.DecimalField(**_MONEY)
    destination_count = serializers.IntegerField()
    destination_value = serializers.DecimalField(**_MONEY)
    gap = serializers.DecimalField(**_MONEY)
    listed = serializers.DecimalField(**_MONEY, help_text="The listed differences added up.")
    explained = serializers.BooleanField(help_text="The listed differences add up exactly to the gap.")


class FlowReconciliationSerializer(serializers.Serializer):
    flow = serializers.IntegerField(source="flow.pk")
    flow_name = serializers.CharField(source="flow.name")
    destination = serializers.CharField(source="flow.destination.name")
    date_from = serializers.DateField(source="period.date_from")
    date_to = serializers.DateField(source="period.date_to")
    source = serializers.ChoiceField(choices=["read_back", "ledger"], source="side.source",
                                     help_text="read_back: listed by the destination; ledger: the hub's record "
                                               "of the pushes it accepted.")
    source_text = serializers.CharField(source="side.source_text")
    read_at = serializers.DateTimeField(source="side.read_at", allow_null=True)
    matched = serializers.IntegerField()
    counts = serializers.DictField(child=serializers.IntegerField(), help_text="Differences per class.")
    currencies = CurrencyLineSerializer(many=True)


class DifferenceSerializer(serializers.Serializer):
    flow = serializers.IntegerField()
    destination = serializers.CharField()
    kind = serializers.ChoiceField(choices=CLASSES)
    key = serializers.CharField()
    order_number = serializers.CharField()
    doc_date = serializers.DateField(allow_null=True)
    currency = serializers.CharField()
    erp_value = serializers.DecimalField(**_MONEY, allow_null=True)
    destination_value = serializers.DecimalField(**_MONEY, allow_null=True)
    gap = serializers.DecimalField(**_MONEY)
    erp_state = serializers.CharField()
    destination_state = serializers.CharField()
    reason = serializers.CharField()
    exception_id = serializers.IntegerField(allow_null=True)


class DifferencePageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = DifferenceSerializer(many=True)


class FiguresSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    gross = serializers.DecimalField(**_MONEY)
    tax = serializers.DecimalField(**_MONEY)


class SummaryRowSerializer(serializers.Serializer):
    currency = serializers.CharField()
    day = serializers.DateField(allow_null=True)
    kinds = serializers.DictField(child=FiguresSerializer(), help_text=f"Per kind: {', '.join(KINDS)}.")
    refunds = serializers.DecimalField(**_MONEY)
    net = serializers.DecimalField(**_MONEY)
    net_tax = serializers.DecimalField(**_MONEY)


class ErpSummarySerializer(serializers.Serializer):
    connection = serializers.CharField()
    by_currency = SummaryRowSerializer(many=True)
    by_day = SummaryRowSerializer(many=True)


class ErpQuerySerializer(PeriodQuerySerializer):
    connection = serializers.PrimaryKeyRelatedField(queryset=ErpConnection.objects.all(), required=False)


class ResendRequestSerializer(serializers.Serializer):
    flow = serializers.PrimaryKeyRelatedField(queryset=Flow.objects.filter(entity=Flow.Entity.ORDERS))
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    keys = serializers.ListField(child=serializers.CharField(max_length=100), required=False, max_length=10_000,
                                 help_text="Only these documents among the differences; default every one.")

    def validate(self, data):
        if data["date_from"] > data["date_to"]:
            raise serializers.ValidationError("The start date is after the end date.")
        return data


class ResendResultSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    record_keys = serializers.ListField(child=serializers.CharField())
    queued = serializers.IntegerField()
    not_queued = serializers.ListField(child=serializers.CharField())


def _query(serializer_class, request):
    query = serializer_class(data=request.query_params)
    query.is_valid(raise_exception=True)
    return query


def _flows(query) -> list[Flow]:
    flow = query.validated_data.get("flow")
    return [flow] if flow else orders_flows()


class ReconciliationView(APIView):
    """Per orders flow (so per destination, never summed): totals per currency, matched
    documents and differences per class."""

    permission_classes = [HasCapability.of("view_reports")]

    @extend_schema(parameters=[FlowQuerySerializer], responses=FlowReconciliationSerializer(many=True))
    def get(self, request):
        query = _query(FlowQuerySerializer, request)
        results = reconciliation(period=query.period(), flows=_flows(query))
        return Response(FlowReconciliationSerializer(results, many=True).data)


class DifferencesPagination(LimitOffsetPagination):
    default_limit = 100
    max_limit = 1000


class DifferencesView(APIView):
    """Every differing document, one row per document and destination."""

    permission_classes = [HasCapability.of("view_reports")]
    pagination_class = DifferencesPagination

    @extend_schema(parameters=[DifferenceQuerySerializer, OpenApiParameter("limit", int, description="At most 1000."),
                               OpenApiParameter("offset", int)],
                   responses=DifferencePageSerializer)
    def get(self, request):
        query = _query(DifferenceQuerySerializer, request)
        kind, currency = query.validated_data.get("kind"), (query.validated_data.get("currency") or "").upper()
        rows = []
        for result in reconciliation(period=query.period(), flows=_flows(query)):
            for d in result.differences:
                if (not kind or d.kind == kind) and (not currency or d.currency == currency):
                    rows.append({"flow": result.flow.pk, "destination": result.flow.destination.name,
                                 "kind": d.kind, "key": d.key, "order_number": d.order_number,
                                 "doc_date": d.doc_date, "currency": d.currency, "erp_value": d.erp_value,
                                 "destination_value": d.destination_value, "gap": d.gap, "erp_state": d.erp_state,
                                 "destination_state": d.destination_state, "reason": d.reason,
                                 "exception_id": d.exception_id})
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(DifferenceSerializer(page, many=True).data)


class ErpSummaryView(APIView):
    """The ERP side per connection: orders, cancellations, invoices, credit memos, returns
    by currency and by day, with refunds, net and tax."""

    permission_classes = [HasCapability.of("view_reports")]

    @extend_schema(parameters=[ErpQuerySerializer], responses=ErpSummarySerializer(many=True))
    def get(self, request):
        query = _query(ErpQuerySerializer, request)
        connection = query.validated_data.get("connection")
        connections = [connection] if connection else list(ErpConnection.objects.order_by("name"))
        period = query.period()
        data = []
        for each in connections:
            summary = erp_summary(connection_id=each.pk, period=period)
            data.append({"connection": each.name, "by_currency": summary.by_currency, "by_day": summary.by_day})
        return Response(ErpSummarySerializer(data, many=True).data)


class ResendView(APIView):
    """Queue a destination's differing documents of a period through the engine (audited)."""

    permission_classes = [HasCapability.of("resend_differences")]

    @extend_schema(request=ResendRequestSerializer, responses={201: ResendResultSerializer})
    def post(self, request):
        body = ResendRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        done = differences_resend(flow=data["flow"], period=Period(data["date_from"], data["date_to"]),
                                  user=request.user, keys=data.get("keys"))
        return Response(ResendResultSerializer({"id": done.pk, "record_keys": done.record_keys,
                                                "queued": done.queued, "not_queued": done.not_queued}).data,
                        status=201)
