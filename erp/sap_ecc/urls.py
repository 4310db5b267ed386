from django.urls import path

from . import monitor, receiver

app_name = "sap_ecc"
urlpatterns = [
    path("ecc/<slug:name>/idocs", receiver.idocs_endpoint, name="endpoint"),
    path("ecc/idocs/", monitor.idoc_list, name="idocs"),
    path("ecc/idocs/<int:pk>/", monitor.idoc_detail, name="idoc"),
    path("ecc/idocs/reprocess", monitor.idocs_reprocess, name="reprocess"),
]
