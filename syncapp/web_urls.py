"""The web pages: sync health (the engine's), and finance's rooms (reports/)."""
from django.urls import include, path

from . import views

urlpatterns = [
    path("health/", views.health_page, name="health"),
    # /reports/ is finance's reconciliation, in its own room (reports/); the old page's URL stays.
    # Campaign revenue attribution (reports/campaigns/), before reports/ so its paths win.
    path("reports/campaigns/", include("reports.campaigns.urls")),
    path("", include("reports.urls")),
]
