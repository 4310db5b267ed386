"""URLs: the pages people use, the REST API and the Django admin.

Each room adds its pages through its own `urls.py`, included here.
"""
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.shortcuts import redirect
from django.urls import include, path

from accounts.views import LoginView


def home(request):
    if not request.user.is_authenticated:
        return redirect("login")
    return redirect("/health/")


urlpatterns = [
    path("", home, name="home"),
    path("login/", LoginView.as_view(), name="login"),  # throttled (accounts)
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", include("syncapp.web_urls")),  # health, reports
    path("account/", include("accounts.urls")),  # the user's own API tokens
    path("", include("exceptions.urls")),  # exceptions dashboard, conflicts
    path("", include("esp.urls")),  # mapping editor, warehouse rules
    path("", include("consent.urls")),  # a customer's consent as the destinations report it
    path("", include("erp.sap_ecc.urls")),  # SAP ECC: the IDoc endpoint and the IDoc monitor
    path("api/", include("syncapp.api_urls")),  # runs, flow health, schema
    path("api/", include("exceptions.api_urls")),  # exceptions, conflicts
    path("api/", include("erp.api_urls")),  # provisional orders from the web shop
]
# JSON for a path under /api/ that no route matches, the usual page elsewhere.
handler404 = "syncapp.api_errors.not_found"
