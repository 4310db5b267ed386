"""Finance's pages, under /reports/ (the old reconciliation URL is this page now)."""
from django.urls import path

from . import views

app_name = "reports"

urlpatterns = [
    path("reports/", views.reconciliation_page, name="reconciliation"),
    path("reports/resend/", views.resend, name="resend"),
    path("reports/read-back/", views.read_back_now, name="read-back"),
    path("reports/documents/<str:entity>/<int:connection_id>/<int:doc_entry>/", views.document_page,
         name="document"),
    path("reports/exceptions/<int:pk>/retry/", views.exception_retry, name="exception-retry"),
]
