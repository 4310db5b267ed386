"""Forms of the exception and conflict pages (the API validates with its serializers)."""
from __future__ import annotations

from django import forms

from syncapp.models import DuplicateEmailPolicy

from .models import DuplicateEmailConflict


class IgnoreForm(forms.Form):
    note = forms.CharField(
        label="Why ignore it?", max_length=1000, widget=forms.Textarea(attrs={"rows": 2, "cols": 50}),
        help_text="Kept with the exception; it stays ignored while the same reason recurs.")


class ConflictResolveForm(forms.Form):
    """Winner (one partner becomes the contact), merge, or reject (none is sent)."""

    resolution = forms.ChoiceField(label="Decision", choices=DuplicateEmailConflict.Resolution.choices)
    winner_card_code = forms.CharField(label="Winning card code", required=False, max_length=50)

    def __init__(self, *args, conflict: DuplicateEmailConflict, **kwargs):
        super().__init__(*args, **kwargs)
        self.conflict = conflict

    def clean(self):
        data = super().clean()
        if data.get("resolution") == DuplicateEmailConflict.Resolution.WINNER \
                and data.get("winner_card_code") not in self.conflict.card_codes:
            raise forms.ValidationError(
                f"Choose one of the partners in this conflict: {', '.join(self.conflict.card_codes)}.")
        return data


class DuplicatePolicyForm(forms.Form):
    duplicate_policy = forms.ChoiceField(label="When partners share an email", choices=DuplicateEmailPolicy.choices)


class BulkConfirmForm(forms.Form):
    """The confirm step of a bulk action carries the count the person was shown."""

    expected = forms.IntegerField(min_value=0, widget=forms.HiddenInput)


class BulkIgnoreConfirmForm(BulkConfirmForm):
    """The confirm step of a bulk ignore: the count the person was shown, and why."""

    note = forms.CharField(
        label="Why ignore them?", max_length=1000, widget=forms.Textarea(attrs={"rows": 2, "cols": 50}),
        help_text="Kept with each exception; each stays ignored while the same reason recurs.")


class PersonField(forms.ModelChoiceField):
    """A person who can be given exceptions, by username."""

    def __init__(self, **kwargs):
        from .assignment import assignable_people

        super().__init__(queryset=assignable_people(), to_field_name="username", **kwargs)

    def label_from_instance(self, obj) -> str:
        return obj.get_username()


class BulkAssignConfirmForm(BulkConfirmForm):
    """The confirm step of a bulk assign: the count the person was shown, and to whom."""

    assignee = PersonField(label="Assign them to", empty_label="Choose a person")


class AssignForm(forms.Form):
    """One exception to a person, or to nobody."""

    assignee = PersonField(label="Assigned to", required=False, empty_label="Nobody")


class NoteForm(forms.Form):
    text = forms.CharField(label="Add a note", max_length=2000,
                           widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
                           help_text="Seen by everyone who opens this exception, with your name and the time.")
