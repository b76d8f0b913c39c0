"""Two-factor authentication (TOTP) for the roles in TWO_FACTOR_ROLES, enrolment links, staff
session expiry, password policy and login throttling on the login page and the API token endpoint."""

import time

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core import signing
from django.core.exceptions import ValidationError
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from customers import two_factor
from customers.models import AuditEvent
from customers.roles import Role
from tests.conftest import totp_code, totp_device_for
from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db


def _log_in(client, user):
    return client.post(reverse("login"), {"username": user.email, "password": TEST_PASSWORD})


def _path(link: str) -> str:
    return link.split("testserver", 1)[-1] if "testserver" in link else link[link.index("/accounts/"):]


def _issue(user, by=None) -> str:
    return _path(two_factor.enrolment_link_issue(user=user, by=by))


def test_every_staff_role_needs_two_factor_by_default(settings):
    assert {"loan_officer", "approver", "manager", "admin"} <= set(settings.TWO_FACTOR_ROLES)


@pytest.mark.parametrize("role", [Role.LOAN_OFFICER, Role.MANAGER, Role.APPROVER, Role.ADMIN, Role.COLLECTOR])
def test_staff_role_is_sent_to_setup_and_enrols_only_with_a_link_then_verifies(client, make_user, role):
    user = make_user(role)
    _log_in(client, user)
    response = client.get(reverse("staff_home"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("two_factor_setup"))

    # The password alone: no QR code, no secret, "ask an admin for an enrolment link"; a code is refused.
    page = client.get(response["Location"])
    assert page.status_code == 200 and b"Ask an admin for an enrolment link" in page.content
    assert b"<svg" not in page.content and b"otpauth://" not in page.content
    assert not TOTPDevice.objects.filter(user=user).exists()
    refused = client.post(reverse("two_factor_setup"), {"otp_token": "123456"})
    assert refused.status_code == 403 and not TOTPDevice.objects.filter(user=user).exists()
    assert AuditEvent.objects.filter(actor=user, action="user.two_factor_enrol_refused").exists()
    assert client.get(reverse("staff_home")).status_code == 302

    # An administrator's link: the QR code, then the first code confirms the device.
    link = client.get(_issue(user))
    assert link.status_code == 302 and link["Location"].startswith(reverse("two_factor_setup"))
    page = client.get(reverse("two_factor_setup"))
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
    for action in ("user.two_factor_link_issue", "user.two_factor_link_use", "user.two_factor_enrol",
                   "user.two_factor_failure"):
        assert AuditEvent.objects.filter(action=action, target_id=str(user.pk)).exists(), action

    # The next sign-in asks for a code again (verify, not setup).
    client.logout()
    _log_in(client, user)
    response = client.get(reverse("staff_home"))
    assert response["Location"].startswith(reverse("two_factor_verify"))
    device = totp_device_for(user)
    assert client.post(reverse("two_factor_verify"), {"otp_token": totp_code(device)}).status_code == 302
    assert client.get(reverse("staff_home")).status_code == 200
    assert AuditEvent.objects.filter(actor=user, action="user.two_factor_verify").exists()


def test_a_used_link_is_refused_and_so_is_one_after_enrolment(client, officer):
    link = _issue(officer)
    _log_in(client, officer)
    assert client.get(link).status_code == 302
    again = client.get(link)
    assert again.status_code == 403 and b"Enrolment link not valid" in again.content
    # The session that opened it may enrol; once it has, the grant is spent too.
    client.get(reverse("two_factor_setup"))
    device = TOTPDevice.objects.get(user=officer, confirmed=False)
    assert client.post(reverse("two_factor_setup"), {"otp_token": totp_code(device)}).status_code == 302
    assert client.get(link).status_code == 403
    assert AuditEvent.objects.filter(action="user.two_factor_link_refused", target_id=str(officer.pk)).count() == 2


def test_an_unused_link_dies_once_a_device_is_confirmed_or_a_newer_link_is_issued(client, officer):
    first = _issue(officer)
    second = _issue(officer)
    _log_in(client, officer)
    assert client.get(first).status_code == 403  # replaced by the newer one
    other = _issue(officer)
    totp_device_for(officer)  # a device confirmed some other way (e.g. the first link on another browser)
    assert client.get(other).status_code == 403 and client.get(second).status_code == 403


def test_an_expired_link_is_refused(client, officer, settings, monkeypatch):
    real = time.time
    monkeypatch.setattr(signing.time, "time", lambda: real() - settings.TWO_FACTOR_ENROLMENT_LINK_TTL - 60)
    link = _issue(officer)
    monkeypatch.setattr(signing.time, "time", real)
    _log_in(client, officer)
    response = client.get(link)
    assert response.status_code == 403 and b"Enrolment link not valid" in response.content
    assert b"<svg" not in client.get(reverse("two_factor_setup")).content


def test_a_link_works_only_for_the_user_it_was_issued_to(client, officer, manager):
    link = _issue(officer)
    _log_in(client, manager)
    assert client.get(link).status_code == 403
    assert b"<svg" not in client.get(reverse("two_factor_setup")).content
    tampered = link.rstrip("/")[:-3] + "abc/"
    client.logout()
    _log_in(client, officer)
    assert client.get(tampered).status_code == 403


def test_a_link_needs_the_sign_in_first(client, officer):
    link = _issue(officer)
    response = client.get(link)
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_an_admin_issues_links_and_resets_two_factor_on_the_staff_page(client_for, make_user, client):
    admin, officer = make_user(Role.ADMIN), make_user(Role.LOAN_OFFICER)
    totp_device_for(officer)
    staff = client_for(admin)
    page = staff.post(reverse("two_factor_manage", args=[officer.pk]), {"action": "link"})
    assert page.status_code == 200 and b"/accounts/two-factor/enrol/" in page.content
    reset = staff.post(reverse("two_factor_manage", args=[officer.pk]), {"action": "reset", "reason": "lost phone"})
    assert reset.status_code == 302 and not TOTPDevice.objects.filter(user=officer).exists()
    event = AuditEvent.objects.get(action="user.two_factor_reset", target_id=str(officer.pk))
    assert event.actor == admin and event.reason == "lost phone"
    # Other staff may not.
    other = make_user(Role.MANAGER)
    client.logout()
    assert client_for(other).get(reverse("two_factor_manage", args=[officer.pk])).status_code == 403
    # After the reset the user enrols again, only with a new link.
    client.logout()
    _log_in(client, officer)
    assert b"<svg" not in client.get(reverse("two_factor_setup")).content
    assert client.get(_issue(officer, by=admin)).status_code == 302
    assert b"<svg" in client.get(reverse("two_factor_setup")).content


def test_the_admin_site_action_issues_links(client_for, make_user, settings):
    admin = make_user(Role.ADMIN, is_staff=True, is_superuser=True)
    officer = make_user(Role.LOAN_OFFICER)
    staff = client_for(admin)
    response = staff.post(reverse("admin:customers_user_changelist"),
                          {"action": "two_factor_links", "_selected_action": [officer.pk]})
    assert response.status_code == 200 and b"/accounts/two-factor/enrol/" in response.content
    totp_device_for(officer)
    staff.post(reverse("admin:customers_user_changelist"),
               {"action": "two_factor_reset", "_selected_action": [officer.pk]})
    assert not TOTPDevice.objects.filter(user=officer).exists()


def test_a_verified_user_replaces_the_authenticator_with_the_existing_factor(client_for, officer):
    old = totp_device_for(officer)
    client = client_for(officer)
    assert client.post(reverse("two_factor_account"), {"action": "replace"}).status_code == 302
    assert b"<svg" in client.get(reverse("two_factor_setup")).content
    new = TOTPDevice.objects.get(user=officer, confirmed=False)
    assert client.post(reverse("two_factor_setup"), {"otp_token": totp_code(new)}).status_code == 302
    assert list(TOTPDevice.objects.filter(user=officer).values_list("pk", flat=True)) == [new.pk]
    assert not TOTPDevice.objects.filter(pk=old.pk).exists()


def test_a_customer_may_turn_two_factor_on_and_is_asked_for_the_code_after(client, customer):
    _log_in(client, customer)
    page = client.get(reverse("two_factor_setup"))
    assert page.status_code == 200 and b"<svg" in page.content  # no link needed for one's own customer account
    device = TOTPDevice.objects.get(user=customer, confirmed=False)
    assert client.post(reverse("two_factor_setup"), {"otp_token": totp_code(device)}).status_code == 302
    assert client.get(reverse("portal:account")).status_code == 200
    client.logout()
    _log_in(client, customer)
    response = client.get(reverse("portal:account"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("two_factor_verify"))
    device = totp_device_for(customer)
    assert client.post(reverse("two_factor_verify"), {"otp_token": totp_code(device)}).status_code == 302
    assert client.get(reverse("portal:account")).status_code == 200


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


def test_roles_outside_the_list_need_no_second_factor(client, make_user, settings):
    customer = make_user(Role.CUSTOMER)
    _log_in(client, customer)
    assert client.get(reverse("portal:account")).status_code == 200
    client.logout()
    settings.TWO_FACTOR_ROLES = ["approver", "admin"]
    officer = make_user(Role.LOAN_OFFICER)
    _log_in(client, officer)
    assert client.get(reverse("staff_home")).status_code == 200


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


def test_api_token_for_other_roles_needs_only_the_password(api_client, customer):
    response = api_client.post(reverse("api-token"), {"username": customer.email, "password": TEST_PASSWORD},
                               format="json")
    assert response.status_code == 200 and response.json()["token"] and response.json()["expiry"]


@pytest.mark.parametrize("role", [Role.LOAN_OFFICER, Role.MANAGER])
def test_api_token_for_officers_and_managers_needs_a_valid_code_now(api_client, make_user, role):
    user = make_user(role)
    url = reverse("api-token")
    no_device = api_client.post(url, {"username": user.email, "password": TEST_PASSWORD}, format="json")
    assert no_device.status_code == 400 and "otp_token" in no_device.json()
    device = totp_device_for(user)
    no_code = api_client.post(url, {"username": user.email, "password": TEST_PASSWORD}, format="json")
    assert no_code.status_code == 400 and "otp_token" in no_code.json()
    ok = api_client.post(url, {"username": user.email, "password": TEST_PASSWORD, "otp_token": totp_code(device)},
                         format="json")
    assert ok.status_code == 200, ok.content


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
