"""REST shapes of exceptions and conflicts (read) and of the actions on them (write)."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .models import DuplicateEmailConflict, SyncException
from .reasons import reason_for


class SyncExceptionSerializer(serializers.ModelSerializer):
    """The list row: what failed, why in plain words, and where it stands; no payloads."""

    reason_title = serializers.SerializerMethodField()
    record_label = serializers.SerializerMethodField(
        help_text="The record as people know it, e.g. \"Order 100039 · WEB-100909 (DocEntry 39)\".")
    destination = serializers.SerializerMethodField()
    flow = serializers.SlugRelatedField(slug_field="name", read_only=True)
    assignee = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True,
                                            help_text="The person looking after it (username), or null.")
    url = serializers.HyperlinkedIdentityField(view_name="exceptions-api-detail")

    class Meta:
        model = SyncException
        fields = ["id", "url", "record_key", "record_label", "entity", "stage", "reason_code", "reason_title",
                  "message", "status", "owner_team", "assignee", "destination", "flow", "connection", "attempts",
                  "first_seen", "last_seen"]
        read_only_fields = fields

    def get_reason_title(self, obj: SyncException) -> str:
        return reason_for(obj.reason_code).title

    def get_record_label(self, obj: SyncException) -> str:
        labels = self.context.get("record_labels")
        if labels is None:  # one record (the detail): look it up here
            from .record_names import record_labels

            labels = record_labels([obj])
        return labels.get(obj.pk, obj.record_key)

    def get_destination(self, obj: SyncException) -> str | None:
        return obj.flow.destination.name if obj.flow_id else None


class HistoryEntrySerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    who = serializers.CharField()
    what = serializers.CharField()


class NoteSerializer(serializers.Serializer):
    """A note of an exception's thread; `author` is null for notes from before the thread."""

    id = serializers.IntegerField(read_only=True)
    author = serializers.CharField(source="author.username", read_only=True, allow_null=True)
    text = serializers.CharField(max_length=2000)
    created_at = serializers.DateTimeField(read_only=True)


class AssignSerializer(serializers.Serializer):
    assignee = serializers.CharField(allow_null=True, allow_blank=True,
                                     help_text="Username of a person holding a role; null or \"\" for nobody.")

    def validate_assignee(self, value):
        from .assignment import assignable_people

        if not value:
            return None
        person = assignable_people().filter(username=value).first()
        if person is None:
            raise serializers.ValidationError("No active person with a role has this username.")
        return person


class SyncExceptionDetailSerializer(SyncExceptionSerializer):
    """The record page's content: what to do, the payloads, the destination's answer, notes, history."""

    what_to_do = serializers.SerializerMethodField()
    notes = serializers.SerializerMethodField()
    history = serializers.SerializerMethodField()

    class Meta(SyncExceptionSerializer.Meta):
        fields = [*SyncExceptionSerializer.Meta.fields, "what_to_do", "detail", "note", "destination_code",
                  "source_payload", "last_request", "last_response", "resolved_at", "notes", "history"]
        read_only_fields = fields

    def get_what_to_do(self, obj: SyncException) -> str:
        return reason_for(obj.reason_code).what_to_do

    def to_representation(self, obj: SyncException) -> dict:
        """The record's payloads under the page's email rule (exceptions/record_page.py)."""
        from .record_page import for_viewer

        data = super().to_representation(obj)
        request = self.context.get("request")
        if request is not None:
            for name in ("source_payload", "last_request"):
                data[name] = for_viewer(data.get(name), request.user)
        return data

    @extend_schema_field(NoteSerializer(many=True))
    def get_notes(self, obj: SyncException) -> list[dict]:
        from .assignment import exception_notes

        return NoteSerializer(exception_notes(obj), many=True).data

    @extend_schema_field(HistoryEntrySerializer(many=True))
    def get_history(self, obj: SyncException) -> list[dict]:
        from .events import exception_history

        return [{"at": entry.at, "who": entry.who, "what": entry.what} for entry in exception_history(obj)]


class IgnoreSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=1000, help_text="Why the exception is ignored.")


class RetryResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField(help_text="False when the record still fails or the ERP could not be asked.")
    message = serializers.CharField()
    exception = SyncExceptionDetailSerializer()


class BulkRetryResultSerializer(serializers.Serializer):
    exceptions = serializers.IntegerField(help_text="How many open or retrying exceptions were retried.")
    queued = serializers.BooleanField(help_text="True when the workers do it in the background.")


class ReasonGroupSerializer(serializers.Serializer):
    reason_code = serializers.CharField()
    title = serializers.CharField()
    entity = serializers.CharField()
    exceptions = serializers.IntegerField()
    records = serializers.IntegerField()
    newest = serializers.DateTimeField()


class PartnerSerializer(serializers.Serializer):
    card_code = serializers.CharField()
    card_name = serializers.CharField()
    card_type = serializers.CharField()
    email = serializers.CharField()
    source_updated_at = serializers.DateTimeField(allow_null=True)
    orders = serializers.IntegerField(allow_null=True)
    in_mirror = serializers.BooleanField()
    lifetime_value = serializers.FloatField(allow_null=True, help_text="Orders net of credit memos.")
    last_order_date = serializers.DateField(allow_null=True)
    consent = serializers.CharField(help_text="The partner's marketing-consent field as the ERP holds it.")
    consent_field = serializers.CharField()


class ConflictSerializer(serializers.ModelSerializer):
    """A conflict with its partners side by side (from `partners` in the context)."""

    # Null and "" while the conflict is open: the schema must say so.
    resolved_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    resolution = serializers.ChoiceField(choices=DuplicateEmailConflict.Resolution.choices, allow_blank=True,
                                         read_only=True)
    partners = serializers.SerializerMethodField()
    url = serializers.HyperlinkedIdentityField(view_name="conflicts-api-detail")

    class Meta:
        model = DuplicateEmailConflict
        fields = ["id", "url", "connection", "email_normalised", "card_codes", "status", "resolution",
                  "winner_card_code", "resolved_by", "resolved_at", "created_at", "updated_at", "partners"]
        read_only_fields = fields

    @extend_schema_field(PartnerSerializer(many=True))
    def get_partners(self, obj: DuplicateEmailConflict) -> list[dict]:
        partners = self.context.get("partners", {}).get(obj.pk, [])
        return PartnerSerializer(partners, many=True).data


class ConflictResolveSerializer(serializers.Serializer):
    resolution = serializers.ChoiceField(choices=DuplicateEmailConflict.Resolution.choices)
    winner_card_code = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")

    def validate(self, data):
        conflict = self.context["conflict"]
        if data["resolution"] == DuplicateEmailConflict.Resolution.WINNER \
                and data["winner_card_code"] not in conflict.card_codes:
            raise serializers.ValidationError(
                {"winner_card_code": f"Choose one of the partners: {', '.join(conflict.card_codes)}."})
        return data
