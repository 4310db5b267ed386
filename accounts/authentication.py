"""DRF authentication by API token: `Authorization: Token <key>` (as before) or `Bearer <key>`."""
from __future__ import annotations

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, Throttled

from .security import api_token_failure_record, api_token_locked_for
from .tokens import api_token_use

KEYWORDS = (b"token", b"bearer")


class ApiTokenAuthentication(BaseAuthentication):
    """A request without a token header is left to the next class (the session).

    A bad, expired or revoked token is 401; after too many bad ones from one address every
    token from there is 429 with Retry-After for a while, the good ones too, or the answer
    would tell a guesser which key is right.
    """

    keyword = "Token"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() not in KEYWORDS:
            return None
        wait = api_token_locked_for(request=request)
        if wait:
            raise Throttled(wait=wait, detail="Too many bad API tokens from this address.")
        token = None
        if len(parts) == 2:
            try:
                token = api_token_use(key=parts[1].decode("ascii"))
            except UnicodeDecodeError:
                token = None
        if token is None:
            api_token_failure_record(request=request)
            raise AuthenticationFailed("Invalid, expired or revoked token.")
        return token.user, token

    def authenticate_header(self, request) -> str:
        return self.keyword
