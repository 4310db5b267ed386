"""REST API of the engine: runs and flow health, read-only, for anyone who may view health.

Lists page with a cursor (newest first), never with a COUNT over the whole table.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta

import django_filters
from django.utils import timezone
from rest_framework import generics, serializers
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from .health import flows_health
from .incidents import redis_probe
from .logging import redact_text
from .models import Flow, RunOutcome, RunTrigger, SyncRun, SyncRunOutcome
from .roles import HasCapability
from .run_pages import runs_for_flow

# ------------------------------------------------------------------ runs


class RedactedTextField(serializers.CharField):
    """A stored error text, redacted again on the way out: a second line of defence for
    rows written before redaction or by a path that forgot it (finance reads runs)."""

    def to_representation(self, value) -> str:
        return redact_text(super().to_representation(value))


class RunSerializer(serializers.ModelSerializer):
    flow_name = serializers.CharField(source="flow.name", read_only=True, allow_null=True, default=None)
    connection_name = serializers.CharField(source="connection.name", read_only=True, allow_null=True,
                                            default=None)
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)
    error = RedactedTextField(read_only=True)
    triggered_by_name = serializers.CharField(source="triggered_by.get_username", read_only=True, allow_null=True,
                                              default=None)

    class Meta:
        model = SyncRun
        fields = ["id", "kind", "status", "flow", "flow_name", "connection", "connection_name", "started_at",
                  "finished_at", "duration_seconds", "records_read", "records_changed", "records_planned",
                  "records_unchanged", "records_accepted", "records_failed", "records_retried", "records_waiting",
                  "api_calls", "error", "trigger", "triggered_by", "triggered_by_name", "entity", "outcomes_pruned_at"]
        read_only_fields = fields


class RunFilter(django_filters.FilterSet):
    """flow (id: its runs and the pulls planning its records) or flow_name, kind, status,
    trigger, a day (`date`) or a span (`started_after` / `started_before`). The Runs page's too."""

    flow = django_filters.ModelChoiceFilter(queryset=Flow.objects.all(), method="filter_flow", empty_label="All flows")
    flow_name = django_filters.CharFilter(field_name="flow__name")
    kind = django_filters.ChoiceFilter(choices=SyncRun.Kind.choices, empty_label="Any kind")
    status = django_filters.ChoiceFilter(choices=SyncRun.Status.choices, empty_label="Any status")
    trigger = django_filters.ChoiceFilter(choices=RunTrigger.choices, empty_label="Any trigger")
    date = django_filters.DateFilter(method="filter_date", label="Started on this day")
    started_after = django_filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="gte")
    started_before = django_filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="lt")

    class Meta:
        model = SyncRun
        fields = ["flow", "flow_name", "kind", "status", "trigger", "date", "started_after", "started_before"]

    def filter_flow(self, queryset, name, value):
        return runs_for_flow(queryset, value) if value else queryset

    def filter_date(self, queryset, name, value):
        # A range on started_at (indexed), not a date() of it, which no index serves.
        start = timezone.make_aware(datetime.combine(value, time.min))
        return queryset.filter(started_at__gte=start, started_at__lt=start + timedelta(days=1))


class NewestFirst(CursorPagination):
    ordering = ("-started_at", "-id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class RunList(generics.ListAPIView):
    """Pull, plan and push runs with their counts, newest first."""

    queryset = SyncRun.objects.select_related("flow", "connection")
    serializer_class = RunSerializer
    filterset_class = RunFilter
    pagination_class = NewestFirst
    permission_classes = [IsAuthenticated, HasCapability.of("view_health")]


class RunDetail(generics.RetrieveAPIView):
    queryset = SyncRun.objects.select_related("flow", "connection")
    serializer_class = RunSerializer
    permission_classes = [IsAuthenticated, HasCapability.of("view_health")]


class RunOutcomeSerializer(serializers.ModelSerializer):
    flow_name = serializers.CharField(source="flow.name", read_only=True)
    answer = RedactedTextField(read_only=True, help_text="The destination's short answer (remote id, or why not).")

    class Meta:
        model = SyncRunOutcome
        fields = ["id", "record_key", "flow", "flow_name", "outcome", "answer", "payload_digest"]
        read_only_fields = fields


class RunOutcomeFilter(django_filters.FilterSet):
    outcome = django_filters.ChoiceFilter(choices=RunOutcome.choices)

    class Meta:
        model = SyncRunOutcome
        fields = ["outcome"]


class InWrittenOrder(CursorPagination):
    ordering = ("id",)
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class RunOutcomeList(generics.ListAPIView):
    """One run's records: which went, which were refused, retried or wait, with the
    destination's short answer. Kept SYNC_RUN_OUTCOME_DAYS days (a run older has its
    counts only). Filter by `outcome` on a large run: that order is indexed."""

    serializer_class = RunOutcomeSerializer
    filterset_class = RunOutcomeFilter
    pagination_class = InWrittenOrder
    permission_classes = [IsAuthenticated, HasCapability.of("view_health")]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema asks without a run
            return SyncRunOutcome.objects.none()
        return SyncRunOutcome.objects.filter(run_id=self.kwargs["pk"]).select_related("flow")


# ------------------------------------------------------------------ flow health


class FlowHealthSerializer(serializers.Serializer):
    flow = serializers.IntegerField(source="flow.pk")
    flow_name = serializers.CharField(source="flow.name")
    connection = serializers.CharField(source="flow.connection.name")
    entity = serializers.CharField(source="flow.entity")
    destination = serializers.CharField(source="flow.destination.name")
    enabled = serializers.BooleanField(source="flow.enabled")
    light = serializers.ChoiceField(choices=["green", "amber", "red"])
    problems = serializers.ListField(child=serializers.CharField())
    backlog = serializers.IntegerField(help_text="Records waiting to be sent.")
    lag_seconds = serializers.FloatField(allow_null=True, help_text="Age of the oldest record waiting to be sent.")
    lag_alert_minutes = serializers.IntegerField(source="flow.lag_alert_minutes")
    throughput_per_minute = serializers.FloatField(help_text="Records accepted per minute over the last hour.")
    error_rate_percent = serializers.FloatField(allow_null=True, help_text="Failed / (accepted + failed), last hour.")
    error_rate_alert_percent = serializers.FloatField(source="flow.error_rate_alert_percent")
    accepted_last_hour = serializers.IntegerField()
    failed_last_hour = serializers.IntegerField()
    last_push_at = serializers.DateTimeField(allow_null=True)
    last_pull_at = serializers.DateTimeField(allow_null=True)
    auth_failing = serializers.BooleanField()


class FlowHealthFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(field_name="name")
    entity = django_filters.ChoiceFilter(choices=Flow.Entity.choices)

    class Meta:
        model = Flow
        fields = ["name", "entity", "destination", "connection", "enabled"]


class FlowHealthList(generics.ListAPIView):
    """The health page's rows: light, lag, backlog, throughput and error rate per flow."""

    queryset = Flow.objects.all()
    serializer_class = FlowHealthSerializer
    filterset_class = FlowHealthFilter
    pagination_class = None  # one row per flow: a handful
    permission_classes = [IsAuthenticated, HasCapability.of("view_health")]

    def list(self, request, *args, **kwargs):
        redis_probe()  # as the health page: a Redis outage shows the moment someone asks
        rows = flows_health(flows=self.filter_queryset(self.get_queryset()))
        return Response(self.get_serializer(rows, many=True).data)
