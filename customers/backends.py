"""Authentication that reads a user's roles with the user, through queries built once (config.prepared),
and the API's expiring, revocable tokens (django-rest-knox).

Every page and API call checks the caller's roles (User.role_names, the names of their groups).
Django's ModelBackend (sessions) and knox's TokenAuthentication (API tokens) read the user, then the
first role check reads the groups. These read the group names in the same query, as a JSON list
(any group name survives it), and leave them where User.role_names keeps them.

API tokens expire (settings.REST_KNOX["TOKEN_TTL"]) and only their hash is stored; every token of a
user is revoked (`tokens_revoke`, audited) when their password changes, a role is given or taken
(either side of the group membership, or the superuser flag), and when a confirmed authenticator is
removed (two-factor reset or replacement). The receivers are connected by customers.apps.
"""

from hmac import compare_digest

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.db.models import OuterRef, Subquery
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_totp.models import TOTPDevice
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.crypto import hash_token
from knox.models import AuthToken
from knox.settings import CONSTANTS, knox_settings
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication, get_authorization_header

from config.prepared import ID_MARKER, PreparedQuery
from customers.audit import audit_record
from customers.models import User
from customers.selectors import JSONList, json_list


def role_names_of(user_ref: str) -> Subquery:
    """The group names of the user whose id is the outer query's `user_ref`, as a JSON array (None: none)."""
    memberships = User.groups.through.objects.filter(user_id=OuterRef(user_ref)).order_by().values("user_id")
    return Subquery(memberships.annotate(names=JSONList("group__name")).values("names")[:1])


# Every signed-in request reads them: their SQL is built once (config.prepared).
_user_with_roles = PreparedQuery(
    lambda pk: User._default_manager.annotate(role_list=role_names_of("pk")).filter(pk=pk).order_by()[:1],
    {"pk": ID_MARKER})
# Knox looks a token up by its first characters (token_key), then compares the hash of the whole.
_token = PreparedQuery(lambda key: AuthToken.objects.filter(token_key=key).order_by()[:4],
                       {"key": "prepared-query:token-key"})


def axes_username(request, credentials: dict | None = None) -> str | None:
    """The user name django-axes counts failures under (settings.AXES_USERNAME_CALLABLE): the e-mail
    lower-cased and stripped, as sign-in matches it (`email__iexact`), so `USER@x` and `user@x` share
    one lock-out. Used for the login page and the API token view alike."""
    field = settings.AXES_USERNAME_FORM_FIELD
    if credentials:
        name = credentials.get(field)
    else:
        name = getattr(request, "data", None) or getattr(request, "POST", {})
        name = name.get(field) if hasattr(name, "get") else None
    return name.strip().lower() if isinstance(name, str) else name


def _keep_roles(user: User, names) -> User:
    if not user.is_superuser:  # a superuser holds every role (User.role_names)
        user._role_names = set(json_list(names))
    return user


class ModelBackendWithRoles(ModelBackend):
    """ModelBackend whose get_user (every request of a session) reads the roles too."""

    def get_user(self, user_id):
        try:
            found = _user_with_roles.instances(pk=int(user_id))
        except (TypeError, ValueError):  # not an id of ours
            return None
        user = found[0] if found else None
        if user is None or not self.user_can_authenticate(user):
            return None
        return _keep_roles(user, user.role_list)


class SessionAuthenticationWithTokenChallenge(SessionAuthentication):
    """DRF's session authentication, first in the list. DRF answers a refused authentication with
    401 only when the first class names a challenge; session authentication names none (403), so
    this one names the token scheme when the request sent a token: a wrong, expired or revoked
    token gets 401 `WWW-Authenticate: Token`, anonymous requests keep their 403."""

    def authenticate_header(self, request):
        header = get_authorization_header(request).split()
        prefix = knox_settings.AUTH_HEADER_PREFIX
        return prefix if header and header[0].lower() == prefix.lower().encode() else None


class TokenAuthenticationWithRoles(KnoxTokenAuthentication):
    """Knox's expiring token authentication (only a hash of each token is stored), reading the
    token, then its user with their roles. An expired token is deleted and refused."""

    def authenticate_credentials(self, token):
        try:
            token = token.decode() if isinstance(token, bytes) else str(token)
            digest = hash_token(token)
        except (UnicodeDecodeError, TypeError, ValueError):
            raise exceptions.AuthenticationFailed(_("Invalid token.")) from None
        for found in _token.instances(key=token[:CONSTANTS.TOKEN_KEY_LENGTH]):
            if not compare_digest(digest, found.digest):
                continue
            if found.expiry is not None and found.expiry <= timezone.now():
                found.delete()
                raise exceptions.AuthenticationFailed(_("Token has expired."))
            users = _user_with_roles.instances(pk=found.user_id)
            if not users or not users[0].is_active:
                raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
            user = users[0]
            found.user = user
            return _keep_roles(user, user.role_list), found
        raise exceptions.AuthenticationFailed(_("Invalid token."))


# --- Revoking tokens ---------------------------------------------------------------------------------

def tokens_revoke(user, *, reason: str, by=None) -> int:
    """Delete every API token of `user` (an id or a user); audited when there was one. Returns how many."""
    user_id = getattr(user, "pk", user)
    revoked, _rows = AuthToken.objects.filter(user_id=user_id).delete()
    if revoked:
        target = user if hasattr(user, "pk") else User.objects.filter(pk=user_id).first()
        audit_record(actor=by, action="user.api_token_revoke", target=target,
                     data={"reason": reason, "count": revoked})
    return revoked


@receiver(pre_save, sender=User, dispatch_uid="customers.tokens.superuser_change")
def _superuser_change(sender, instance, update_fields=None, raw=False, **kwargs):
    if raw or instance.pk is None or (update_fields is not None and "is_superuser" not in update_fields):
        return
    before = User._default_manager.filter(pk=instance.pk).values_list("is_superuser", flat=True).first()
    if before is not None and before != instance.is_superuser:
        instance._revoke_tokens = "role_change"


@receiver(post_save, sender=User, dispatch_uid="customers.tokens.password_change")
def _password_or_superuser_change(sender, instance, created, raw=False, **kwargs):
    """set_password() keeps the raw password in `_password` until the save after it has run."""
    if raw or created:
        return
    reason = "password_change" if getattr(instance, "_password", None) is not None else None
    reason = instance.__dict__.pop("_revoke_tokens", None) or reason
    if reason:
        tokens_revoke(instance, reason=reason)


@receiver(m2m_changed, sender=User.groups.through, dispatch_uid="customers.tokens.role_change")
def _role_change(sender, instance, action, reverse, pk_set, **kwargs):
    """A role given or taken (either side of user.groups) ends the user's tokens."""
    if action == "pre_clear" and reverse:
        instance._clearing_user_ids = list(instance.user_set.values_list("pk", flat=True))
        return
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    if action == "post_clear":
        user_ids = instance.__dict__.pop("_clearing_user_ids", []) if reverse else [instance.pk]
    elif not pk_set:
        return
    else:
        user_ids = list(pk_set) if reverse else [instance.pk]
    for user_id in user_ids:
        tokens_revoke(instance if not reverse else user_id, reason="role_change")


@receiver(post_delete, sender=TOTPDevice, dispatch_uid="customers.tokens.device_delete")
def _device_delete(sender, instance, **kwargs):
    """A removed authenticator (reset, replaced, deleted in the admin) ends the tokens it proved."""
    if instance.confirmed:
        tokens_revoke(instance.user_id, reason="two_factor_reset")


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    """The API token in the OpenAPI schema (/api/docs/): `Authorization: Token <token>`."""

    target_class = "customers.backends.TokenAuthenticationWithRoles"
    name = "tokenAuth"
    match_subclasses = True

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "`Token <token>` from POST /api/v1/auth/token/; it expires (API_TOKEN_TTL) and is "
                               "revoked by /api/v1/auth/logout/, /api/v1/auth/logoutall/, a password, role or "
                               "two-factor change."}


class SessionAuthenticationScheme(OpenApiAuthenticationExtension):
    """The browser session in the OpenAPI schema (a `sessionid` cookie)."""

    target_class = "customers.backends.SessionAuthenticationWithTokenChallenge"
    name = "cookieAuth"
    match_subclasses = True

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}
