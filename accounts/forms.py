"""The login forms: a locked account or address is refused before its password is checked."""
from __future__ import annotations

import math

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from .security import login_locked_for, login_refused_log

THROTTLED_MESSAGE = ("Too many failed logins for this account or from this address. "
                     "Logins are paused; try again in %(minutes)s minute%(plural)s.")


class ThrottledLoginMixin:
    """Put before an AuthenticationForm class. While locked, even the right password is
    refused (with code "throttled"), so guessing cannot go on in the background."""

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        wait = login_locked_for(request=self.request, username=username)
        if wait:
            login_refused_log(request=self.request, username=username, wait=wait)
            minutes = max(1, math.ceil(wait / 60))
            raise ValidationError(THROTTLED_MESSAGE, code="throttled",
                                  params={"minutes": minutes, "plural": "" if minutes == 1 else "s"})
        return super().clean()


def login_throttled(form) -> bool:
    return form.is_bound and form.has_error(NON_FIELD_ERRORS, "throttled")


class LoginForm(ThrottledLoginMixin, AuthenticationForm):
    """The site's login form."""


class TokenIssueForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What will use it, e.g. “finance report script”.")
    days = forms.IntegerField(label="Valid for (days)", min_value=1, max_value=365)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["days"].initial = settings.SYNC_API_TOKEN_DAYS
