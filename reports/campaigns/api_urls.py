"""REST endpoints of campaign attribution, under /api/campaigns/."""
from django.urls import path

from . import api

urlpatterns = [
    path("report/", api.CampaignReportView.as_view(), name="api-campaign-report"),
    path("attributed-orders/", api.AttributedOrderList.as_view(), name="api-attributed-orders"),
    path("imports/", api.ActivityImportList.as_view(), name="api-campaign-imports"),
    path("settings/", api.SettingsView.as_view(), name="api-attribution-settings"),
]
