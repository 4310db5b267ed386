"""REST API of the erp room, under /api/."""
from django.urls import path

from .api import ProvisionalOrderView

urlpatterns = [
    path("provisional-orders/", ProvisionalOrderView.as_view(), name="provisional-orders-api"),
]
