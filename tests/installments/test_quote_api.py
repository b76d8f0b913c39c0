"""POST /api/v1/quotes/: public, throttled, exact -- the same numbers as build_schedule -- and every
bad input answered with 400 naming the field."""

import uuid
from datetime import date
from decimal import Decimal

import pytest
from django.core.cache.backends.locmem import LocMemCache

from installments.api import QuoteThrottle
from installments.engine.schedules import PlanTerms, build_schedule, schedule_to_dict

URL = "/api/v1/quotes/"
D = Decimal


@pytest.fixture(autouse=True)
def own_throttle_cache(monkeypatch):
    """Each test starts with an empty quote budget (the real cache may be a shared Redis)."""
    monkeypatch.setattr(QuoteThrottle, "cache", LocMemCache(f"quote-tests-{uuid.uuid4()}", {}))


def quote(api_client, **changes):
    body = {"amount": "12000", "annual_interest_rate": "12", "term_months": 12, "method": "annuity",
            "disbursement_date": "2026-01-15", **changes}
    return api_client.post(URL, body, format="json")


def test_a_quote_needs_no_login_and_matches_build_schedule_exactly(api_client):
    response = quote(api_client, upfront_fee="120", monthly_fee="5", first_due_date="2026-03-01", due_day=1)
    assert response.status_code == 200, response.json()
    expected = schedule_to_dict(build_schedule(PlanTerms(
        amount=D("12000"), annual_rate=D("12"), term=12, method="annuity", disbursement_date=date(2026, 1, 15),
        first_due_date=date(2026, 3, 1), due_day=1, upfront_fee=D("120"), monthly_fee=D("5"))))
    body = response.json()
    assert body["installments"] == expected["installments"]
    for key in ("total_interest", "total_fees", "total_payable", "apr", "effective_annual_rate", "amount_financed",
                "net_disbursed"):
        assert body[key] == expected[key], key
    assert body["currency"] == "CNY"
    first = body["installments"][0]
    assert set(first) == {"number", "due_date", "principal", "interest", "fee", "payment", "balance"}
    assert all(isinstance(first[k], str) for k in ("principal", "interest", "fee", "payment", "balance"))


def test_the_textbook_mortgage_first_installments(api_client):
    annuity = quote(api_client, amount="100000", annual_interest_rate="4.9", term_months=360)
    equal_principal = quote(api_client, amount="100000", annual_interest_rate="4.9", term_months=360,
                            method="equal_principal")
    assert annuity.json()["installments"][0]["payment"] == "530.73"
    assert equal_principal.json()["installments"][0]["payment"] == "686.11"
    assert annuity.json()["apr"] == "4.90" and len(annuity.json()["installments"]) == 360


@pytest.mark.parametrize("method, params", [
    ("equal_principal", {}),
    ("flat", {"annual_interest_rate": "6"}),
    ("interest_only", {}),
    ("balloon", {"balloon_amount": "3000"}),
    ("step_up", {"step_count": 2, "step_ratio": "1.5"}),
    ("seasonal", {"seasonal_months": [1, 2], "seasonal_factor": "0"}),
    ("combination", {"lump_sum_share": "0.25"}),
    ("zero_interest", {"annual_interest_rate": "0", "monthly_fee": "40"}),
    ("custom", {"custom_payments": ["2000"] * 5 + [None], "term_months": 6}),
    ("annuity", {"principal_grace_periods": 2, "interest_grace_periods": 1, "interest_grace_mode": "waive"}),
    ("annuity", {"installment_multiple": "10", "day_count": "actual/365"}),
])
def test_every_plan_type_quotes_with_its_own_parameters(api_client, method, params):
    response = quote(api_client, method=method, **params)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["method"] == method
    assert sum(D(row["principal"]) for row in body["installments"]) == D(body["amount_financed"])


def test_a_weekly_quote_counts_weeks_in_the_months(api_client):
    body = quote(api_client, frequency="weekly").json()
    assert len(body["installments"]) == 52 and body["frequency"] == "weekly"


@pytest.mark.parametrize("changes, field", [
    ({"amount": "-100"}, "amount"),
    ({"amount": "0"}, "amount"),
    ({"amount": "100.001"}, "amount"),
    ({"term_months": 0}, "term_months"),
    ({"method": "payday"}, "method"),
    ({"annual_interest_rate": "30"}, "annual_interest_rate"),
    ({"annual_interest_rate": "-1"}, "annual_interest_rate"),
    ({"day_count": "30/365"}, "day_count"),
    ({"disbursement_date": "yesterday"}, "disbursement_date"),
    ({"first_due_date": "2026-01-10"}, "first_due_date"),
    ({"method": "balloon"}, "balloon_amount"),
    ({"method": "balloon", "balloon_amount": "20000"}, "balloon_amount"),
    ({"method": "seasonal"}, "seasonal_months"),
    ({"method": "zero_interest"}, "annual_interest_rate"),
    ({"method": "custom", "custom_payments": ["100"] * 12}, "custom_payments"),
    ({"method": "custom", "custom_payments": ["2000"] * 11 + [None]}, "custom_payments"),
    ({"method": "custom", "custom_payments": ["100"] * 3}, "custom_payments"),
    ({"principal_grace_periods": 12}, "principal_grace_periods"),
    ({"upfront_fee": "12000"}, "upfront_fee"),
])
def test_bad_input_is_a_400_naming_the_field(api_client, changes, field):
    response = quote(api_client, **changes)
    assert response.status_code == 400
    assert field in response.json(), response.json()


def test_the_cap_is_on_the_apr_not_just_the_nominal_rate(api_client):
    # 20 % nominal is under the 24 % cap, but a 4 % upfront fee over 3 months is not.
    fine = quote(api_client, annual_interest_rate="20", term_months=3)
    too_dear = quote(api_client, annual_interest_rate="20", term_months=3, upfront_fee="480")
    assert fine.status_code == 200 and D(fine.json()["apr"]) <= 24
    assert too_dear.status_code == 400
    message = too_dear.json()["upfront_fee"][0]
    assert "APR" in message and "24" in message
    monthly = quote(api_client, annual_interest_rate="20", term_months=3, monthly_fee="200")
    assert monthly.status_code == 400 and "monthly_fee" in monthly.json()


def test_the_cap_follows_settings(api_client, settings):
    settings.INSTALLMENTS_LEGAL_MAX_APR = "36"
    assert quote(api_client, annual_interest_rate="30").status_code == 200


def test_quotes_are_throttled(api_client, monkeypatch):
    monkeypatch.setattr(QuoteThrottle, "THROTTLE_RATES", {"quotes": "2/min"})
    assert [quote(api_client).status_code for _ in range(3)] == [200, 200, 429]


def test_the_schema_describes_the_quote_request_and_response(api_client, db):
    schema = api_client.get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/quotes/"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("QuoteRequest")
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("Schedule")
    request = schema["components"]["schemas"]["QuoteRequest"]
    assert {"amount", "annual_interest_rate", "term_months", "method", "disbursement_date"} <= set(request["required"])
    assert "installments" in schema["components"]["schemas"]["Schedule"]["properties"]
    assert "/api/v1/offers/" in schema["paths"] and "/api/v1/products/" in schema["paths"]
