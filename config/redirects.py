"""The one check for a redirect target taken from request data (`next`, a form's back link).

Every view that redirects to a URL the client sent passes it through `safe_next_url`, so a crafted
`next=https://evil.example/` (or `//evil.example`, `\\evil.example`) falls back to our own page.
"""

from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme


def safe_next_url(request: HttpRequest, candidate: str | None, default: str) -> str:
    """`candidate` when it points at this site (same host; https when the request is), else `default`."""
    if candidate and url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()},
                                                     require_https=request.is_secure()):
        return candidate
    return default
