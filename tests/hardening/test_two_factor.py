"""Two-factor authentication (TOTP) for the roles in TWO_FACTOR_ROLES, staff session expiry,
password policy and login throttling on the login page and the API token endpoint."""

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from customers.models import AuditEvent
from customers.roles import Role
from tests.conftest import totp_code, totp_device_for
from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db


def _log_in(client, user):
    return client.post(reverse("login"), {"username": user.email, "password": TEST_PASSWORD})


@pytest.mark.parametrize("role", [Role.APPROVER, Role.ADMIN])
def test_two_factor_role_is_sent_to_setup_then_verify_before_any_staff_page(client, make_user, role):
    user = make_user(role)
    _log_in(client, user)
    response = client.get(reverse("staff_home"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("two_factor_setup"))

    page = client.get(response["Location"])
    assert page.status_code == 200
    assert b"<svg" in page.content and b"otpauth://totp/" in page.content
    device = TOTPDevice.objects.get(user=user, confirmed=False)

    wrong = client.post(reverse("two_factor_setup"), {"otp_token": "000000"})
    assert wrong.status_code == 400 and b"not valid" in wrong.content
    device.refresh_from_db()
    assert not device.confirmed
    device.throttling_failure_count, device.throttling_failure_timestamp = 0, None
    device.save()

    done = client.post(reverse("two_factor_setup"), {"otp_token": totp_code(device), "next": "/staff/"})
    assert done.status_code == 302 and done["Location"] == "/staff/"
    device.refresh_from_db()
    assert device.confirmed
    assert client.get(reverse("staff_home")).status_code == 200
    assert AuditEvent.objects.filter(actor=user, action="user.two_factor_enrol").exists()
    assert AuditEvent.objects.filter(actor=user, action="user.two_factor_failure").exists()

    # The next sign-in asks for a code again (verify, not setup).
    client.logout()
    _log_in(client, user)
    response = client.get(reverse("staff_home"))
    assert response["Location"].startswith(reverse("two_factor_verify"))
    device = totp_device_for(user)
    assert client.post(reverse("two_factor_verify"), {"otp_token": totp_code(device)}).status_code == 302
    assert client.get(reverse("staff_home")).status_code == 200
    assert AuditEvent.objects.filter(actor=user, action="user.two_factor_verify").exists()


def test_unverified_session_is_refused_by_the_api_and_htmx_gets_a_redirect(client, make_user):
    approver = make_user(Role.APPROVER)
    totp_device_for(approver)
    _log_in(client, approver)
    api = client.get(reverse("api-me"))
    assert api.status_code == 403 and api.json()["code"] == "two_factor_required"
    htmx = client.get(reverse("workbench_queue"), HTTP_HX_REQUEST="true")
    assert htmx.status_code == 204 and htmx["HX-Redirect"].startswith(reverse("two_factor_verify"))
    # Exempt: logout, language switch, health check.
    assert client.get(reverse("healthz")).status_code in (200, 503)
    assert client.post(reverse("set_language"), {"language": "en", "next": "/"}).status_code == 302
    assert client.post(reverse("logout")).status_code == 302


def test_verified_device_of_another_user_does_not_count(client, make_user):
    approver, other = make_user(Role.APPROVER), make_user(Role.APPROVER)
    _log_in(client, approver)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = totp_device_for(other).persistent_id
    session.save()
    assert client.get(reverse("staff_home")).status_code == 302


@pytest.mark.parametrize("role", [Role.LOAN_OFFICER, Role.COLLECTOR, Role.MANAGER, Role.CUSTOMER])
def test_roles_outside_the_list_need_no_second_factor(client, make_user, role):
    user = make_user(role)
    _log_in(client, user)
    page = reverse("staff_home") if role != Role.CUSTOMER else reverse("portal:account")
    assert client.get(page).status_code == 200


def test_two_factor_roles_are_configurable(client, make_user, settings):
    settings.TWO_FACTOR_ROLES = ["loan_officer"]
    officer, approver = make_user(Role.LOAN_OFFICER), make_user(Role.APPROVER)
    _log_in(client, officer)
    assert client.get(reverse("staff_home")).status_code == 302
    client.logout()
    _log_in(client, approver)
    assert client.get(reverse("staff_home")).status_code == 200


def test_client_for_passes_the_second_factor_for_two_factor_roles(client_for, make_user):
    assert client_for(make_user(Role.APPROVER)).get(reverse("staff_home")).status_code == 200


def test_two_factor_failures_are_throttled(client, make_user):
    approver = make_user(Role.APPROVER)
    device = totp_device_for(approver)
    _log_in(client, approver)
    client.post(reverse("two_factor_verify"), {"otp_token": "000000"})
    # Right after a failure even the right code is refused (django-otp's back-off).
    refused = client.post(reverse("two_factor_verify"), {"otp_token": totp_code(device)})
    assert refused.status_code == 400 and b"Too many wrong codes" in refused.content
    assert client.get(reverse("staff_home")).status_code == 302


# --- API tokens -------------------------------------------------------------------------------------

def test_api_token_for_a_two_factor_role_needs_a_valid_code(api_client, make_user):
    approver = make_user(Role.APPROVER)
    device = totp_device_for(approver)
    url = reverse("api-token")
    no_code = api_client.post(url, {"username": approver.email, "password": TEST_PASSWORD}, format="json")
    assert no_code.status_code == 400 and "otp_token" in no_code.json()
    wrong = api_client.post(url, {"username": approver.email, "password": TEST_PASSWORD, "otp_token": "123456"},
                            format="json")
    assert wrong.status_code == 400 and "otp_token" in wrong.json()
    device = totp_device_for(approver)  # reset the back-off the wrong code started
    ok = api_client.post(url, {"username": approver.email, "password": TEST_PASSWORD, "otp_token": totp_code(device)},
                         format="json")
    assert ok.status_code == 200, ok.content
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {ok.json()['token']}")
    assert api_client.get(reverse("api-me")).status_code == 200


def test_api_token_for_other_roles_needs_only_the_password(api_client, officer):
    response = api_client.post(reverse("api-token"), {"username": officer.email, "password": TEST_PASSWORD},
                               format="json")
    assert response.status_code == 200 and response.json()["token"]


def test_api_token_endpoint_is_throttled_after_repeated_failures(api_client, officer, settings):
    settings.AXES_FAILURE_LIMIT = 3
    url = reverse("api-token")
    statuses = [api_client.post(url, {"username": officer.email, "password": "wrong-password-1"},
                                format="json").status_code for _ in range(4)]
    assert statuses[0] == 400
    locked = api_client.post(url, {"username": officer.email, "password": TEST_PASSWORD}, format="json")
    assert locked.status_code == 429, (statuses, locked.status_code, locked.content[:300])
    assert "token" not in locked.content.decode()


# --- Sessions and passwords --------------------------------------------------------------------------

def test_staff_sessions_end_with_the_browser_customers_keep_theirs(client, make_user, settings):
    officer = make_user(Role.LOAN_OFFICER)
    _log_in(client, officer)
    response = client.get(reverse("staff_home"))
    cookie = response.cookies.get(settings.SESSION_COOKIE_NAME)
    assert cookie is not None and not cookie["expires"] and not cookie["max-age"]
    assert client.session.get_expire_at_browser_close()
    assert client.session.get_expiry_age() == settings.SESSION_COOKIE_AGE

    client.logout()
    customer = make_user(Role.CUSTOMER)
    login = _log_in(client, customer)
    cookie = login.cookies.get(settings.SESSION_COOKIE_NAME)
    assert cookie is not None and int(cookie["max-age"]) == settings.SESSION_COOKIE_AGE
    assert not client.session.get_expire_at_browser_close()


def test_sessions_expire_on_the_server(client, customer, settings):
    settings.SESSION_COOKIE_AGE = 60 * 60 * 8
    assert 0 < settings.SESSION_COOKIE_AGE <= 60 * 60 * 12
    _log_in(client, customer)
    session = client.session
    session.set_expiry(-1)  # as if SESSION_COOKIE_AGE had passed
    session.save()
    response = client.get(reverse("portal:account"))
    assert response.status_code == 302 and reverse("login") in response["Location"]


@pytest.mark.parametrize("password", ["short-9", "1234567890123", "password1234", "qwertyuiop"])
def test_password_policy_refuses_weak_passwords(password):
    with pytest.raises(ValidationError):
        validate_password(password)


def test_password_policy_accepts_a_long_unusual_password():
    validate_password("correct-horse-battery-9")
