"""API tokens expire and are revoked (issue #19, finding 3): knox tokens with a TTL, revoked on a
password change, a role change, a two-factor reset, logout and "sign out everywhere"; a refused
token is a JSON 401."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone
from knox.models import AuthToken

from customers.models import AuditEvent
from customers.roles import Role
from customers.services import user_grant_role
from customers.two_factor import requires_two_factor
from tests.conftest import totp_code, totp_device_for
from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db


def _token(api_client, user, **extra) -> dict:
    if requires_two_factor(user) and "otp_token" not in extra:  # every staff role (TWO_FACTOR_ROLES)
        extra["otp_token"] = totp_code(totp_device_for(user))
    response = api_client.post(reverse("api-token"), {"username": user.email, "password": TEST_PASSWORD, **extra},
                               format="json")
    assert response.status_code == 200, response.content
    return response.json()


def _me(api_client, token: str):
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    try:
        return api_client.get(reverse("api-me"))
    finally:
        api_client.credentials()


def _refused(response) -> bool:
    return (response.status_code == 401 and response["Content-Type"].startswith("application/json")
            and "detail" in response.json() and response["WWW-Authenticate"] == "Token")


def test_a_token_says_when_it_expires_and_stops_working_then(api_client, customer, settings):
    before = timezone.now()
    body = _token(api_client, customer)
    expiry = timezone.datetime.fromisoformat(body["expiry"])
    ttl = settings.REST_KNOX["TOKEN_TTL"]
    assert timedelta(hours=1) <= ttl <= timedelta(hours=12)
    assert before + ttl - timedelta(minutes=1) <= expiry <= timezone.now() + ttl
    assert _me(api_client, body["token"]).status_code == 200
    # Only a hash is stored.
    stored = AuthToken.objects.get(user=customer)
    assert body["token"] not in (stored.digest, stored.token_key)

    AuthToken.objects.filter(user=customer).update(expiry=timezone.now() - timedelta(seconds=1))
    expired = _me(api_client, body["token"])
    assert _refused(expired), (expired.status_code, expired.content)
    assert not AuthToken.objects.filter(user=customer).exists()


def test_the_token_lifetime_is_a_setting(api_client, customer, settings):
    settings.REST_KNOX = {**settings.REST_KNOX, "TOKEN_TTL": timedelta(minutes=5)}
    body = _token(api_client, customer)
    assert timezone.datetime.fromisoformat(body["expiry"]) <= timezone.now() + timedelta(minutes=5)


def test_unknown_and_malformed_tokens_are_a_json_401_and_anonymous_calls_keep_their_403(api_client):
    assert _refused(_me(api_client, "0" * 64))
    assert _refused(_me(api_client, "not-hex-é"))
    anonymous = api_client.get(reverse("api-me"))
    assert anonymous.status_code == 403 and anonymous.json()["detail"]


def test_a_password_change_revokes_every_token(api_client, client, customer):
    first, second = _token(api_client, customer)["token"], _token(api_client, customer)["token"]
    client.force_login(customer)
    changed = client.post(reverse("password_change"), {"old_password": TEST_PASSWORD,
                                                       "new_password1": "another-long-pass-77",
                                                       "new_password2": "another-long-pass-77"})
    assert changed.status_code == 302
    assert _refused(_me(api_client, first)) and _refused(_me(api_client, second))
    assert AuditEvent.objects.filter(action="user.api_token_revoke", target_id=str(customer.pk),
                                     data__reason="password_change").exists()


def test_set_password_anywhere_revokes_tokens(api_client, customer):
    token = _token(api_client, customer)["token"]
    customer.set_password("reset-by-mail-123")
    customer.save()
    assert _refused(_me(api_client, token))


@pytest.mark.parametrize("change", ["grant", "revoke", "group side", "clear", "superuser"])
def test_a_role_change_revokes_every_token(api_client, officer, change):
    token = _token(api_client, officer)["token"]
    assert _me(api_client, token).status_code == 200
    if change == "grant":  # the finding: an officer's token kept working after the user became an admin
        user_grant_role(user=officer, role=Role.ADMIN, by=None)
    elif change == "revoke":
        officer.groups.remove(Group.objects.get(name=Role.LOAN_OFFICER))
    elif change == "group side":
        Group.objects.get_or_create(name=Role.APPROVER)[0].user_set.add(officer)
    elif change == "clear":
        Group.objects.get(name=Role.LOAN_OFFICER).user_set.clear()
    else:
        officer.is_superuser = True
        officer.save()
    assert _refused(_me(api_client, token))
    assert AuditEvent.objects.filter(action="user.api_token_revoke", target_id=str(officer.pk),
                                     data__reason="role_change").exists()


def test_saving_a_user_without_a_change_keeps_tokens(api_client, officer):
    token = _token(api_client, officer)["token"]
    officer.full_name = "Renamed"
    officer.save()
    user_grant_role(user=officer, role=Role.LOAN_OFFICER, by=None)  # already held: nothing changes
    assert _me(api_client, token).status_code == 200


def test_a_two_factor_reset_revokes_every_token(api_client, client_for, make_user):
    approver, admin = make_user(Role.APPROVER), make_user(Role.ADMIN)
    device = totp_device_for(approver)
    token = _token(api_client, approver, otp_token=totp_code(device))["token"]
    assert _me(api_client, token).status_code == 200
    client = client_for(admin)
    assert client.post(reverse("two_factor_manage", args=[approver.pk]),
                       {"action": "reset", "reason": "lost phone"}).status_code == 302
    assert _refused(_me(api_client, token))
    assert AuditEvent.objects.filter(action="user.api_token_revoke", target_id=str(approver.pk),
                                     data__reason="two_factor_reset").exists()


def test_deleting_the_device_in_the_admin_revokes_tokens_too(api_client, make_user):
    approver = make_user(Role.APPROVER)
    device = totp_device_for(approver)
    token = _token(api_client, approver, otp_token=totp_code(device))["token"]
    device.delete()
    assert _refused(_me(api_client, token))


def test_logout_revokes_the_token_used_and_logout_all_every_one(api_client, officer):
    first, second, third = (_token(api_client, officer)["token"] for _ in range(3))
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {first}")
    assert api_client.post(reverse("api-token-logout")).status_code == 204
    api_client.credentials()
    assert _refused(_me(api_client, first))
    assert _me(api_client, second).status_code == 200

    api_client.credentials(HTTP_AUTHORIZATION=f"Token {second}")
    everywhere = api_client.post(reverse("api-token-logout-all"))
    api_client.credentials()
    assert everywhere.status_code == 200 and everywhere.json() == {"revoked": 2}
    assert _refused(_me(api_client, second)) and _refused(_me(api_client, third))
    assert AuditEvent.objects.filter(action="user.api_token_revoke", target_id=str(officer.pk),
                                     data__reason="sign_out_everywhere").exists()
    assert AuditEvent.objects.filter(action="user.api_token_issue", target_id=str(officer.pk)).count() == 3


def test_logout_needs_a_token_and_errors_are_json(api_client):
    for name in ("api-token-logout", "api-token-logout-all"):
        response = api_client.post(reverse(name))
        assert response.status_code in (401, 403) and response.json()["detail"]
    bad = api_client.post(reverse("api-token"), {"username": "x@example.com"}, format="json")
    assert bad.status_code == 400 and "password" in bad.json()


def test_sign_out_everywhere_from_the_web_page(api_client, client_for, customer):
    token = _token(api_client, customer)["token"]
    client = client_for(customer)
    page = client.get(reverse("two_factor_account"))
    assert page.status_code == 200 and b"1 API token is active" in page.content
    assert client.post(reverse("two_factor_account"), {"action": "signout_api"}).status_code == 302
    assert _refused(_me(api_client, token))
