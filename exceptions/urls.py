"""Pages of the exceptions room: the exception dashboard and the conflicts page."""
from django.urls import path

from . import views, views_conflicts

app_name = "exceptions"

urlpatterns = [
    path("exceptions/", views.exceptions_dashboard, name="dashboard"),
    path("exceptions/retry-matching/", views.exceptions_retry_matching, name="retry_matching"),
    path("exceptions/ignore-matching/", views.exceptions_ignore_matching, name="ignore_matching"),
    path("exceptions/<int:pk>/", views.exception_detail, name="detail"),
    path("exceptions/<int:pk>/retry/", views.exception_retry, name="retry"),
    path("exceptions/<int:pk>/ignore/", views.exception_ignore, name="ignore"),
    path("conflicts/", views_conflicts.conflicts_list, name="conflicts"),
    path("conflicts/<int:pk>/resolve/", views_conflicts.conflict_resolve, name="conflict_resolve"),
    path("conflicts/policy/<int:flow_id>/", views_conflicts.duplicate_policy_edit, name="duplicate_policy"),
]
