"""One FilterSet per model, shared by the pages and the REST API.

Every filter is a plain equality or range on an indexed column (or a join to the flow),
so the dashboard stays fast on 100,000 exceptions. With no status chosen, only the
exceptions still needing someone (open or retrying) are shown.
"""
from __future__ import annotations

from datetime import timedelta

import django_filters
from django import forms
from django.db.models import QuerySet
from django.utils import timezone

from esp.models import EspAccount

from .models import DuplicateEmailConflict, SyncException, Team
from .reasons import REASON_CHOICES

ACTIVE_STATUSES = (SyncException.Status.OPEN, SyncException.Status.RETRYING)

# Flow entities (what a destination receives) first, then what ingest reads from the ERP.
ENTITY_CHOICES = [
    ("customers", "Contacts (customers)"),
    ("orders", "Orders"),
    ("products", "Products"),
    ("stock_events", "Stock signals"),
    ("dispatch_events", "Dispatch signals"),
    ("warehouses", "Warehouses"),
    ("business_partners", "Business Partners (reading the ERP)"),
    ("items", "Items (reading the ERP)"),
    ("item_stock", "Stock levels (reading the ERP)"),
    ("deliveries", "Deliveries (reading the ERP)"),
    ("invoices", "Invoices (reading the ERP)"),
    ("credit_notes", "Credit memos (reading the ERP)"),
    ("returns", "Returns (reading the ERP)"),
    ("engagement", "Engagement (written back to the ERP)"),
]
ENTITY_LABELS = dict(ENTITY_CHOICES)

STATUS_CHOICES = [
    ("active", "Open or retrying"),
    *SyncException.Status.choices,
    ("all", "Any status"),
]

_AGES = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7)}
AGE_CHOICES = [
    ("1h", "First seen in the last hour"),
    ("24h", "First seen in the last 24 hours"),
    ("7d", "First seen in the last 7 days"),
    ("old", "First seen over 7 days ago"),
]


# What a request may carry besides the filters: the pages' keyset cursors and page number,
# the API's cursor, page size and format.
PAGING_PARAMS = frozenset({"after", "before", "page", "cursor", "page_size", "format"})


class KnownParamsForm(forms.Form):
    """A filter form that refuses parameters it does not know.

    A misspelt filter (`?rason=typo`) would otherwise be ignored and the request act on
    everything: a bulk retry of the whole table. Each unknown name becomes an error
    under its own name, so the API's 400 and the page both say which one."""

    def full_clean(self) -> None:
        super().full_clean()
        if not self.is_bound:
            return
        unknown = sorted(set(self.data) - set(self.fields) - PAGING_PARAMS)
        known = ", ".join(self.fields)
        for name in unknown:
            # Params, not an f-string: a name holding "%" must not break the message's formatting.
            error = forms.ValidationError('Unknown filter "%(name)s". The filters are: %(known)s.',
                                          code="unknown_filter", params={"name": name, "known": known})
            self._errors[name] = self.error_class(error.error_list)


class StrictFilterSet(django_filters.FilterSet):
    """A FilterSet whose bound form rejects unknown parameter names (see KnownParamsForm)."""

    class Meta:
        form = KnownParamsForm


class DestinationField(forms.ModelChoiceField):
    """A destination by name (as every answer names it) or by id (as the page's list posts it)."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        text = str(value).strip()
        found = self.queryset.filter(name=text).first()
        if found is None and text.isdigit():
            found = self.queryset.filter(pk=int(text)).first()
        if found is None:
            raise forms.ValidationError(self.error_messages["invalid_choice"], code="invalid_choice")
        return found


class DestinationFilter(django_filters.ModelChoiceFilter):
    field_class = DestinationField


def assignee_choices() -> list[tuple[str, str]]:
    """"Assigned to me", "not assigned", then each person who can be given exceptions."""
    from .assignment import assignable_people

    people = [(name, name) for name in assignable_people().values_list("username", flat=True)]
    return [("me", "Assigned to me"), ("nobody", "Not assigned"), *people]


class SyncExceptionFilter(StrictFilterSet):
    """Destination, entity, reason, owner team, assignee, age and status; `q` finds a record.

    `assignee=me` means whoever asks (the request's user), so a shared saved filter
    "assigned to me" shows each person their own."""

    q = django_filters.CharFilter(method="filter_record_key", label="Find",
                                  widget=forms.TextInput(
                                      attrs={"placeholder": "DocNum, web ref, CardCode, email, SKU"}),
                                  help_text="Record key, order or document number (DocNum), web reference, "
                                            "CardCode, email or SKU.")
    destination = DestinationFilter(
        field_name="flow__destination", queryset=EspAccount.objects.order_by("name"), label="Destination",
        empty_label="Any destination")
    entity = django_filters.ChoiceFilter(choices=ENTITY_CHOICES, label="Entity", empty_label="Any entity")
    reason = django_filters.ChoiceFilter(field_name="reason_code", choices=REASON_CHOICES, label="Reason",
                                         empty_label="Any reason")
    owner_team = django_filters.ChoiceFilter(choices=Team.choices, label="Owner team", empty_label="Any team")
    assignee = django_filters.ChoiceFilter(choices=assignee_choices, method="filter_assignee", label="Assigned to",
                                           empty_label="Anyone or nobody")
    age = django_filters.ChoiceFilter(choices=AGE_CHOICES, method="filter_age", label="Age", empty_label="Any age")
    status = django_filters.ChoiceFilter(choices=STATUS_CHOICES, method="filter_status", label="Status",
                                         empty_label=None)

    class Meta(StrictFilterSet.Meta):
        model = SyncException
        fields: list[str] = []

    def filter_record_key(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        from .record_names import exceptions_search

        return exceptions_search(queryset, value)

    def filter_assignee(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if value == "nobody":
            return queryset.filter(assignee__isnull=True)
        if value == "me":
            user = getattr(self.request, "user", None)
            return queryset.filter(assignee_id=user.pk) if user is not None and user.is_authenticated \
                else queryset.none()
        # The person's id first: the list then filters on the (assignee, status, last_seen) index alone.
        from django.contrib.auth import get_user_model

        person = get_user_model().objects.filter(username=value).values_list("pk", flat=True).first()
        return queryset.filter(assignee_id=person) if person else queryset.none()

    def filter_age(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        now = timezone.now()
        if value == "old":
            return queryset.filter(first_seen__lt=now - _AGES["7d"])
        return queryset.filter(first_seen__gte=now - _AGES[value])

    def filter_status(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if value == "all":
            return queryset
        if value == "active":
            return queryset.filter(status__in=ACTIVE_STATUSES)
        return queryset.filter(status=value)

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        queryset = super().filter_queryset(queryset)
        if not self.form.cleaned_data.get("status"):
            queryset = queryset.filter(status__in=ACTIVE_STATUSES)  # the default: what still needs someone
        return queryset


class DuplicateEmailConflictFilter(StrictFilterSet):
    """Open conflicts by default; `status=resolved` shows the decisions taken."""

    status = django_filters.ChoiceFilter(
        choices=[*DuplicateEmailConflict.Status.choices, ("all", "Any status")], method="filter_status",
        label="Status", empty_label=None)
    q = django_filters.CharFilter(method="filter_email", label="Email")

    class Meta(StrictFilterSet.Meta):
        model = DuplicateEmailConflict
        fields: list[str] = []

    def filter_status(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset if value == "all" else queryset.filter(status=value)

    def filter_email(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(email_normalised=value.strip().lower())

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        queryset = super().filter_queryset(queryset)
        if not self.form.cleaned_data.get("status"):
            queryset = queryset.filter(status=DuplicateEmailConflict.Status.OPEN)
        return queryset
