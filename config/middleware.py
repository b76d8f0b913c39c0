"""Security middleware: the Content-Security-Policy header (scripts only from our own origin, no CDN,
no inline script) and browser-session expiry for staff. The two-factor requirement is
customers.two_factor.RequireTwoFactorMiddleware."""

from django.conf import settings

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


# --- Staff sessions ----------------------------------------------

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
