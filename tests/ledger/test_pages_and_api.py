"""The books' pages and API: manager and accountant read them, customers and loan officers get 403,
a bad date is a JSON error naming the parameter."""

from datetime import date

import pytest
from django.urls import reverse

from collections_app.ledger import services
from collections_app.ledger.models import EventType

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def entries(chart):
    services.journal_post(value_date=date(2026, 3, 1), event_type=EventType.DISBURSEMENT,
                          lines=[("1101", "500.00", 0, None), ("1001", 0, "500.00", None)])
    services.journal_post(value_date=date(2026, 3, 9), event_type=EventType.UPFRONT_FEE,
                          lines=[("1103", "12.50", 0, None), ("4102", 0, "12.50", None)])


@pytest.mark.parametrize("role", ["manager", "accountant"])
def test_finance_roles_open_the_pages(request, client_for, role):
    client = client_for(request.getfixturevalue(role))
    page = client.get(reverse("collections:books_trial_balance"), {"on": "2026-03-31"})
    assert page.status_code == 200
    assert b"512.50" in page.content and b"1101" in page.content
    ledger = client.get(reverse("collections:books_account", args=["1101"]), {"from": "2026-03-01"})
    assert ledger.status_code == 200 and b"500.00" in ledger.content
    assert client.get(reverse("collections:books_account", args=["0000"])).status_code == 404


def test_page_with_a_bad_date_says_so(client_for, manager):
    page = client_for(manager).get(reverse("collections:books_trial_balance"), {"on": "31/03/2026"})
    assert page.status_code == 400 and b"is-invalid" in page.content


@pytest.mark.parametrize("role", ["customer", "officer"])
def test_other_roles_are_refused_pages_and_api(request, client_for, api_client, role):
    user = request.getfixturevalue(role)
    client = client_for(user)
    assert client.get(reverse("collections:books_trial_balance")).status_code == 403
    assert client.get(reverse("collections:books_account", args=["1101"])).status_code == 403
    api_client.force_authenticate(user)
    assert api_client.get(reverse("api-books-trial-balance")).status_code == 403
    assert api_client.get(reverse("api-books-journal-lines")).status_code == 403


def test_anonymous_is_sent_to_login_and_refused_by_the_api(client, api_client):
    assert client.get(reverse("collections:books_trial_balance")).status_code == 302
    assert api_client.get(reverse("api-books-trial-balance")).status_code in (401, 403)


@pytest.mark.parametrize("role", ["manager", "accountant"])
def test_api_trial_balance_and_journal_lines(request, api_client, role):
    api_client.force_authenticate(request.getfixturevalue(role))
    body = api_client.get(reverse("api-books-trial-balance"), {"on": "2026-03-05"}).json()
    assert body["on"] == "2026-03-05" and body["is_balanced"] is True
    assert body["total_debits"] == body["total_credits"] == "500.00"
    lines = api_client.get(reverse("api-books-journal-lines"),
                           {"from": "2026-03-01", "to": "2026-03-31", "account": "1103"}).json()
    assert lines["count"] == 1
    line = lines["results"][0]
    assert (line["account"], line["debit"], line["credit"], line["event_type"]) == (
        "1103", "12.50", "0.00", "upfront_fee")


@pytest.mark.parametrize(("url", "params", "field"), [
    ("api-books-trial-balance", {"on": "2026-13-01"}, "on"),
    ("api-books-journal-lines", {"from": "yesterday"}, "from"),
    ("api-books-journal-lines", {"to": "2026/03/01"}, "to"),
    ("api-books-journal-lines", {"from": "2026-03-02", "to": "2026-03-01"}, "to"),
    ("api-books-journal-lines", {"account": "9999"}, "account"),
])
def test_api_bad_parameter_is_a_json_error_naming_it(api_client, manager, url, params, field):
    api_client.force_authenticate(manager)
    answer = api_client.get(reverse(url), params)
    assert answer.status_code == 400
    assert field in answer.json()


def test_schema_describes_the_books_api(client):
    schema = client.get(reverse("api-schema"), {"format": "json"})
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/books/trial-balance/" in paths and "/api/v1/books/journal-lines/" in paths


def test_accountant_reaches_the_books_from_the_staff_home(client_for, accountant):
    home = client_for(accountant).get(reverse("staff_home"))
    assert home.status_code == 200
    assert reverse("collections:books_trial_balance").encode() in home.content
