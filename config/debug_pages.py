"""Django's debug pages are for the developer at this machine only.

With DEBUG on, Django answers an unhandled error with its technical 500 page (traceback, local
variables, settings) and a 404 with every URL pattern, to whoever asked. `make run` serves on
127.0.0.1 and config/settings.py refuses DEBUG with a host name that is not local, but a server
started on 0.0.0.0 or put behind a proxy would still show them to the network.
LocalDebugPagesMiddleware (first in MIDDLEWARE) shows them only to requests from a loopback address or
settings.INTERNAL_IPS that came through no proxy; everyone else gets the friendly error pages (JSON
under /api/), exactly as with DEBUG off. With DEBUG off it does nothing.
"""

import ipaddress

from django.conf import settings
from django.http import Http404
from django.urls import get_resolver, get_urlconf
from django.views.debug import ExceptionReporter

# A request that carries one of these came through a proxy: its REMOTE_ADDR is the proxy's.
PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP", "HTTP_X_FORWARDED_HOST")
# Django's technical 404 page says why the visitor sees it; the app's own 404 pages never do.
TECHNICAL_404_MARKER = b"<code>DEBUG = True</code>"


def is_local_request(request) -> bool:
    """Whether the request comes straight from this machine (loopback) or from settings.INTERNAL_IPS."""
    if request is None or any(header in request.META for header in PROXY_HEADERS):
        return False
    address = request.META.get("REMOTE_ADDR") or ""
    if address in getattr(settings, "INTERNAL_IPS", ()):
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


class HiddenTracebackReporter(ExceptionReporter):
    """The exception reporter of requests from elsewhere while DEBUG is on: no traceback, settings or
    variables; the middleware replaces the response by the friendly 500 page."""

    def get_traceback_html(self):
        if self.request is not None:
            self.request._debug_page_hidden = True
        return "Server error."

    def get_traceback_text(self):
        return self.get_traceback_html()


class LocalDebugPagesMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not settings.DEBUG or is_local_request(request):
            return self.get_response(request)
        request.exception_reporter_class = HiddenTracebackReporter
        response = self.get_response(request)
        if getattr(request, "_debug_page_hidden", False):  # an unhandled error, or a bad request (400)
            if response.status_code == 400:
                return _error_handler(400)(request, exception=None)
            return _error_handler(500)(request)
        if (response.status_code == 404 and not response.streaming
                and TECHNICAL_404_MARKER in response.content):
            return _error_handler(404)(request, exception=Http404())
        return response


def _error_handler(status: int):
    """The project's handler404 / handler500 (config.urls), as Django calls them with DEBUG off."""
    return get_resolver(get_urlconf()).resolve_error_handler(status)
