"""Pages of the exceptions room: the exception dashboard and the conflicts page."""
from django.urls import path

from . import views, views_bulk, views_conflicts, views_lists

app_name = "exceptions"

urlpatterns = [
    path("exceptions/", views.exceptions_dashboard, name="dashboard"),
    path("exceptions/retry-matching/", views_bulk.exceptions_retry_matching, name="retry_matching"),
    path("exceptions/ignore-matching/", views_bulk.exceptions_ignore_matching, name="ignore_matching"),
    path("exceptions/assign-matching/", views_bulk.exceptions_assign_matching, name="assign_matching"),
    path("exceptions/export.csv", views_lists.exceptions_export, name="export"),
    path("exceptions/saved-filters/", views_lists.saved_filter_create, name="saved_filter_create"),
    path("exceptions/saved-filters/<int:pk>/delete/", views_lists.saved_filter_remove, name="saved_filter_delete"),
    path("exceptions/<int:pk>/", views.exception_detail, name="detail"),
    path("exceptions/<int:pk>/retry/", views.exception_retry, name="retry"),
    path("exceptions/<int:pk>/ignore/", views.exception_ignore, name="ignore"),
    path("exceptions/<int:pk>/assign/", views.exception_assign_one, name="assign"),
    path("exceptions/<int:pk>/notes/", views.exception_note, name="note"),
    path("conflicts/", views_conflicts.conflicts_list, name="conflicts"),
    path("conflicts/<int:pk>/resolve/", views_conflicts.conflict_resolve, name="conflict_resolve"),
    path("conflicts/policy/<int:flow_id>/", views_conflicts.duplicate_policy_edit, name="duplicate_policy"),
]
