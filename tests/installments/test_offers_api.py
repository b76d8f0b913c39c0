"""POST /api/v1/offers/ (who may ask, for whom, stored or not), choosing through the API, the
application's offer list and the public product list."""

from decimal import Decimal

import pytest

from customers.roles import Role
from installments.demo import ensure_products
from installments.models import Application, Offer
from installments.origination import applications as services
from tests.factories import CustomerProfileFactory
from tests.installments.test_offer_services import give_finances, give_grade

URL = "/api/v1/offers/"
D = Decimal
pytestmark = pytest.mark.django_db


@pytest.fixture
def everyday():
    return {p.code: p for p in ensure_products()}["everyday"]


@pytest.fixture
def profile(customer):
    return give_finances(CustomerProfileFactory(user=customer))


def ask(client, **body):
    return client.post(URL, {"product": "everyday", "amount": "20000", "term_months": 12, **body}, format="json")


def as_user(api_client, user):
    api_client.force_authenticate(user)
    return api_client


def scored(customer, product, grade="C"):
    application = services.application_create(customer=customer, product=product, amount=D("20000"), term_months=12)
    services.application_transition(application=application, to=Application.State.SUBMITTED, by=customer)
    give_grade(application, grade)
    return services.application_transition(application=application, to=Application.State.SCORED, by=None)


def test_a_customer_gets_personalised_offers_for_themselves_and_nothing_is_stored(api_client, customer, profile,
                                                                                   everyday):
    response = ask(as_user(api_client, customer), target_monthly_payment="1800", income_pattern="seasonal",
                   low_income_months=[1, 2])
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["stored"] is False and body["application"] is None
    assert 1 <= len(body["offers"]) <= 5
    first = body["offers"][0]
    assert first["id"] is None and first["rank"] == 1 and first["labels"]
    assert first["explanation"] == first["explanation_en"]
    assert first["schedule"]["installments"][0]["payment"] and first["schedule"]["currency"] == "CNY"
    assert body["summary"]["pricing"]["grade"] == "D" and body["summary"]["pricing"]["default_grade_used"]
    assert not Offer.objects.exists()


def test_offers_speak_chinese_when_asked(api_client, customer, profile, everyday):
    api_client.force_authenticate(customer)
    body = api_client.post(URL, {"product": "everyday", "amount": "20000"}, format="json",
                           HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    assert body["offers"][0]["explanation"] == body["offers"][0]["explanation_zh"]


def test_the_latest_score_prices_a_customers_offers(api_client, customer, profile, everyday):
    scored(customer, everyday, grade="A")
    body = ask(as_user(api_client, customer)).json()
    assert body["summary"]["pricing"]["grade"] == "A"


def test_nothing_affordable_is_a_200_with_reasons_and_a_suggestion(api_client, customer, everyday):
    give_finances(CustomerProfileFactory(user=customer), income="8000", expenses="3000", debt="1500", savings="0")
    body = ask(as_user(api_client, customer), amount="50000").json()
    assert body["offers"] == []
    assert body["summary"]["reasons"][0]["code"] == "over_budget"
    assert body["summary"]["suggestion"]["term"] == 24


def test_an_officer_asks_on_a_customers_behalf(api_client, officer, profile, everyday):
    response = ask(as_user(api_client, officer), customer=profile.pk)
    assert response.status_code == 200 and response.json()["offers"]


def test_an_officer_must_name_the_customer(api_client, officer, everyday):
    response = ask(as_user(api_client, officer))
    assert response.status_code == 400 and "customer" in response.json()


def test_a_customer_cannot_ask_for_someone_elses_offers(api_client, customer, profile, make_user, everyday):
    other = CustomerProfileFactory(user=make_user(Role.CUSTOMER))
    assert ask(as_user(api_client, customer), customer=other.pk).status_code == 403


@pytest.mark.parametrize("role", [Role.COLLECTOR])
def test_roles_without_customer_files_cannot_ask(api_client, make_user, role, profile, everyday):
    assert ask(as_user(api_client, make_user(role)), customer=profile.pk).status_code == 403


def test_anonymous_users_cannot_ask(api_client, everyday):
    assert ask(api_client).status_code in (401, 403)


def test_with_an_application_the_offers_are_generated_and_stored(api_client, customer, profile, everyday):
    application = scored(customer, everyday)
    response = as_user(api_client, customer).post(URL, {"application": application.pk}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["stored"] is True and body["application"] == application.pk
    ids = [o["id"] for o in body["offers"]]
    assert ids and set(ids) == set(Offer.objects.filter(application=application).values_list("pk", flat=True))
    assert body["summary"]["offered"] == len(ids)


def test_someone_elses_application_is_not_found(api_client, customer, profile, make_user, everyday):
    other = make_user(Role.CUSTOMER)
    give_finances(CustomerProfileFactory(user=other))
    application = scored(other, everyday)
    response = as_user(api_client, customer).post(URL, {"application": application.pk}, format="json")
    assert response.status_code == 400 and "application" in response.json()
    assert not Offer.objects.exists()


@pytest.mark.parametrize("body, field", [
    ({"amount": "-5"}, "amount"),
    ({"amount": "999999"}, "amount"),
    ({"product": "nope"}, "product"),
    ({"term_months": 99}, "term_months"),
    ({"preferred_method": "payday"}, "preferred_method"),
    ({"low_income_months": [13]}, "low_income_months"),
    ({"count": 50}, "count"),
])
def test_bad_preferences_are_400s_naming_the_field(api_client, customer, profile, everyday, body, field):
    response = ask(as_user(api_client, customer), **body)
    assert response.status_code == 400 and field in response.json(), response.json()


def test_the_customer_chooses_through_the_api_and_sees_the_list(api_client, customer, profile, everyday):
    application = scored(customer, everyday)
    offers = services.application_offers_generate(application=application)
    client = as_user(api_client, customer)
    response = client.post(f"/api/v1/offers/{offers[1].pk}/choose/")
    assert response.status_code == 200 and response.json()["chosen_at"]
    listed = client.get(f"/api/v1/applications/{application.pk}/offers/").json()
    assert listed["count"] == len(offers) and listed["results"][0]["id"] == offers[1].pk


def test_others_cannot_choose_or_list(api_client, customer, profile, everyday, make_user, collector):
    application = scored(customer, everyday)
    offer = services.application_offers_generate(application=application)[0]
    stranger = as_user(api_client, make_user(Role.CUSTOMER))
    assert stranger.post(f"/api/v1/offers/{offer.pk}/choose/").status_code == 404
    assert stranger.get(f"/api/v1/applications/{application.pk}/offers/").status_code == 404
    assert as_user(api_client, collector).post(f"/api/v1/offers/{offer.pk}/choose/").status_code == 404


def test_choosing_in_the_wrong_state_is_a_400(api_client, customer, profile, everyday):
    application = scored(customer, everyday)
    offer = services.application_offers_generate(application=application)[0]
    services.application_transition(application=application, to=Application.State.WITHDRAWN, by=customer)
    response = as_user(api_client, customer).post(f"/api/v1/offers/{offer.pk}/choose/")
    assert response.status_code == 400 and "state" in response.json()


def test_the_product_list_is_public_and_paginated(api_client, everyday):
    response = api_client.get("/api/v1/products/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    product = next(p for p in body["results"] if p["code"] == "everyday")
    assert product["from_rate"] == "12.0000" and len(product["price_tiers"]) == 7
    assert product["price_tiers"][0] == {"grade": "A", "annual_rate": "7.2000", "max_amount": "50000.00",
                                         "max_term_months": 24}
    assert "zero_interest" in product["allowed_methods"] and product["max_apr"] == "24.0000"
    assert api_client.get("/api/v1/products/", {"search": "Education"}).json()["count"] == 1


def test_an_officer_can_generate_an_applications_offers_by_its_id(api_client, officer, customer, profile, everyday):
    application = scored(customer, everyday)
    response = as_user(api_client, officer).post(URL, {"application": application.pk}, format="json")
    assert response.status_code == 201 and response.json()["offers"]


def test_a_customer_without_a_profile_is_asked_for_income(api_client, customer, everyday):
    body = ask(as_user(api_client, customer)).json()
    assert body["offers"] == [] and body["summary"]["reasons"][0]["code"] == "no_income"
