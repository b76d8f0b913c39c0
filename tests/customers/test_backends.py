"""Signing in reads the user and their roles in one query (customers/backends.py), for sessions and
API tokens, with exactly the roles the database holds at that request."""

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from knox.models import AuthToken

from config.prepared import original_sql
from customers.backends import ModelBackendWithRoles
from customers.roles import Role
from tests.factories import TEST_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def _user_reads(captured) -> list[str]:
    # A prepared query runs as `EXECUTE prepared_query_N(...)` on PostgreSQL: read the SQL behind it.
    sqls = [original_sql(q["sql"]) for q in captured.captured_queries]
    return [sql for sql in sqls if '"customers_user"' in sql or "customers_user_groups" in sql]


def test_the_backend_reads_exactly_the_users_roles_in_one_query():
    officer = UserFactory(roles=[Role.LOAN_OFFICER, Role.COLLECTOR])
    nobody = UserFactory()
    odd = Group.objects.create(name='he said "yes", 是的')
    officer.groups.add(odd)

    with CaptureQueriesContext(connection) as captured:
        loaded = ModelBackendWithRoles().get_user(officer.pk)
        roles = loaded.role_names
        assert loaded.has_role(Role.COLLECTOR) and not loaded.has_role(Role.APPROVER)
    assert roles == {str(Role.LOAN_OFFICER), str(Role.COLLECTOR), odd.name}
    assert len(captured) == 1

    assert ModelBackendWithRoles().get_user(nobody.pk).role_names == set()
    superuser = UserFactory(is_superuser=True)
    assert ModelBackendWithRoles().get_user(superuser.pk).role_names == {r.value for r in Role}
    assert ModelBackendWithRoles().get_user(999_999_999) is None
    assert ModelBackendWithRoles().get_user("not-an-id") is None
    nobody.is_active = False
    nobody.save()
    assert ModelBackendWithRoles().get_user(nobody.pk) is None


def test_a_signed_in_page_reads_the_user_and_roles_once_and_a_revoked_role_counts_at_the_next_request(client):
    customer = UserFactory(roles=[Role.CUSTOMER])
    response = client.post(reverse("login"), {"username": customer.email, "password": TEST_PASSWORD})
    assert response.status_code == 302

    with CaptureQueriesContext(connection) as captured:
        assert client.get(reverse("portal:account")).status_code == 200
    assert len(_user_reads(captured)) == 1

    customer.groups.clear()
    response = client.get(reverse("portal:account"))
    assert response.status_code in (302, 403)  # no longer a customer: not let in


def test_an_api_token_reads_the_user_and_roles_once(client):
    customer = UserFactory(roles=[Role.CUSTOMER])
    _instance, token = AuthToken.objects.create(user=customer)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse("api-me"), HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 200
    assert response.json()["roles"] == [str(Role.CUSTOMER)]
    assert len(_user_reads(captured)) == 1
    assert len([q for q in captured.captured_queries if '"knox_authtoken"' in original_sql(q["sql"])]) == 1

    # Refused with a token challenge (401, customers.backends.SessionAuthenticationWithTokenChallenge).
    unknown = client.get(reverse("api-me"), HTTP_AUTHORIZATION="Token " + "0" * 64)
    assert unknown.status_code == 401 and unknown.json() == {"detail": "Invalid token."}
    in_chinese = client.get(reverse("api-me"), HTTP_AUTHORIZATION="Token " + "0" * 64, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert in_chinese.json() == {"detail": "认证令牌无效。"}
    customer.is_active = False
    customer.save()
    inactive = client.get(reverse("api-me"), HTTP_AUTHORIZATION=f"Token {token}")
    assert inactive.status_code == 401 and inactive.json() == {"detail": "User inactive or deleted."}
