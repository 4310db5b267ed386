"""The HTTP endpoint SAP's XML-HTTP port (an SM59 type G destination) or SAP PI/PO and
Cloud Integration post IDoc-XML to: one per ECC connection, /ecc/<connection>/idocs.

The sender authenticates as the connection's user with its password (from the
environment), by Basic auth or as a bearer token. 200 means every IDoc of the message is
stored (or was already held); anything else means SAP should keep it and send it again,
except a refused message (400 unsafe or unreadable, 403 another partner's, 413 too large),
which is stored as refused and shown in the IDoc monitor, since sending it again would
not help.
"""
from __future__ import annotations

import base64
import binascii
import hmac
import logging

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from erp.models import ErpConnection

from .inbound import idocs_receive
from .models import EccInbound

log = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def idocs_endpoint(request: HttpRequest, name: str) -> JsonResponse:
    connection = ErpConnection.objects.filter(name=name, kind=ErpConnection.Kind.SAP_ECC).first()
    inbound = EccInbound.objects.filter(connection=connection).first() if connection else None
    if inbound is None:
        return JsonResponse({"error": "No SAP ECC connection of that name takes IDocs here."}, status=404)
    if not _authenticated(request, connection):
        response = JsonResponse({"error": "Authentication required: the connection's user and password, by Basic "
                                          "auth or as a bearer token."}, status=401)
        response["WWW-Authenticate"] = 'Basic realm="idocs"'
        return response
    body = _body(request, inbound.max_body_bytes)
    receipt = idocs_receive(connection=connection, body=body, via=f"HTTP from {_client(request)}")
    if receipt.refused:
        log.warning("IDoc message for %s refused: %s", connection, receipt.refused)
        return JsonResponse({"error": receipt.refused, **receipt.as_json()}, status=receipt.refused_status)
    return JsonResponse(receipt.as_json())


def _authenticated(request: HttpRequest, connection: ErpConnection) -> bool:
    try:
        secret = connection.password()
    except ImproperlyConfigured:
        log.error("ECC connection %s: its password variable is not set; every IDoc is refused", connection)
        return False
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return hmac.compare_digest(value.strip().encode(), secret.encode())
    if scheme.lower() != "basic":
        return False
    try:
        user, _, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    # Both compared in full, so the answer's timing tells nothing about either.
    same_user = hmac.compare_digest(user.encode(), connection.username.encode())
    same_password = hmac.compare_digest(password.encode(), secret.encode())
    return same_user and same_password


def _body(request: HttpRequest, limit: int) -> bytes:
    """At most limit + 1 bytes: enough to tell a body is too large without holding it all."""
    return request.read(limit + 1)


def _client(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "?")
