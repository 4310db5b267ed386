"""REST API of finance's room, under /api/reports/."""
from django.urls import path

from . import api

urlpatterns = [
    path("reports/reconciliation/", api.ReconciliationView.as_view(), name="api-reconciliation"),
    path("reports/reconciliation/differences/", api.DifferencesView.as_view(), name="api-reconciliation-differences"),
    path("reports/reconciliation/resend/", api.ResendView.as_view(), name="api-reconciliation-resend"),
    path("reports/erp-summary/", api.ErpSummaryView.as_view(), name="api-erp-summary"),
]
