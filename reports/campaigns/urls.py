"""Finance's attribution pages, under /reports/campaigns/."""
from django.urls import path

from . import views

app_name = "campaigns"

urlpatterns = [
    path("", views.report_page, name="report"),
    path("<int:pk>/", views.campaign_page, name="campaign"),
    path("attributed.csv", views.attributed_csv, name="csv"),
    path("imports/<int:pk>/", views.import_page, name="import"),
    path("settings/", views.settings_save, name="settings"),
    path("rerun/", views.attribution_rerun, name="rerun"),
    path("import/dotdigital/", views.dotdigital_import, name="import_dotdigital"),
    path("import/ometria/", views.ometria_upload, name="import_ometria"),
]
