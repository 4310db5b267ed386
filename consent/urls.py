"""The consent room's page: one customer's consent at every destination."""
from django.urls import path

from . import views

app_name = "consent"

urlpatterns = [
    path("customers/<int:connection_id>/<str:card_code>/consent/", views.partner_consent, name="partner"),
]
