"""Authentication that reads a user's roles with the user: one query per signed-in request, not two.

Every page and API call checks the caller's roles (User.role_names, the names of their groups).
Django's ModelBackend (sessions) and DRF's TokenAuthentication (API tokens) read the user, then the
first role check reads the groups. These read the group names in the same query, as a JSON list
(any group name survives it), and leave them where User.role_names keeps them.
"""

import json

from django.contrib.auth.backends import ModelBackend
from django.db.models import Aggregate, OuterRef, Subquery, TextField
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

from customers.models import User


class JSONList(Aggregate):
    """The values of a group as a JSON array (PostgreSQL json_agg, SQLite json_group_array)."""

    function = "JSON_AGG"
    output_field = TextField()

    def as_sqlite(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection, function="JSON_GROUP_ARRAY", **extra_context)


def role_names_of(user_ref: str) -> Subquery:
    """The group names of the user whose id is the outer query's `user_ref`, as a JSON array (None: none)."""
    memberships = User.groups.through.objects.filter(user_id=OuterRef(user_ref)).order_by().values("user_id")
    return Subquery(memberships.annotate(names=JSONList("group__name")).values("names")[:1])


def _keep_roles(user: User, names) -> User:
    if not user.is_superuser:  # a superuser holds every role (User.role_names)
        if isinstance(names, str):
            names = json.loads(names)
        user._role_names = set(names or ())
    return user


class ModelBackendWithRoles(ModelBackend):
    """ModelBackend whose get_user (every request of a session) reads the roles too."""

    def get_user(self, user_id):
        user = User._default_manager.annotate(role_list=role_names_of("pk")).filter(pk=user_id).first()
        if user is None or not self.user_can_authenticate(user):
            return None
        return _keep_roles(user, user.role_list)


class TokenAuthenticationWithRoles(TokenAuthentication):
    """DRF's token authentication, reading the token's user and their roles in one query."""

    def authenticate_credentials(self, key):
        token = (Token.objects.select_related("user").annotate(role_list=role_names_of("user_id"))
                 .filter(key=key).first())
        if token is None or not token.user.is_active:
            return super().authenticate_credentials(key)  # DRF refuses it, with its own (translated) message
        return _keep_roles(token.user, token.role_list), token
