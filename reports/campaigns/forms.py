from __future__ import annotations

from django import forms

from esp.models import EspAccount

from .models import AttributionSettings


class PeriodForm(forms.Form):
    """Orders dated in this range (either end open)."""

    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise forms.ValidationError("The period ends before it starts.")
        return data


class AttributionSettingsForm(forms.ModelForm):
    class Meta:
        model = AttributionSettings
        fields = ["model", "click_window_days", "open_window_days"]

    def clean_click_window_days(self):
        value = self.cleaned_data["click_window_days"]
        if not 0 <= value <= 90:
            raise forms.ValidationError("Choose a click window between 0 and 90 days.")
        return value

    def clean_open_window_days(self):
        value = self.cleaned_data.get("open_window_days")
        if value is not None and not 0 <= value <= 90:
            raise forms.ValidationError("Choose an open window between 0 and 90 days, or leave it empty.")
        return value


class DotdigitalImportForm(forms.Form):
    account = forms.ModelChoiceField(queryset=EspAccount.objects.filter(kind="dotdigital").order_by("name"))


class OmetriaUploadForm(forms.Form):
    account = forms.ModelChoiceField(queryset=EspAccount.objects.filter(kind="ometria").order_by("name"))
    file = forms.FileField(help_text="An Ometria Email Events export (CSV).")
