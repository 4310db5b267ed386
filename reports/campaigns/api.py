"""REST API of campaign attribution, read-only, for those who may view reports (finance, admins).

The figures are the latest finished attribution run's; money is a decimal string in the
company's local currency.
"""
from __future__ import annotations

import django_filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from syncapp.roles import HasCapability

from .forms import PeriodForm
from .models import ActivityImport, AttributedOrder, AttributionRun, AttributionSettings
from .report import attributed_rows, campaign_report

MONEY = {"max_digits": 19, "decimal_places": 2}
ViewsReports = HasCapability.of("view_reports")


class DifferencePartSerializer(serializers.Serializer):
    label = serializers.CharField()
    amount = serializers.DecimalField(**MONEY)


class CampaignRowSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="campaign.pk")
    destination = serializers.CharField(source="campaign.account.name")
    external_id = serializers.CharField(source="campaign.external_id", help_text="The campaign's id at the ESP.")
    name = serializers.CharField(source="campaign.name")
    date_sent = serializers.DateTimeField(source="campaign.date_sent", allow_null=True)
    contacts_sent = serializers.IntegerField()
    contacts_clicked = serializers.IntegerField()
    orders = serializers.IntegerField(help_text="Orders credited (wholly or in part) to the campaign.")
    gross = serializers.DecimalField(**MONEY)
    refunds = serializers.DecimalField(**MONEY, help_text="Credit memos and returns of those orders.")
    net = serializers.DecimalField(**MONEY)
    refunds_seen = serializers.DecimalField(**MONEY, help_text="Refunds of credited orders the ESP received.")
    net_unseen = serializers.DecimalField(**MONEY, help_text="Net of credited orders the ESP never received.")
    claimed = serializers.DecimalField(**MONEY, allow_null=True, help_text="The ESP's own claimed revenue.")
    claimed_currency = serializers.CharField(source="campaign.claimed_currency")
    claimed_orders = serializers.IntegerField(source="campaign.claimed_orders", allow_null=True)
    difference = serializers.DecimalField(**MONEY, allow_null=True, help_text="claimed - net")
    explanation = DifferencePartSerializer(many=True, help_text="Parts of the difference; they add up to it.")


class AttributionRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = AttributionRun
        fields = ["id", "model", "click_window_days", "open_window_days", "status", "orders_attributed",
                  "rows_written", "untraced_refund_documents", "untraced_refunds", "started_at", "finished_at"]

    untraced_refunds = serializers.DecimalField(**MONEY, read_only=True,
                                                help_text="Local value of refunds that lead to no order.")


class CampaignReportSerializer(serializers.Serializer):
    run = AttributionRunSerializer(allow_null=True)
    campaigns = CampaignRowSerializer(many=True)


class CampaignReportView(generics.GenericAPIView):
    """Per campaign: contacts sent and clicked, attributed orders, gross, refunds, net, and
    the ESP's claimed revenue with the difference explained. `date_from` / `date_to`
    (YYYY-MM-DD) keep orders dated in that range."""

    permission_classes = [IsAuthenticated, ViewsReports]
    serializer_class = CampaignReportSerializer
    pagination_class = None

    @extend_schema(parameters=[
        OpenApiParameter("date_from", OpenApiTypes.DATE, required=False, description="Orders dated on or after."),
        OpenApiParameter("date_to", OpenApiTypes.DATE, required=False, description="Orders dated on or before."),
    ])
    def get(self, request):
        form = PeriodForm(request.query_params)
        if not form.is_valid():
            raise serializers.ValidationError(form.errors)
        run = AttributionRun.latest_finished()
        rows = campaign_report(run=run, date_from=form.cleaned_data.get("date_from"),
                               date_to=form.cleaned_data.get("date_to"))
        return Response(self.get_serializer({"run": run, "campaigns": rows}).data)


class AttributedOrderSerializer(serializers.ModelSerializer):
    campaign_name = serializers.CharField(source="campaign.name")
    order_doc_entry = serializers.IntegerField(source="order.doc_entry")
    order_doc_num = serializers.IntegerField(source="order.doc_num", allow_null=True)
    order_date = serializers.DateField(source="order.doc_date")
    customer_code = serializers.CharField(source="order.card_code")
    order_currency = serializers.CharField(source="order.currency")
    order_total = serializers.DecimalField(source="order.doc_total", max_digits=19, decimal_places=6,
                                           help_text="In the order's own currency.")
    gross = serializers.DecimalField(**MONEY)
    refunds = serializers.DecimalField(**MONEY)
    net = serializers.DecimalField(**MONEY)

    class Meta:
        model = AttributedOrder
        fields = ["id", "campaign", "campaign_name", "order", "order_doc_entry", "order_doc_num", "order_date",
                  "customer_code", "order_currency", "order_total", "touch_kind", "touch_at", "parts", "gross",
                  "refunds", "net", "esp_saw_order"]


class AttributedOrderFilter(django_filters.FilterSet):
    campaign = django_filters.NumberFilter(field_name="campaign_id")
    date_from = django_filters.DateFilter(field_name="order__doc_date", lookup_expr="gte")
    date_to = django_filters.DateFilter(field_name="order__doc_date", lookup_expr="lte")
    esp_saw_order = django_filters.BooleanFilter()

    class Meta:
        model = AttributedOrder
        fields = ["campaign", "date_from", "date_to", "esp_saw_order"]


class ById(CursorPagination):
    ordering = ("id",)
    page_size = 500
    page_size_query_param = "page_size"
    max_page_size = 5000


class AttributedOrderList(generics.ListAPIView):
    """The latest run's document rows: each order part credited to a campaign."""

    serializer_class = AttributedOrderSerializer
    filterset_class = AttributedOrderFilter
    pagination_class = ById
    permission_classes = [IsAuthenticated, ViewsReports]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no database reads
            return AttributedOrder.objects.none()
        return attributed_rows(run=AttributionRun.latest_finished()).order_by("id")


class ActivityImportSerializer(serializers.ModelSerializer):
    destination = serializers.CharField(source="account.name")

    class Meta:
        model = ActivityImport
        fields = ["id", "destination", "source", "status", "since", "file_name", "pages_read", "rows_read",
                  "rows_added", "rows_refused", "error", "started_at", "finished_at"]


class ActivityImportList(generics.ListAPIView):
    """Imports of campaign activity, newest first, with how many rows each refused."""

    serializer_class = ActivityImportSerializer
    pagination_class = None
    permission_classes = [IsAuthenticated, ViewsReports]

    def get_queryset(self):
        return ActivityImport.objects.select_related("account").order_by("-started_at")[:200]


class AttributionSettingsSerializer(serializers.ModelSerializer):
    class Meta:
        model = AttributionSettings
        fields = ["model", "click_window_days", "open_window_days", "updated_at"]


class SettingsView(generics.RetrieveAPIView):
    """The attribution rules in force."""

    serializer_class = AttributionSettingsSerializer
    permission_classes = [IsAuthenticated, ViewsReports]

    def get_object(self):
        return AttributionSettings.current()

