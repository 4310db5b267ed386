"""The customer's consent page: what each destination reported, with its source and time."""
from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from erp.models import BusinessPartner, ErpConnection
from syncapp.roles import capability_required

from .selectors import consent_history, consent_states


@require_GET
@capability_required("view_exceptions")
def partner_consent(request: HttpRequest, connection_id: int, card_code: str) -> HttpResponse:
    connection = get_object_or_404(ErpConnection, pk=connection_id)
    partner = BusinessPartner.objects.filter(connection=connection, card_code=card_code).only(
        "card_code", "card_name").first()
    return render(request, "consent/partner.html", {
        "connection": connection, "card_code": card_code, "partner": partner,
        "states": consent_states(connection_id=connection.pk, card_code=card_code),
        "history": consent_history(connection_id=connection.pk, card_code=card_code),
    })
