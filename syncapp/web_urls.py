"""The engine's pages: sync health and finance's reconciliation report."""
from django.urls import path

from . import views

urlpatterns = [
    path("health/", views.health_page, name="health"),
    path("reports/", views.reports_page, name="reports"),
]
