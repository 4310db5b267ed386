"""REST API of the exceptions room: exceptions (list, filter, groups, retry, ignore,
assign, notes, bulk retry) and duplicate-email conflicts (list, detail, resolve).

Same filters, actions and roles as the pages: the FilterSets of exceptions/filters.py,
the actions of exceptions/views_actions.py, capabilities of syncapp/roles.py. Lists
page by cursor, so no request counts the table.
"""
from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from syncapp.roles import HasCapability

from .api_serializers import (
    AssignSerializer,
    BulkRetryResultSerializer,
    ConflictResolveSerializer,
    ConflictSerializer,
    IgnoreSerializer,
    NoteSerializer,
    ReasonGroupSerializer,
    RetryResultSerializer,
    SyncExceptionDetailSerializer,
    SyncExceptionSerializer,
)
from .assignment import NotAllowed, exception_assign, exception_note_add
from .filters import DuplicateEmailConflictFilter, SyncExceptionFilter
from .models import DuplicateEmailConflict, SyncException
from .services import QUEUE_UNAVAILABLE
from .views_actions import (
    ActionRefused,
    conflict_resolve_now,
    exception_ignore_now,
    exception_retry_now,
    exceptions_bulk_retry,
)
from .views_queries import LIST_FIELDS, conflict_partners, exception_groups

_QueueUnavailableSerializer = inline_serializer("BulkRetryQueueUnavailable", fields={
    "detail": serializers.CharField(),
    "exceptions": serializers.IntegerField(help_text="How many matched."),
    "queued": serializers.BooleanField(),
    "unqueued": serializers.IntegerField(help_text="How many could not be queued and are open again."),
})

# Actions that read a filtered set; the others address one object whatever its status.
_FILTERED_ACTIONS = {"list", "groups", "retry_matching"}


class NewestFirst(CursorPagination):
    ordering = ("-last_seen", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class ConflictsNewestFirst(CursorPagination):
    ordering = ("-updated_at", "-id")
    page_size = 20


class SyncExceptionViewSet(viewsets.ReadOnlyModelViewSet):
    """Exceptions, open or retrying unless `status` says otherwise (`status=all` for every one)."""

    filterset_class = SyncExceptionFilter
    pagination_class = NewestFirst

    def get_permissions(self):
        needed = "act_on_exceptions" if self.action in {"retry", "ignore", "retry_matching"} else "view_exceptions"
        return [HasCapability.of(needed)()]

    def get_queryset(self):
        queryset = SyncException.objects.select_related("flow__destination", "assignee")
        if self.action == "list":
            return queryset.only(*LIST_FIELDS, "flow__name", "flow__destination__name", "assignee__username")
        return queryset

    def get_serializer_class(self):
        return SyncExceptionSerializer if self.action == "list" else SyncExceptionDetailSerializer

    def filter_queryset(self, queryset):
        # The default "still needs someone" status filter must not hide one exception asked for by id.
        return super().filter_queryset(queryset) if self.action in _FILTERED_ACTIONS else queryset

    def list(self, request: Request, *args, **kwargs) -> Response:
        """A page of exceptions, each named as people know its record (one query per document kind)."""
        from .record_names import record_labels

        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        context = {**self.get_serializer_context(), "record_labels": record_labels(page)}
        return self.get_paginated_response(SyncExceptionSerializer(page, many=True, context=context).data)

    @extend_schema(filters=True, responses=ReasonGroupSerializer(many=True))
    @action(detail=False, methods=["get"], pagination_class=None)
    def groups(self, request: Request) -> Response:
        """Counts per reason and entity of the filtered exceptions, with distinct records affected."""
        groups = exception_groups(self.filter_queryset(SyncException.objects.all()))
        rows = [{"reason_code": g.reason_code, "title": g.title, "entity": g.entity, "exceptions": g.exceptions,
                 "records": g.records, "newest": g.newest} for g in groups]
        return Response(ReasonGroupSerializer(rows, many=True).data)

    @extend_schema(request=None, responses={200: RetryResultSerializer, 409: dict})
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk=None) -> Response:
        """Re-read the record from the ERP and re-plan it now; `ok` says whether it still fails."""
        try:
            outcome = exception_retry_now(exception=self.get_object(), user=request.user)
        except ActionRefused as refused:
            return Response({"detail": str(refused)}, status=status.HTTP_409_CONFLICT)
        data = SyncExceptionDetailSerializer(outcome.exception, context=self.get_serializer_context()).data
        return Response({"ok": outcome.ok, "message": outcome.message, "exception": data})

    @extend_schema(request=IgnoreSerializer, responses={200: SyncExceptionDetailSerializer, 409: dict})
    @action(detail=True, methods=["post"])
    def ignore(self, request: Request, pk=None) -> Response:
        serializer = IgnoreSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            exception = exception_ignore_now(exception=self.get_object(), user=request.user,
                                             note=serializer.validated_data["note"])
        except ActionRefused as refused:
            return Response({"detail": str(refused)}, status=status.HTTP_409_CONFLICT)
        return Response(SyncExceptionDetailSerializer(exception, context=self.get_serializer_context()).data)

    @extend_schema(request=AssignSerializer, responses={200: SyncExceptionDetailSerializer})
    @action(detail=True, methods=["post"])
    def assign(self, request: Request, pk=None) -> Response:
        """Give the exception to a person (`assignee`: a username), or to nobody (null).
        Finance may assign only the exceptions its team owns."""
        serializer = AssignSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        exception = self.get_object()
        try:
            exception_assign(exception=exception, assignee=serializer.validated_data["assignee"], actor=request.user)
        except NotAllowed as refused:
            return Response({"detail": str(refused)}, status=status.HTTP_403_FORBIDDEN)
        return Response(SyncExceptionDetailSerializer(exception, context=self.get_serializer_context()).data)

    @extend_schema(request=NoteSerializer, responses={201: NoteSerializer})
    @action(detail=True, methods=["post"])
    def notes(self, request: Request, pk=None) -> Response:
        """Add a note to the exception's thread. Finance may add notes only to the exceptions its team owns."""
        serializer = NoteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            note = exception_note_add(exception=self.get_object(), author=request.user,
                                      text=serializer.validated_data["text"])
        except NotAllowed as refused:
            return Response({"detail": str(refused)}, status=status.HTTP_403_FORBIDDEN)
        except ValueError as empty:
            return Response({"text": [str(empty)]}, status=status.HTTP_400_BAD_REQUEST)
        return Response(NoteSerializer(note).data, status=status.HTTP_201_CREATED)

    @extend_schema(filters=True, request=None,
                   responses={200: BulkRetryResultSerializer, 202: BulkRetryResultSerializer,
                              400: OpenApiResponse(description="An unknown or invalid filter: nothing was retried."),
                              503: _QueueUnavailableSerializer})
    @action(detail=False, methods=["post"], url_path="retry-matching")
    def retry_matching(self, request: Request) -> Response:
        """Retry every open exception the filter in the query string matches.

        An unknown filter name is a 400 (a typo must not retry everything). When the
        hub's task queue is down, the exceptions it could not queue are open again and
        the answer is a 503 saying so."""
        result = exceptions_bulk_retry(queryset=self.filter_queryset(SyncException.objects.all()),
                                       user=request.user)
        if result.queue_unavailable:
            return Response({"detail": QUEUE_UNAVAILABLE, "exceptions": result.exceptions, "queued": result.queued,
                             "unqueued": result.unqueued}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        return Response({"exceptions": result.exceptions, "queued": result.queued},
                        status=status.HTTP_202_ACCEPTED if result.queued else status.HTTP_200_OK)


class ConflictViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Duplicate-email conflicts, open unless `status` says otherwise; resolving releases the partners."""

    serializer_class = ConflictSerializer
    filterset_class = DuplicateEmailConflictFilter
    pagination_class = ConflictsNewestFirst
    queryset = DuplicateEmailConflict.objects.select_related("resolved_by")

    def get_permissions(self):
        return [HasCapability.of("resolve_conflicts" if self.action == "resolve" else "view_conflicts")()]

    def filter_queryset(self, queryset):
        return super().filter_queryset(queryset) if self.action == "list" else queryset

    def list(self, request: Request, *args, **kwargs) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        context = {**self.get_serializer_context(), "partners": conflict_partners(page)}
        return self.get_paginated_response(ConflictSerializer(page, many=True, context=context).data)

    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        conflict = self.get_object()
        context = {**self.get_serializer_context(), "partners": conflict_partners([conflict])}
        return Response(ConflictSerializer(conflict, context=context).data)

    @extend_schema(request=ConflictResolveSerializer, responses={200: ConflictSerializer, 400: dict})
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk=None) -> Response:
        """`resolution`: winner (with `winner_card_code`), merge or reject."""
        conflict = self.get_object()
        serializer = ConflictResolveSerializer(data=request.data, context={"conflict": conflict})
        serializer.is_valid(raise_exception=True)
        try:
            conflict = conflict_resolve_now(conflict=conflict, user=request.user, **serializer.validated_data)
        except ActionRefused as refused:
            return Response({"detail": str(refused)}, status=status.HTTP_400_BAD_REQUEST)
        context = {**self.get_serializer_context(), "partners": conflict_partners([conflict])}
        return Response(ConflictSerializer(conflict, context=context).data)
