"""The user's own API tokens."""
from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("tokens/", views.tokens_page, name="tokens"),
    path("tokens/<int:pk>/revoke/", views.token_revoke, name="token_revoke"),
]
