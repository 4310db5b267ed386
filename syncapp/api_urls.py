"""The engine's REST API (runs, flow health) and the OpenAPI schema of the whole API."""
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from . import api

urlpatterns = [
    path("runs/", api.RunList.as_view(), name="api-runs"),
    path("runs/<int:pk>/", api.RunDetail.as_view(), name="api-run"),
    path("runs/<int:pk>/outcomes/", api.RunOutcomeList.as_view(), name="api-run-outcomes"),
    path("health/", api.FlowHealthList.as_view(), name="api-health"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("", include("reports.api_urls")),  # finance: reconciliation, differences, re-send
    path("campaigns/", include("reports.campaigns.api_urls")),  # campaign attribution (finance)
]
