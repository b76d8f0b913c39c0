"""Sign-up, login by e-mail, logout, password reset, throttling and role access."""

import re

import pytest
from django.core import mail
from django.urls import reverse

from customers.models import AuditEvent, User
from customers.roles import Role
from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db


def test_sign_up_creates_a_customer_by_the_mailed_link_and_logs_in(client):
    response = client.post(reverse("sign_up"), {
        "full_name": "Zhao Lei", "email": "Zhao.Lei@Example.com", "password1": "a-long-pass-phrase-1",
        "password2": "a-long-pass-phrase-1", "preferred_language": "zh-hans",
    })
    assert response.status_code == 302 and response["Location"] == reverse("sign_up_done")
    assert not User.objects.filter(email="zhao.lei@example.com").exists()  # not before the link
    link = re.search(r"https?://[^/\s]+(/accounts/sign-up/confirm/\S+)", mail.outbox[0].body).group(1)
    assert mail.outbox[0].to == ["zhao.lei@example.com"]
    response = client.post(link)
    assert response.status_code == 302
    user = User.objects.get(email="zhao.lei@example.com")
    assert user.has_role(Role.CUSTOMER) and not user.is_staff_member
    assert user.preferred_language == "zh-hans"
    assert int(client.session["_auth_user_id"]) == user.pk
    assert AuditEvent.objects.filter(action="user.sign_up", target_id=str(user.pk)).exists()


def test_sign_up_rejects_bad_input_and_names_the_field(client, customer):
    response = client.post(reverse("sign_up"), {
        "full_name": "", "email": "not-an-address", "password1": "short", "password2": "other",
        "preferred_language": "en",
    })
    assert response.status_code == 200
    form = response.context["form"]
    assert set(form.errors) >= {"full_name", "email", "password2"}
    assert User.objects.count() == 1


def test_weak_password_is_refused(client):
    response = client.post(reverse("sign_up"), {
        "full_name": "A B", "email": "ab@example.com", "password1": "12345678901", "password2": "12345678901",
        "preferred_language": "en",
    })
    assert "password1" in response.context["form"].errors
    assert not User.objects.filter(email="ab@example.com").exists()


def test_login_by_email_and_logout(client, customer):
    response = client.post(reverse("login"), {"username": customer.email.upper(), "password": TEST_PASSWORD})
    assert response.status_code == 302
    assert int(client.session["_auth_user_id"]) == customer.pk
    client.post(reverse("logout"))
    assert "_auth_user_id" not in client.session


def test_password_reset_sends_a_working_link(client, customer):
    client.post(reverse("password_reset"), {"email": customer.email})
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/]+(/accounts/reset/\S+)", mail.outbox[0].body).group(1)
    response = client.get(link, follow=True)
    assert response.status_code == 200 and response.context["validlink"]
    form_url = response.redirect_chain[-1][0]
    client.post(form_url, {"new_password1": "brand-new-secret-77", "new_password2": "brand-new-secret-77"})
    customer.refresh_from_db()
    assert customer.check_password("brand-new-secret-77")


def test_login_is_throttled_after_repeated_failures(client, customer, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": customer.email, "password": "wrong"})
    response = client.post(reverse("login"), {"username": customer.email, "password": TEST_PASSWORD})
    assert response.status_code == 429
    assert b"Too many failed log-in attempts" in response.content
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("role", [Role.LOAN_OFFICER, Role.APPROVER, Role.COLLECTOR, Role.MANAGER, Role.ADMIN])
def test_staff_roles_open_the_staff_home(make_user, client_for, role):
    response = client_for(make_user(role)).get(reverse("staff_home"))
    assert response.status_code == 200


def test_customer_can_never_open_a_staff_page(customer, client_for):
    client = client_for(customer)
    response = client.get(reverse("staff_home"))
    assert response.status_code == 403
    assert b"You cannot open this page" in response.content
    assert client.get(reverse("admin:index")).status_code == 302  # admin login, not the admin


def test_anonymous_is_sent_to_login_from_staff_pages(client):
    response = client.get(reverse("staff_home"))
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_api_me_with_token_auth(api_client, officer):
    from tests.conftest import totp_code, totp_device_for

    response = api_client.post(reverse("api-token"), {"username": officer.email, "password": TEST_PASSWORD,
                                                      "otp_token": totp_code(totp_device_for(officer))}, format="json")
    assert response.status_code == 200, response.content
    token = response.json()["token"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    me = api_client.get(reverse("api-me")).json()
    assert me["email"] == officer.email and me["roles"] == ["loan_officer"]


def test_api_requires_authentication(api_client):
    assert api_client.get(reverse("api-me")).status_code in (401, 403)


def test_seed_demo_is_idempotent_and_covers_every_role(db):
    from django.core.management import call_command

    call_command("seed_demo", customers=0)
    first = User.objects.count()
    call_command("seed_demo", customers=0)
    assert User.objects.count() == first
    from installments.models import KpiSnapshot

    assert KpiSnapshot.objects.exists()  # the manager's dashboard has figures from the first page view
    for role in Role:
        assert User.objects.filter(groups__name=role.value).exists(), role
