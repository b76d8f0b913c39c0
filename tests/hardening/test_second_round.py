"""Second outside test: lock-out by letter case, open redirects, hostile input giving 500s, JSON API
errors in production, and password-reset mail floods."""

import json

import pytest
from django.core import mail
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from customers.models import StatementSummary
from customers.roles import Role
from tests.factories import TEST_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

EVIL = "https://evil.example/"
requires_postgres = pytest.mark.skipif(connection.vendor != "postgresql",
                                       reason="SQLite stores a NUL byte; needs PostgreSQL (CI sets DATABASE_URL)")


@pytest.fixture(autouse=True)
def _own_cache(settings):
    """A private cache per test: the reset counters start at zero and a shared Redis is never flushed."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": "second-round"}}
    yield
    cache.clear()


# --- 1. Lock-out counts the e-mail, whatever its letter case --------------------------------------------

@pytest.fixture
def account(db):
    return UserFactory(roles=[Role.CUSTOMER], email="user@example.org")


def test_web_lockout_cannot_be_bypassed_by_letter_case(account):
    client = Client()
    url = reverse("login")
    for _ in range(5):
        client.post(url, {"username": "user@example.org", "password": "wrong-password-1"})
    for variant in ("USER@EXAMPLE.ORG", "User@Example.org", " user@example.org "):
        response = client.post(url, {"username": variant, "password": TEST_PASSWORD})
        assert "_auth_user_id" not in client.session, variant
        assert response.status_code in (403, 429), (variant, response.status_code)


def test_api_lockout_cannot_be_bypassed_by_letter_case(account):
    client = APIClient()
    url = reverse("api-token")
    for _ in range(5):
        client.post(url, {"username": "USER@example.org", "password": "wrong-password-1"}, format="json")
    response = client.post(url, {"username": "user@EXAMPLE.org", "password": TEST_PASSWORD}, format="json")
    assert response.status_code == 429, response.content
    assert "token" not in response.json()


# --- 2. Redirect targets from request data stay on this site --------------------------------------------

def test_deciding_a_request_never_redirects_off_site(world, client_for):
    request_pk = world.a.ids("request")[0]
    client = client_for(world.users["manager"])
    url = reverse("collections:staff_request_decide", args=[request_pk])
    for target in (EVIL, "//evil.example/", "\\\\evil.example"):
        response = client.post(url, {f"r{request_pk}-decision": "reject", "next": target})
        assert response.status_code == 302
        assert response["Location"] == reverse("collections:staff_requests"), target
    response = client.post(url, {f"r{request_pk}-decision": "reject", "next": "/servicing/staff/plans/"})
    assert response["Location"] == "/servicing/staff/plans/"


def test_assignment_from_the_queue_never_redirects_off_site(world, client_for):
    from installments.models import Application

    application = Application.objects.filter(customer=world.a.user).order_by("pk").first()
    client = client_for(world.users["manager"])
    response = client.post(reverse("workbench_assign", args=[application.pk]),
                           {"context": "queue", "next": EVIL, "officer": world.users["officer"].pk})
    assert response.status_code == 302 and "evil.example" not in response["Location"]


def test_two_factor_and_dashboard_never_redirect_off_site(world, client_for):
    client = client_for(world.users["manager"])
    response = client.post(reverse("dashboard:refresh"), {"next": EVIL})
    assert response.status_code == 302 and "evil.example" not in response["Location"]
    response = client_for(world.users["admin"]).get(reverse("two_factor_verify"), {"next": EVIL})
    assert "evil.example" not in response.get("Location", "")


# --- 3. Hostile input answers 400 naming the field ---------------------------------------------------

HUGE_AMOUNT_CSV = (b"date,description,amount,balance\n2025-01-05,salary,1234567890123456789,100\n"
                   b"2025-02-05,salary,100,200\n")


def test_a_huge_statement_amount_is_refused_on_the_page(world, client_for):
    client = client_for(world.a.user)
    before = StatementSummary.objects.filter(profile=world.a.profile).count()
    response = client.post(reverse("profile_statement_upload"), {"file": SimpleUploadedFile("s.csv", HUGE_AMOUNT_CSV)})
    assert response.status_code in (200, 400)
    assert "is not an amount" in response.content.decode()
    assert StatementSummary.objects.filter(profile=world.a.profile).count() == before


def test_a_huge_statement_amount_is_refused_by_the_api(world):
    client = APIClient()
    client.force_authenticate(world.a.user)
    before = StatementSummary.objects.filter(profile=world.a.profile).count()
    response = client.post(reverse("api-profile-statements"),
                           {"file": SimpleUploadedFile("s.csv", HUGE_AMOUNT_CSV)}, format="multipart")
    assert response.status_code == 400, response.content
    assert "is not an amount" in json.dumps(response.json())
    assert StatementSummary.objects.filter(profile=world.a.profile).count() == before


QUOTE = {"amount": "1000", "annual_interest_rate": "12", "term_months": 360, "method": "annuity",
         "disbursement_date": "2025-01-01"}


@pytest.mark.parametrize("field, value", [("disbursement_date", "9999-12-31"), ("first_due_date", "9999-12-01"),
                                          ("disbursement_date", "0001-01-01")])
def test_a_quote_with_dates_off_the_calendar_is_refused(field, value):
    response = APIClient().post(reverse("api-quotes"), {**QUOTE, field: value}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()


@requires_postgres
@pytest.mark.parametrize("field", ["q", "state"])
def test_a_nul_byte_in_the_staff_plan_filters_is_refused(world, client_for, field):
    response = client_for(world.users["manager"]).get(reverse("collections:staff_plans"), {field: "a\x00b"})
    assert response.status_code == 400, response.status_code
    assert f"({field})" in response.content.decode()


@requires_postgres
@pytest.mark.parametrize("url_name, field", [("staff_customer_list", "q"), ("workbench_queue", "q"),
                                             ("collections:queue", "bucket")])
def test_a_nul_byte_in_other_staff_filters_is_ignored_by_their_filter_forms(world, client_for, url_name, field):
    response = client_for(world.users["manager"]).get(reverse(url_name), {field: "a\x00b"})
    assert response.status_code == 200, (url_name, response.status_code)


def test_staff_plan_filters_still_work(world, client_for):
    client = client_for(world.users["manager"])
    assert client.get(reverse("collections:staff_plans"), {"q": "x", "state": "active"}).status_code == 200
    assert client.get(reverse("collections:staff_plans"), {"state": "no-such-state"}).status_code == 400


def test_unhandled_api_errors_answer_json_in_production(settings, monkeypatch, world):
    from installments.origination import applications as services

    settings.DEBUG = False

    def boom(**kwargs):
        raise RuntimeError("unexpected")

    monkeypatch.setattr(services, "quote_build", boom)
    client = APIClient(raise_request_exception=False)
    response = client.post(reverse("api-quotes"), QUOTE, format="json")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("application/json") and response.json() == {"detail": "Server error."}
    missing = client.get("/api/v1/no-such-endpoint/")
    assert missing.status_code == 404 and missing["Content-Type"].startswith("application/json")
    page = Client(raise_request_exception=False).get("/no-such-page/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")


# --- 4. Password-reset mails are throttled per address and per client ---------------------------------

def test_password_reset_mails_are_throttled_per_address(account, settings):
    settings.PASSWORD_RESET_PER_EMAIL = 3
    client = Client()
    pages = [client.post(reverse("password_reset"), {"email": "User@Example.org"}) for _ in range(31)]
    assert len(mail.outbox) == 3
    assert {p.status_code for p in pages} == {302} and {p["Location"] for p in pages} == {reverse("password_reset_done")}


def test_password_reset_mails_are_throttled_per_client(db, settings):
    settings.PASSWORD_RESET_PER_IP = 10
    for n in range(12):
        UserFactory(roles=[Role.CUSTOMER], email=f"person{n}@example.org")
    client = Client(REMOTE_ADDR="203.0.113.9")
    for n in range(12):
        assert client.post(reverse("password_reset"), {"email": f"person{n}@example.org"}).status_code == 302
    assert len(mail.outbox) == 10
    Client(REMOTE_ADDR="203.0.113.10").post(reverse("password_reset"), {"email": "person11@example.org"})
    assert len(mail.outbox) == 11
