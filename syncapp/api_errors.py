"""Not-found answers: JSON under /api/ (what an API client can read), the usual page elsewhere.

Django's URL resolver answers a path no route matches (`/api/runs/abc/`) before any DRF
view runs, with an HTML page; an API client expects the same `{"detail": ...}` a view's
own 404 has.
"""
from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import page_not_found


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception)
