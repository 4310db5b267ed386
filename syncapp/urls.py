"""URLs: the pages people use, the REST API and the Django admin.

Each room adds its pages through its own `urls.py`, included here.
"""
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.shortcuts import redirect
from django.urls import include, path


def home(request):
    if not request.user.is_authenticated:
        return redirect("login")
    return redirect("/health/")


urlpatterns = [
    path("", home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", include("syncapp.web_urls")),  # health, reports
    path("", include("exceptions.urls")),  # exceptions dashboard, conflicts
    path("", include("esp.urls")),  # mapping editor, warehouse rules
    path("api/", include("syncapp.api_urls")),  # runs, flow health, schema
    path("api/", include("exceptions.api_urls")),  # exceptions, conflicts
    path("api/", include("erp.api_urls")),  # provisional orders from the web shop
]
