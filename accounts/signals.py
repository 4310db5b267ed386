"""Login signal receivers: every failed login is counted and logged, a success resets."""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from .security import login_failure_record, login_success_record


@receiver(user_login_failed, dispatch_uid="accounts:login_failed")
def _login_failed(sender, credentials: dict, request=None, **kwargs) -> None:
    # Django has already replaced the password in `credentials`; only the username is read.
    username = str(credentials.get(get_user_model().USERNAME_FIELD) or credentials.get("username") or "")
    login_failure_record(request=request, username=username)


@receiver(user_logged_in, dispatch_uid="accounts:logged_in")
def _logged_in(sender, request, user, **kwargs) -> None:
    login_success_record(username=user.get_username())
