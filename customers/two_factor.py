"""Two-factor authentication (TOTP, django-otp) for the roles in `settings.TWO_FACTOR_ROLES`.

Pages: `/accounts/two-factor/setup/` enrols an authenticator app (QR code as inline SVG, plus the
secret and the otpauth:// URI to type in by hand) and `/accounts/two-factor/verify/` asks for the
current 6-digit code after each log-in. `RequireTwoFactorMiddleware` (below) sends every
other request of an unverified user holding such a role here (API requests get a JSON 403).

API tokens: `POST /api/v1/auth/token/` (this module's `obtain_auth_token`) issues a token to a user
holding a two-factor role only with a valid `otp_token`; so a token is itself proof that the TOTP
step was passed once, and token-authenticated API calls are allowed. Session-authenticated API
calls need a verified session like pages do.

A lost phone: an administrator deletes the user's TOTP device in the admin site; the user enrols
again at the next log-in. Every enrolment, verification and failed code is in the audit trail.
"""

import segno
from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django_otp import login as otp_login
from django_otp import verify_token
from django_otp.plugins.otp_totp.models import TOTPDevice
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken

from config.redirects import safe_next_url
from customers.audit import audit_record

DEVICE_NAME = "Authenticator app"


def requires_two_factor(user) -> bool:
    """Whether `user` must pass the TOTP step: an authenticated user holding a role in TWO_FACTOR_ROLES."""
    roles = getattr(settings, "TWO_FACTOR_ROLES", ())
    return bool(user is not None and user.is_authenticated and roles and user.has_role(*roles))


def confirmed_device(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()


def _client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR")


def _next_url(request) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    default = reverse("staff_home") if getattr(request.user, "is_staff_member", False) else reverse("home")
    return safe_next_url(request, candidate, default)


class TokenForm(forms.Form):
    otp_token = forms.CharField(
        label=_("6-digit code"), min_length=6, max_length=8,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )

    def clean_otp_token(self) -> str:
        value = self.cleaned_data["otp_token"].replace(" ", "")
        if not value.isdigit():
            raise forms.ValidationError(gettext("Enter the digits your authenticator app shows."))
        return value


def _check_code(request, device: TOTPDevice, form: TokenForm) -> bool:
    """Verify the form's code against `device` (django-otp throttles repeated failures); audit failures."""
    if not form.is_valid():
        return False
    allowed, _details = device.verify_is_allowed()
    if verify_token(request.user, device.persistent_id, form.cleaned_data["otp_token"]) is not None:
        return True
    form.add_error("otp_token", gettext("That code is not valid. Wait for a new code and try again.") if allowed
                   else gettext("Too many wrong codes. Wait a little and try again."))
    audit_record(actor=request.user, action="user.two_factor_failure", target=request.user,
                 ip_address=_client_ip(request))
    return False


def qr_svg(uri: str) -> str:
    """The otpauth:// URI as an inline SVG QR code (no external image, CSP-friendly)."""
    return segno.make(uri, error="m").svg_inline(scale=4, border=2, dark="#212529")


@never_cache
@sensitive_post_parameters("otp_token")
@login_required
def setup(request):
    """Enrol an authenticator app: show the QR code and secret of an unconfirmed device, confirm it
    with the first code. A user who already has a confirmed device is sent to `verify` instead."""
    if confirmed_device(request.user) is not None:
        return redirect(f"{reverse('two_factor_verify')}?{urlencode({'next': _next_url(request)})}")
    device = TOTPDevice.objects.filter(user=request.user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=request.user, name=DEVICE_NAME, confirmed=False)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and _check_code(request, device, form):
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=request.user, confirmed=False).delete()
        otp_login(request, device)
        audit_record(actor=request.user, action="user.two_factor_enrol", target=request.user,
                     ip_address=_client_ip(request))
        return redirect(_next_url(request))
    uri = device.config_url
    return render(request, "two_factor/setup.html", {
        "form": form, "qr_svg": mark_safe(qr_svg(uri)), "otpauth_uri": uri,  # noqa: S308 - segno's own SVG
        "secret": _base32(device), "next": _next_url(request), "required": requires_two_factor(request.user),
    }, status=400 if form.errors else 200)


def _base32(device: TOTPDevice) -> str:
    import base64

    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


@never_cache
@sensitive_post_parameters("otp_token")
@login_required
def verify(request):
    """Ask for the current code after log-in; a verified session may open every page."""
    device = confirmed_device(request.user)
    if device is None:
        return redirect(f"{reverse('two_factor_setup')}?{urlencode({'next': _next_url(request)})}")
    if request.user.is_verified():
        return redirect(_next_url(request))
    form = TokenForm(request.POST or None)
    if request.method == "POST" and _check_code(request, device, form):
        otp_login(request, device)
        request.session.cycle_key()  # a new session id once the second factor is passed
        audit_record(actor=request.user, action="user.two_factor_verify", target=request.user,
                     ip_address=_client_ip(request))
        return redirect(_next_url(request))
    return render(request, "two_factor/verify.html", {"form": form, "next": _next_url(request)},
                  status=400 if form.errors else 200)


# --- API tokens ---------------------------------------------------------------------------------

class TwoFactorAuthTokenSerializer(AuthTokenSerializer):
    otp_token = serializers.CharField(
        label="TOTP code", required=False, allow_blank=True, write_only=True, max_length=8,
        help_text="The current 6-digit code of the user's authenticator app; required for roles that use "
                  "two-factor authentication (settings.TWO_FACTOR_ROLES).",
    )

    def validate(self, attrs):
        request = self.context.get("request")
        try:
            attrs = super().validate(attrs)
        except serializers.ValidationError:
            # django-axes refuses even the right password of a locked-out user name + address; say so.
            if getattr(request, "axes_locked_out", False):
                raise exceptions.Throttled(detail="Too many failed log-ins: this account is locked for a while.")
            raise
        user = attrs["user"]
        if requires_two_factor(user):
            device = confirmed_device(user)
            code = (attrs.get("otp_token") or "").strip()
            if device is None:
                raise serializers.ValidationError(
                    {"otp_token": ["Set up two-factor authentication in the web application first."]})
            if not code or verify_token(user, device.persistent_id, code) is None:
                audit_record(actor=user, action="user.two_factor_failure", target=user,
                             ip_address=request.META.get("REMOTE_ADDR") if request else None, data={"via": "api"})
                raise serializers.ValidationError({"otp_token": ["A valid two-factor code is required."]})
        return attrs


class TwoFactorObtainAuthToken(ObtainAuthToken):
    """DRF's token view with the TOTP check for two-factor roles (throttled like the login page by axes)."""

    serializer_class = TwoFactorAuthTokenSerializer

    @extend_schema(request=TwoFactorAuthTokenSerializer, responses={200: TwoFactorAuthTokenSerializer},
                   operation_id="auth_token_create")
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)


obtain_auth_token = TwoFactorObtainAuthToken.as_view()


# Included by config.urls. The token route comes before the API's own, so it replaces DRF's plain one.
urlpatterns = [
    path("accounts/two-factor/setup/", setup, name="two_factor_setup"),
    path("accounts/two-factor/verify/", verify, name="two_factor_verify"),
    path("api/v1/auth/token/", obtain_auth_token, name="api-token"),
]


# --- The requirement, on every request ---------------------------------------------------------

# Reachable without the TOTP step: signing in and out, the 2FA pages themselves, language switch,
# health check (static files are served by WhiteNoise before any of this runs).
TWO_FACTOR_EXEMPT_VIEWS = frozenset({
    "login", "logout", "two_factor_setup", "two_factor_verify", "set_language", "healthz", "api-token",
    "admin:logout", "javascript-catalog",
})
TWO_FACTOR_EXEMPT_PREFIXES = ("/i18n/",)


class RequireTwoFactorMiddleware:
    """Users holding a role in TWO_FACTOR_ROLES must pass the TOTP step (this module).

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
