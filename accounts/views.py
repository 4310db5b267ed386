"""The login page (throttled) and each user's own API tokens at /account/tokens/."""
from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_POST

from .forms import LoginForm, TokenIssueForm, login_throttled
from .models import ApiToken
from .tokens import api_token_issue, api_token_revoke

TOO_MANY_REQUESTS = 429


class LoginView(auth_views.LoginView):
    """Django's login view with the throttled form; a locked login is answered 429."""

    form_class = LoginForm

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if login_throttled(form):
            response.status_code = TOO_MANY_REQUESTS
        return response


def login_answered_429_when_throttled(login_view):
    """Wrap the admin site's `login` so a locked login is answered 429 too."""

    @wraps(login_view)
    def login(request, extra_context=None):
        response = login_view(request, extra_context)
        form = (getattr(response, "context_data", None) or {}).get("form")
        if form is not None and login_throttled(form):
            response.status_code = TOO_MANY_REQUESTS
        return response

    login.answers_429 = True
    return login


@login_required
def tokens_page(request):
    """The user's own tokens; a POST issues one and shows its key in this response only."""
    form = TokenIssueForm(request.POST or None)
    issued = key = None
    if request.method == "POST" and form.is_valid():
        issued, key = api_token_issue(user=request.user, name=form.cleaned_data["name"],
                                      days=form.cleaned_data["days"])
        form = TokenIssueForm()
    tokens = ApiToken.objects.filter(user=request.user)
    response = render(request, "accounts/tokens.html",
                      {"tokens": tokens, "form": form, "issued": issued, "key": key})
    add_never_cache_headers(response)  # the key must not stay in a cache
    return response


@login_required
@require_POST
def token_revoke(request, pk: int):
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)  # someone else's: 404
    if api_token_revoke(token=token):
        messages.success(request, f"Revoked {token}; programs using it are refused from now on.")
    return redirect("accounts:tokens")
