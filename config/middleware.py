"""Security middleware: the Content-Security-Policy header (scripts only from our own origin, no CDN,
no inline script), browser-session expiry for staff and the two-factor requirement."""

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

from customers.two_factor import confirmed_device, requires_two_factor

DEFAULT_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'; "
    "object-src 'none'"
)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.policy = getattr(settings, "CONTENT_SECURITY_POLICY", DEFAULT_POLICY)

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", self.policy)
        return response


# --- Staff sessions and two-factor authentication ----------------------------------------------

# Reachable without the TOTP step: signing in and out, the 2FA pages themselves, language switch,
# health check (static files are served by WhiteNoise before any of this runs).
TWO_FACTOR_EXEMPT_VIEWS = frozenset({
    "login", "logout", "two_factor_setup", "two_factor_verify", "set_language", "healthz", "api-token",
    "admin:logout", "javascript-catalog",
})
TWO_FACTOR_EXEMPT_PREFIXES = ("/i18n/",)


class StaffSessionMiddleware:
    """Staff sessions end when the browser closes (a session cookie, not a persistent one).

    Customers keep a persistent cookie of SESSION_COOKIE_AGE; every session, staff or not, expires
    on the server after SESSION_COOKIE_AGE. Off with STAFF_SESSION_EXPIRE_AT_BROWSER_CLOSE=0.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (getattr(settings, "STAFF_SESSION_EXPIRE_AT_BROWSER_CLOSE", False) and user is not None
                and user.is_authenticated and "_session_expiry" not in request.session
                and getattr(user, "is_staff_member", False)):
            request.session.set_expiry(0)
        return self.get_response(request)


class RequireTwoFactorMiddleware:
    """Users holding a role in TWO_FACTOR_ROLES must pass the TOTP step (customers.two_factor).

    Pages redirect to the setup page (no device yet) or the verify page, htmx requests get an
    HX-Redirect, session-authenticated API requests a JSON 403. Token-authenticated API requests
    are not sessions: tokens are only issued to these roles with a valid TOTP code. Needs
    django_otp.middleware.OTPMiddleware before it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        match = request.resolver_match
        if (match is not None and match.view_name in TWO_FACTOR_EXEMPT_VIEWS) or request.path_info.startswith(
                TWO_FACTOR_EXEMPT_PREFIXES):
            return None
        if not requires_two_factor(user) or user.is_verified():
            return None
        if request.path_info.startswith("/api/"):
            return JsonResponse({"detail": "Two-factor authentication is required for your role: verify this "
                                           "session at /accounts/two-factor/verify/.",
                                 "code": "two_factor_required"}, status=403)
        target = "two_factor_verify" if confirmed_device(user) is not None else "two_factor_setup"
        next_url = request.get_full_path() if request.method == "GET" else ""
        url = reverse(target) + (f"?{urlencode({'next': next_url})}" if next_url else "")
        if request.headers.get("HX-Request"):
            return HttpResponse(status=204, headers={"HX-Redirect": url})
        return redirect(url)
