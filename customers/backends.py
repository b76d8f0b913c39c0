"""Authentication that reads a user's roles with the user, through queries built once (config.prepared).

Every page and API call checks the caller's roles (User.role_names, the names of their groups).
Django's ModelBackend (sessions) and DRF's TokenAuthentication (API tokens) read the user, then the
first role check reads the groups. These read the group names in the same query, as a JSON list
(any group name survives it), and leave them where User.role_names keeps them.
"""

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.db.models import OuterRef, Subquery
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

from config.prepared import ID_MARKER, PreparedQuery
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
_token = PreparedQuery(lambda key: Token.objects.filter(key=key).order_by()[:1], {"key": "prepared-query:token-key"})


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


class TokenAuthenticationWithRoles(TokenAuthentication):
    """DRF's token authentication, reading the token, then its user with their roles."""

    def authenticate_credentials(self, key):
        tokens = _token.instances(key=key) if isinstance(key, str) else []
        users = _user_with_roles.instances(pk=tokens[0].user_id) if tokens else []
        if not users or not users[0].is_active:
            return super().authenticate_credentials(key)  # DRF refuses it, with its own (translated) message
        token, user = tokens[0], users[0]
        token.user = user
        return _keep_roles(user, user.role_list), token
