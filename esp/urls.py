"""The configuration pages of the esp room: the mapping editor and the warehouse rules."""
from django.urls import path

from . import views_mappings, views_warehouse

app_name = "esp"

urlpatterns = [
    path("mappings/", views_mappings.mapping_index, name="mapping_index"),
    path("mappings/<int:destination_id>/<slug:entity>/", views_mappings.mapping_edit, name="mapping_edit"),
    path("warehouse-rules/", views_warehouse.warehouse_rule_index, name="warehouse_rule_index"),
    path("warehouse-rules/<int:rule_id>/", views_warehouse.warehouse_rule_edit, name="warehouse_rule_edit"),
    path("warehouse-rules/new/<int:destination_id>/", views_warehouse.warehouse_rule_add,
         name="warehouse_rule_add"),
]
