"""Project-wide pages: home, staff home, health check and the friendly error pages."""

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpResponseServerError, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.views import defaults
from django.views.decorators.cache import never_cache

from customers.permissions import staff_required


def home(request):
    return render(request, "home.html")


@staff_required
def staff_home(request):
    return render(request, "staff/home.html")


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:  # any driver error means the database is down for us
        return str(error).splitlines()[0][:200]
    return None


def _check_redis() -> str | None:
    if not settings.REDIS_URL:
        return None
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
        client.ping()
    except Exception as error:
        return str(error)[:200]
    return None


@never_cache
def healthz(request):
    """200 when the database and Redis answer; 503 naming what is down otherwise."""
    checks = {"database": _check_database(), "redis": _check_redis() if settings.REDIS_URL else "not configured"}
    down = [name for name, err in checks.items() if err and err != "not configured"]
    body = {
        "status": "ok" if not down else "down",
        "database": "ok" if checks["database"] is None else f"down: {checks['database']}",
        "redis": ("ok" if checks["redis"] is None else checks["redis"] if checks["redis"] == "not configured"
                  else f"down: {checks['redis']}"),
        "down": down,
    }
    return JsonResponse(body, status=200 if not down else 503)


def _is_api(request) -> bool:
    """API clients get JSON errors, never the HTML error pages (an error outside DRF's handler too)."""
    return request is not None and request.path.startswith("/api/")


def error_400(request, exception=None):
    if _is_api(request):
        return JsonResponse({"detail": "Bad request."}, status=400)
    return defaults.bad_request(request, exception)


def error_403(request, exception=None):
    if _is_api(request):
        return JsonResponse({"detail": "You do not have permission to perform this action."}, status=403)
    return render(request, "errors/403.html", status=403)


def error_404(request, exception=None):
    if _is_api(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return render(request, "errors/404.html", status=404)


def error_500(request):
    if _is_api(request):
        return JsonResponse({"detail": "Server error."}, status=500)
    # Rendered without the request: the context processors may need the database that just failed.
    return HttpResponseServerError(loader.get_template("errors/500.html").render({}))
