"""The web pages: sync health (the engine's), and finance's rooms (reports/)."""
from django.urls import include, path

from . import views, views_runs

urlpatterns = [
    path("health/", views.health_page, name="health"),
    path("runs/", views_runs.runs_list, name="runs"),
    path("runs/<int:pk>/", views_runs.run_detail, name="run_detail"),
    # /reports/ is finance's reconciliation, in its own room (reports/); the old page's URL stays.
    # Campaign revenue attribution (reports/campaigns/), before reports/ so its paths win.
    path("reports/campaigns/", include("reports.campaigns.urls")),
    path("", include("reports.urls")),
]
