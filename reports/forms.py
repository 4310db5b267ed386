"""The reconciliation's filters, shared by the page, its CSV and printable views."""
from __future__ import annotations

from django import forms
from django.utils import timezone

from syncapp.models import Flow

from .periods import Period, last_month
from .reconcile import CLASS_TITLES, CLASSES


def _date_input() -> forms.DateInput:
    # A browser's date input takes ISO dates only, whatever the site's locale shows.
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class ReconciliationForm(forms.Form):
    date_from = forms.DateField(required=False, label="From", widget=_date_input())
    date_to = forms.DateField(required=False, label="To", widget=_date_input())
    flow = forms.ModelChoiceField(queryset=Flow.objects.none(), required=False, empty_label="Every destination",
                                  label="Destination")
    kind = forms.ChoiceField(required=False, label="Difference",
                             choices=[("", "Every difference"), *[(k, CLASS_TITLES[k]) for k in CLASSES]])
    currency = forms.CharField(required=False, max_length=10, label="Currency")
    q = forms.CharField(required=False, max_length=100, label="Document")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["flow"].queryset = (Flow.objects.filter(entity=Flow.Entity.ORDERS)
                                        .select_related("destination").order_by("destination__name", "name"))
        self.fields["flow"].label_from_instance = lambda flow: f"{flow.destination.name} ({flow.name})"

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if bool(start) != bool(end):
            raise forms.ValidationError("Give both dates, or neither for last month.")
        if start and end and start > end:
            raise forms.ValidationError("The start date is after the end date.")
        return data

    def period(self) -> Period:
        """The chosen range; last calendar month without one (or when the form is invalid)."""
        if self.is_valid() and self.cleaned_data.get("date_from"):
            return Period(self.cleaned_data["date_from"], self.cleaned_data["date_to"])
        return last_month(timezone.localdate())

    def chosen(self, name: str):
        return self.cleaned_data.get(name) if self.is_valid() else None


class ResendForm(forms.Form):
    flow = forms.ModelChoiceField(queryset=Flow.objects.filter(entity=Flow.Entity.ORDERS))
    date_from = forms.DateField()
    date_to = forms.DateField()
    keys = forms.CharField(required=False, help_text="Comma-separated record keys; empty: every difference.")

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise forms.ValidationError("The start date is after the end date.")
        return data

    def key_list(self) -> list[str] | None:
        text = self.cleaned_data.get("keys") or ""
        keys = [key.strip() for key in text.split(",") if key.strip()]
        return keys or None
