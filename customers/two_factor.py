"""Two-factor authentication (TOTP, django-otp) for the roles in `settings.TWO_FACTOR_ROLES`, and the
API's expiring, revocable tokens (django-rest-knox).

Pages: `/accounts/two-factor/setup/` enrols an authenticator app (QR code as inline SVG, plus the
secret and the otpauth:// URI to type in by hand) and `/accounts/two-factor/verify/` asks for the
current 6-digit code after each log-in. `RequireTwoFactorMiddleware` (below) sends every
other request of an unverified user holding such a role here (API requests get a JSON 403).

Enrolment of a staff account needs more than the password: a one-time enrolment link
(`/accounts/two-factor/enrol/<token>/`) that an administrator issues (`/accounts/two-factor/users/<id>/`
or the admin site's user actions; `manage.py seed_demo` prints them for the demo staff), or the
user's existing factor (a verified session may replace its authenticator). The link is a signed,
expiring token (`TWO_FACTOR_ENROLMENT_LINK_TTL`) bound to the user's two-factor state (password,
confirmed devices, the last link issued, used, enrolment or reset in the audit trail): opening it
spends it, a newer link, a confirmed device or a reset ends it. Without one, a staff user with no
confirmed device is told to ask an administrator for a link; no QR code is shown. Customers (no
staff role) may turn two-factor on for themselves with the password alone.

A lost phone: an administrator resets the user's two-factor (`/accounts/two-factor/users/<id>/`,
the admin action, or deleting the TOTP device in the admin), which also revokes their API tokens,
and issues a new enrolment link. Every step is in the audit trail.

API tokens: `POST /api/v1/auth/token/` (`obtain_auth_token`) issues a knox token (only its hash is
stored) that expires after `REST_KNOX["TOKEN_TTL"]` (`API_TOKEN_TTL` seconds, default 10 h), to a user
holding a two-factor role only with a valid `otp_token`; so a token proves the TOTP step was passed
once, and token-authenticated API calls are allowed. `POST /api/v1/auth/logout/` revokes the token
used, `POST /api/v1/auth/logoutall/` every token of the user. `customers.backends` revokes them all on
a password change, a role change and a two-factor reset. Session-authenticated API calls need a
verified session like pages do.
"""

import base64
import json

import segno
from django import forms
from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.decorators import login_required
from django.contrib.auth.signals import user_logged_in
from django.contrib.contenttypes.models import ContentType
from django.core import signing
from django.db import transaction
from django.db.models import Max
from django.dispatch import receiver
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django_otp import login as otp_login
from django_otp import verify_token
from django_otp.plugins.otp_totp.models import TOTPDevice
from drf_spectacular.utils import extend_schema, inline_serializer
from knox.models import AuthToken
from rest_framework import exceptions, parsers, renderers, serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from config.redirects import safe_next_url
from customers.audit import audit_record
from customers.backends import TokenAuthenticationWithRoles, tokens_revoke
from customers.models import AuditEvent
from customers.permissions import role_required
from customers.roles import Role

DEVICE_NAME = "Authenticator app"
ENROLMENT_SALT = "customers.two_factor.enrolment"
GRANT_SESSION_KEY = "two_factor_enrolment_grant"
# Set at log-in for a user outside TWO_FACTOR_ROLES who turned two-factor on (a customer).
OPTED_IN_SESSION_KEY = "two_factor_opted_in"
# The audit actions that change a user's two-factor state (and so end every enrolment link and grant).
STATE_ACTIONS = ("user.two_factor_link_issue", "user.two_factor_link_use", "user.two_factor_enrol",
                 "user.two_factor_reset")


def requires_two_factor(user) -> bool:
    """Whether `user` must pass the TOTP step: an authenticated user holding a role in TWO_FACTOR_ROLES."""
    roles = getattr(settings, "TWO_FACTOR_ROLES", ())
    return bool(user is not None and user.is_authenticated and roles and user.has_role(*roles))


def needs_enrolment_link(user) -> bool:
    """Staff (any staff role, a two-factor role or the admin site) enrol only with a link or their factor."""
    return bool(requires_two_factor(user) or user.is_staff_member or user.is_staff or user.is_superuser)


def confirmed_device(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()


@receiver(user_logged_in, dispatch_uid="customers.two_factor.opted_in")
def _remember_opt_in(sender, request, user, **kwargs):
    """A customer who turned two-factor on is asked for the code at every sign-in too."""
    session = getattr(request, "session", None)
    if session is not None and not requires_two_factor(user) and confirmed_device(user) is not None:
        session[OPTED_IN_SESSION_KEY] = True


def _client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") if request is not None else None


def _next_url(request) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    default = reverse("staff_home") if getattr(request.user, "is_staff_member", False) else reverse("home")
    return safe_next_url(request, candidate, default)


# --- Enrolment links ----------------------------------------------------------------------------

def _state(user) -> str:
    """A digest of what a link is bound to: the password, the confirmed devices and the last
    two-factor event (link issued or used, enrolment, reset) of the user in the audit trail."""
    last_event = AuditEvent.objects.filter(
        target_type=ContentType.objects.get_for_model(get_user_model()), target_id=str(user.pk), action__in=STATE_ACTIONS,
    ).aggregate(last=Max("pk"))["last"]
    devices = sorted(TOTPDevice.objects.filter(user=user, confirmed=True).values_list("pk", flat=True))
    value = json.dumps([user.pk, user.password, last_event, devices])
    return salted_hmac(ENROLMENT_SALT, value, algorithm="sha256").hexdigest()[:32]


def enrolment_link_issue(*, user, by, request=None) -> str:
    """A one-time link (absolute URL) that lets `user` enrol an authenticator app; audited."""
    audit_record(actor=by, action="user.two_factor_link_issue", target=user, ip_address=_client_ip(request),
                 data={"ttl_seconds": settings.TWO_FACTOR_ENROLMENT_LINK_TTL})
    token = signing.dumps({"u": user.pk, "s": _state(user)}, salt=ENROLMENT_SALT, compress=True)
    url = reverse("two_factor_enrol", args=[token])
    return request.build_absolute_uri(url) if request is not None else settings.SITE_URL.rstrip("/") + url


def _load(token: str, *, max_age: int) -> dict | None:
    try:
        data = signing.loads(token, salt=ENROLMENT_SALT, max_age=max_age)
    except signing.BadSignature:  # includes SignatureExpired
        return None
    return data if isinstance(data, dict) else None


def _valid_for(data: dict | None, user) -> bool:
    return bool(data and data.get("u") == user.pk and constant_time_compare(str(data.get("s")), _state(user)))


def _grant(request) -> bool:
    """Whether this session may enrol a device now: it opened a valid link (or passed its factor to
    replace it) and nothing changed the user's two-factor state since."""
    token = request.session.get(GRANT_SESSION_KEY)
    if not token:
        return False
    if _valid_for(_load(token, max_age=settings.TWO_FACTOR_ENROLMENT_GRANT_TTL), request.user):
        return True
    request.session.pop(GRANT_SESSION_KEY, None)
    return False


def _grant_start(request, *, action: str, data: dict | None = None) -> None:
    audit_record(actor=request.user, action=action, target=request.user, ip_address=_client_ip(request), data=data)
    request.session[GRANT_SESSION_KEY] = signing.dumps({"u": request.user.pk, "s": _state(request.user)},
                                                      salt=ENROLMENT_SALT, compress=True)


@never_cache
@login_required
def enrol(request, token: str):
    """Open an enrolment link: for the signed-in user it was issued to, while it is valid, once."""
    data = _load(token, max_age=settings.TWO_FACTOR_ENROLMENT_LINK_TTL)
    if not _valid_for(data, request.user):
        audit_record(actor=request.user, action="user.two_factor_link_refused", target=request.user,
                     ip_address=_client_ip(request))
        return render(request, "two_factor/link_refused.html", status=403)
    _grant_start(request, action="user.two_factor_link_use")  # spends the link
    return redirect(f"{reverse('two_factor_setup')}?{urlencode({'next': _next_url(request)})}")


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
    with the first code. Staff need an enrolment grant (a link, or their verified factor to replace
    it); a user who already has a confirmed device and no grant is sent to `verify` instead."""
    granted = _grant(request)
    current = confirmed_device(request.user)
    if current is not None and not granted:
        return redirect(f"{reverse('two_factor_verify')}?{urlencode({'next': _next_url(request)})}")
    if not granted and needs_enrolment_link(request.user):
        if request.method == "POST":
            audit_record(actor=request.user, action="user.two_factor_enrol_refused", target=request.user,
                         ip_address=_client_ip(request))
        return render(request, "two_factor/need_link.html", {"required": requires_two_factor(request.user)},
                      status=403 if request.method == "POST" else 200)
    device = TOTPDevice.objects.filter(user=request.user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=request.user, name=DEVICE_NAME, confirmed=False)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and _check_code(request, device, form):
        with transaction.atomic():
            # A replaced authenticator stops working (deleting a confirmed device revokes API tokens).
            TOTPDevice.objects.filter(user=request.user).exclude(pk=device.pk).delete()
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            audit_record(actor=request.user, action="user.two_factor_enrol", target=request.user,
                         ip_address=_client_ip(request), data={"replaced": current is not None})
        request.session.pop(GRANT_SESSION_KEY, None)
        otp_login(request, device)
        return redirect(_next_url(request))
    uri = device.config_url
    return render(request, "two_factor/setup.html", {
        "form": form, "qr_svg": mark_safe(qr_svg(uri)), "otpauth_uri": uri,  # noqa: S308 - segno's own SVG
        "secret": _base32(device), "next": _next_url(request), "required": requires_two_factor(request.user),
        "replacing": current is not None,
    }, status=400 if form.errors else 200)


def _base32(device: TOTPDevice) -> str:
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


@never_cache
@login_required
def account(request):
    """The signed-in user's own two-factor page: status; a verified user may replace the
    authenticator (their existing factor stands in for a link); revoke every API token."""
    device = confirmed_device(request.user)
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "replace" and device is not None and request.user.is_verified():
            _grant_start(request, action="user.two_factor_link_use", data={"via": "own factor"})
            return redirect(reverse("two_factor_setup"))
        if action == "signout_api":
            tokens_revoke(request.user, reason="sign_out_everywhere", by=request.user)
            return redirect(reverse("two_factor_account"))
        return HttpResponse(status=400)
    return render(request, "two_factor/account.html", {
        "device": device, "verified": request.user.is_verified(), "required": requires_two_factor(request.user),
        "needs_link": needs_enrolment_link(request.user),
        "tokens": AuthToken.objects.filter(user=request.user, expiry__gt=timezone.now()).count(),
    })


# --- Administration: links and resets --------------------------------------------------------------

def enrolment_links_for_new_staff(users, *, by=None) -> list[tuple]:
    """[(user, link)] for each of `users` who enrols only with a link and has no authenticator yet
    (manage.py seed_demo prints them for the demo staff)."""
    return [(user, enrolment_link_issue(user=user, by=by)) for user in users
            if needs_enrolment_link(user) and confirmed_device(user) is None]


def two_factor_reset(*, user, by, request=None, reason: str = "") -> int:
    """Remove every authenticator of `user` (they enrol again with a new link) and revoke their API
    tokens; audited. Returns how many confirmed devices were removed."""
    with transaction.atomic():
        removed = TOTPDevice.objects.filter(user=user, confirmed=True).count()
        TOTPDevice.objects.filter(user=user).delete()
        tokens_revoke(user, reason="two_factor_reset", by=by)
        audit_record(actor=by, action="user.two_factor_reset", target=user, reason=reason,
                     ip_address=_client_ip(request), data={"devices": removed})
    return removed


@never_cache
@role_required(Role.ADMIN)
def manage(request, pk: int):
    """An administrator's page for one user's two-factor: issue an enrolment link, reset."""
    user = get_object_or_404(get_user_model(), pk=pk)
    link = None
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "link":
            link = enrolment_link_issue(user=user, by=request.user, request=request)
        elif action == "reset":
            two_factor_reset(user=user, by=request.user, request=request, reason=request.POST.get("reason", ""))
            return redirect(reverse("two_factor_manage", args=[user.pk]))
        else:
            return HttpResponse(status=400)
    return render(request, "two_factor/manage.html", {
        "subject": user, "device": confirmed_device(user), "link": link,
        "ttl_hours": settings.TWO_FACTOR_ENROLMENT_LINK_TTL // 3600,
        "tokens": AuthToken.objects.filter(user=user, expiry__gt=timezone.now()).count(),
    })


# --- API tokens ---------------------------------------------------------------------------------

class TwoFactorAuthTokenSerializer(serializers.Serializer):
    username = serializers.CharField(label="Username", write_only=True)
    password = serializers.CharField(label="Password", style={"input_type": "password"}, trim_whitespace=False,
                                     write_only=True)
    otp_token = serializers.CharField(
        label="TOTP code", required=False, allow_blank=True, write_only=True, max_length=8,
        help_text="The current 6-digit code of the user's authenticator app; required for roles that use "
                  "two-factor authentication (settings.TWO_FACTOR_ROLES).",
    )
    token = serializers.CharField(label="Token", read_only=True,
                                  help_text="Send as `Authorization: Token <token>`.")
    expiry = serializers.DateTimeField(read_only=True, help_text="When the token stops working.")

    def validate(self, attrs):
        request = self.context.get("request")
        user = authenticate(request=request, username=attrs["username"], password=attrs["password"])
        if not user:
            # django-axes refuses even the right password of a locked-out user name + address; say so.
            if getattr(request, "axes_locked_out", False):
                raise exceptions.Throttled(detail="Too many failed log-ins: this account is locked for a while.")
            raise serializers.ValidationError("Unable to log in with provided credentials.", code="authorization")
        device = confirmed_device(user)
        if requires_two_factor(user) or device is not None:  # a role that needs it, or turned on by choice
            code = (attrs.get("otp_token") or "").strip()
            if device is None:
                raise serializers.ValidationError(
                    {"otp_token": ["Set up two-factor authentication in the web application first."]})
            if not code or verify_token(user, device.persistent_id, code) is None:
                audit_record(actor=user, action="user.two_factor_failure", target=user,
                             ip_address=_client_ip(request), data={"via": "api"})
                raise serializers.ValidationError({"otp_token": ["A valid two-factor code is required."]})
        attrs["user"] = user
        return attrs


class TwoFactorObtainAuthToken(APIView):
    """An expiring API token for the e-mail + password (+ TOTP code for two-factor roles); throttled
    like the login page by axes."""

    authentication_classes = ()
    permission_classes = (AllowAny,)
    throttle_classes = ()
    parser_classes = (parsers.FormParser, parsers.MultiPartParser, parsers.JSONParser)
    renderer_classes = (renderers.JSONRenderer,)
    serializer_class = TwoFactorAuthTokenSerializer

    def get_serializer(self, *args, **kwargs):
        return self.serializer_class(*args, context={"request": self.request, "view": self}, **kwargs)

    @extend_schema(request=TwoFactorAuthTokenSerializer, responses={200: TwoFactorAuthTokenSerializer},
                   operation_id="auth_token_create")
    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = serializer.validated_data["user"]
        AuthToken.objects.filter(user=user, expiry__lte=timezone.now()).delete()  # expired ones, while here
        instance, token = AuthToken.objects.create(user=user)
        audit_record(actor=user, action="user.api_token_issue", target=user, ip_address=_client_ip(request),
                     data={"expiry": instance.expiry.isoformat() if instance.expiry else None})
        return Response({"token": token, "expiry": serializers.DateTimeField().to_representation(instance.expiry)})


class LogoutView(APIView):
    """Revoke the token this request is authenticated with."""

    authentication_classes = (TokenAuthenticationWithRoles,)
    permission_classes = (IsAuthenticated,)

    @extend_schema(request=None, responses={204: None}, operation_id="auth_logout")
    def post(self, request, *args, **kwargs):
        request.auth.delete()
        audit_record(actor=request.user, action="user.api_token_revoke", target=request.user,
                     ip_address=_client_ip(request), data={"reason": "logout", "count": 1})
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutAllView(APIView):
    """Sign out everywhere: revoke every API token of the user (token or verified session)."""

    permission_classes = (IsAuthenticated,)

    @extend_schema(request=None, responses={200: inline_serializer("LogoutAll", {"revoked": serializers.IntegerField()})},
                   operation_id="auth_logout_all")
    def post(self, request, *args, **kwargs):
        revoked = tokens_revoke(request.user, reason="sign_out_everywhere", by=request.user)
        return Response({"revoked": revoked})


obtain_auth_token = TwoFactorObtainAuthToken.as_view()
logout = LogoutView.as_view()
logout_all = LogoutAllView.as_view()


# Included by config.urls; the API's token routes are in config.api_urls.
urlpatterns = [
    path("accounts/two-factor/", account, name="two_factor_account"),
    path("accounts/two-factor/setup/", setup, name="two_factor_setup"),
    path("accounts/two-factor/verify/", verify, name="two_factor_verify"),
    path("accounts/two-factor/enrol/<str:token>/", enrol, name="two_factor_enrol"),
    path("accounts/two-factor/users/<int:pk>/", manage, name="two_factor_manage"),
]


# --- The requirement, on every request ---------------------------------------------------------

# Reachable without the TOTP step: signing in and out, the 2FA pages themselves (not the
# administrators' page), language switch, health check (static files are served by WhiteNoise
# before any of this runs), and the token API (it checks the code itself, or takes a token).
TWO_FACTOR_EXEMPT_VIEWS = frozenset({
    "login", "logout", "two_factor_setup", "two_factor_verify", "two_factor_enrol", "set_language", "healthz",
    "api-token", "api-token-logout", "admin:logout", "javascript-catalog",
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
        if user.is_verified() or not (requires_two_factor(user) or request.session.get(OPTED_IN_SESSION_KEY)):
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
