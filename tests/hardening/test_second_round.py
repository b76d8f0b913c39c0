"""Second outside test: lock-out by letter case, open redirects, hostile input giving 500s, JSON API
errors in production, and password-reset mail floods. Issue #19: sign-up that answers the same for
known and unknown addresses (finding 8) and debug pages only for the developer's machine (finding 9)."""

import json
import re

import pytest
from django.core import mail
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from customers.models import AuditEvent, StatementSummary, User
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


# --- 5. Sign-up answers the same for known and unknown addresses (issue #19, finding 8) ------------------

SIGN_UP = {"full_name": "Li Na", "password1": "a-long-pass-phrase-1", "password2": "a-long-pass-phrase-1",
           "preferred_language": "en"}
CONFIRM_LINK = re.compile(r"https?://[^/\s]+(/accounts/sign-up/confirm/\S+)")


def _sign_up(client, email: str, **extra):
    return client.post(reverse("sign_up"), {**SIGN_UP, "email": email, **extra})


def _page_text(response) -> str:
    """A page without its per-request parts (the masked CSRF tokens, 64 letters and digits)."""
    return re.sub(r"\b[A-Za-z0-9]{64}\b", "<csrf>", response.content.decode())


def test_sign_up_answers_the_same_for_a_known_and_an_unknown_address(account, monkeypatch):
    from customers import services

    hashed = []
    real_make_password = services.make_password
    monkeypatch.setattr(services, "make_password", lambda raw: hashed.append(raw) or real_make_password(raw))
    users_before = set(User.objects.values_list("pk", flat=True))
    answers = {}
    for email in ("USER@example.org", "newcomer@example.org"):  # the first has an account (any letter case)
        client = Client()
        response = _sign_up(client, email)
        done = client.get(response["Location"])
        answers[email] = (response.status_code, response["Location"], done.status_code, _page_text(done),
                          sorted(client.cookies.keys()))
    assert answers["USER@example.org"] == answers["newcomer@example.org"]
    assert answers["newcomer@example.org"][:3] == (302, reverse("sign_up_done"), 200)
    assert "Check your e-mail" in answers["newcomer@example.org"][3]
    assert len(hashed) == 2  # both paths hash the password: no shortcut to time
    assert set(User.objects.values_list("pk", flat=True)) == users_before  # nothing stored before the link

    owner_mail, newcomer_mail = mail.outbox
    assert owner_mail.to == ["user@example.org"] and newcomer_mail.to == ["newcomer@example.org"]
    assert "already have an account" in owner_mail.body
    assert "/accounts/login/" in owner_mail.body and "/accounts/password_reset/" in owner_mail.body
    assert not CONFIRM_LINK.search(owner_mail.body)
    assert CONFIRM_LINK.search(newcomer_mail.body)
    assert SIGN_UP["password1"] not in newcomer_mail.body


def test_the_confirmation_link_creates_the_account_once(db):
    client = Client()
    _sign_up(client, "Newcomer@Example.org", preferred_language="zh-hans")
    link = CONFIRM_LINK.search(mail.outbox[0].body).group(1)
    assert "确认" in mail.outbox[0].subject  # in the language chosen on the form
    page = client.get(link)
    assert page.status_code == 200 and b"newcomer@example.org" in page.content and b"sign-up-confirm" in page.content
    assert not User.objects.filter(email="newcomer@example.org").exists()  # opening the link creates nothing

    response = client.post(link)
    assert response.status_code == 302 and response["Location"] == reverse("home")
    user = User.objects.get(email="newcomer@example.org")
    assert int(client.session["_auth_user_id"]) == user.pk
    assert user.has_role(Role.CUSTOMER) and user.full_name == "Li Na" and user.preferred_language == "zh-hans"
    assert user.check_password(SIGN_UP["password1"])
    assert AuditEvent.objects.filter(action="user.sign_up", target_id=str(user.pk)).count() == 1

    again = Client()
    assert b"sign-up-confirm" not in again.get(link).content
    used = again.post(link)
    assert used.status_code == 200 and "_auth_user_id" not in again.session
    assert User.objects.filter(email="newcomer@example.org").count() == 1
    assert AuditEvent.objects.filter(action="user.sign_up", target_id=str(user.pk)).count() == 1


def test_a_damaged_or_old_confirmation_link_creates_nothing(db, settings):
    client = Client()
    _sign_up(client, "late@example.org")
    link = CONFIRM_LINK.search(mail.outbox[0].body).group(1)
    damaged = link.rstrip("/")[:-3] + "abc/"
    for target in (damaged, "/accounts/sign-up/confirm/not-a-token/"):
        assert client.get(target).status_code == 200
        assert client.post(target).status_code == 200
    settings.SIGN_UP_LINK_MAX_AGE = -1  # every link is too old
    assert client.post(link).status_code == 200
    assert not User.objects.filter(email="late@example.org").exists()


def test_two_sign_ups_cannot_take_over_an_address(db):
    """Someone who signs up with another person's address gets no link: it goes to the mailbox."""
    attacker = Client()
    _sign_up(attacker, "victim@example.org", password1="attacker-pass-phrase-1", password2="attacker-pass-phrase-1")
    assert not User.objects.filter(email="victim@example.org").exists()
    assert mail.outbox[0].to == ["victim@example.org"]


def test_sign_up_mails_are_throttled(account, settings):
    settings.SIGN_UP_MAILS_PER_EMAIL = 3
    pages = [_sign_up(Client(), "user@example.org") for _ in range(6)]
    pages += [_sign_up(Client(), "someone.new@example.org") for _ in range(6)]
    assert {p.status_code for p in pages} == {302} and {p["Location"] for p in pages} == {reverse("sign_up_done")}
    assert len(mail.outbox) == 6
    settings.SIGN_UP_MAILS_PER_IP = 2
    for n in range(4):
        _sign_up(Client(REMOTE_ADDR="203.0.113.20"), f"fresh{n}@example.org")
    assert len(mail.outbox) == 8


def test_the_owner_is_told_in_their_language(db):
    UserFactory(roles=[Role.CUSTOMER], email="wang@example.org", preferred_language="zh-hans")
    _sign_up(Client(), "wang@example.org")
    assert "注册" in mail.outbox[0].subject and "/accounts/password_reset/" in mail.outbox[0].body


# --- 6. The debug pages only for the developer's own machine (issue #19, finding 9) -----------------------

@pytest.fixture
def failing_home(monkeypatch):
    from config import views

    monkeypatch.setattr(views, "render", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom secret")))


def test_with_debug_on_a_remote_client_gets_the_friendly_500(settings, failing_home):
    settings.DEBUG = True
    for client in (Client(REMOTE_ADDR="203.0.113.7", raise_request_exception=False),
                   Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.7", raise_request_exception=False)):
        response = client.get(reverse("home"))
        body = response.content.decode()
        assert response.status_code == 500
        assert "boom secret" not in body and "Traceback" not in body and "SECRET_KEY" not in body
        assert "Something went wrong" in body
    local = Client(REMOTE_ADDR="127.0.0.1", raise_request_exception=False).get(reverse("home"))
    assert local.status_code == 500 and "boom secret" in local.content.decode()  # the developer's traceback


def test_with_debug_on_a_remote_client_gets_no_url_list(settings, db):
    settings.DEBUG = True
    remote = Client(REMOTE_ADDR="203.0.113.7").get("/no-such-page-here/")
    assert remote.status_code == 404
    assert "URLconf" not in remote.content.decode() and "DEBUG = True" not in remote.content.decode()
    api = Client(REMOTE_ADDR="203.0.113.7").get("/api/v1/no-such-endpoint/")
    assert api.status_code == 404 and api.json() == {"detail": "Not found."}
    local = Client(REMOTE_ADDR="127.0.0.1").get("/no-such-page-here/")
    assert local.status_code == 404 and "URLconf" in local.content.decode()


def test_with_debug_on_a_remote_api_error_is_json(settings, monkeypatch, db):
    from installments.origination import applications as services

    settings.DEBUG = True
    monkeypatch.setattr(services, "quote_build", lambda **kw: (_ for _ in ()).throw(RuntimeError("boom secret")))
    response = APIClient(REMOTE_ADDR="203.0.113.7", raise_request_exception=False).post(
        reverse("api-quotes"), QUOTE, format="json")
    assert response.status_code == 500 and response.json() == {"detail": "Server error."}


def test_debug_refuses_host_names_that_are_not_local():
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings'); django.setup()"
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "ALLOWED_HOSTS", "DJANGO_SETTINGS_MODULE")}
    repo = Path(__file__).resolve().parents[2]
    for hosts, ok in (("lend.example.com", False), ("*", False), ("127.0.0.1,localhost", True)):
        result = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, timeout=120,
                                env={**env, "DEBUG": "1", "ALLOWED_HOSTS": hosts})
        assert (result.returncode == 0) is ok, (hosts, result.stderr[-500:])
        if not ok:
            assert "ALLOWED_HOSTS" in result.stderr
