"""Pages: the public calculator (full page, htmx partial, messages next to the fields), a customer's
offers with the choose button, the approvers' credit policy page, and the admin."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from customers.models import AuditEvent
from customers.roles import Role
from installments.demo import ensure_products, ensure_standard_policy
from installments.models import Application, CreditPolicy, Offer
from installments.origination import applications as services
from tests.factories import CustomerProfileFactory
from tests.installments.test_offer_services import give_finances, give_grade

D = Decimal
pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def products():
    return {p.code: p for p in ensure_products()}


def calc(client, htmx=False, **params):
    query = {"product": "everyday", "amount": "12000", "term_months": "12", "methods": ["annuity", "equal_principal"],
             **params}
    return client.get(reverse("calculator"), query, **(HTMX if htmx else {}))


# --- Calculator ---------------------------------------------------------------------------------------

def test_the_calculator_is_public_and_shows_a_schedule_and_chart_at_once(client, products):
    response = client.get(reverse("calculator"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="calculator-form"' in html and 'hx-get="/plans/calculator/"' in html
    assert "table-schedule" in html and 'data-chart-data="plan-0-data"' in html
    assert '<script id="plan-0-data" type="application/json">' in html
    assert "vendor/chartjs/chart.umd.min.js" in html and "js/calculator.js" in html
    # CSP is script-src 'self': every script is a file or JSON data, never inline code.
    for tag in re.findall(r"<script[^>]*>", html):
        assert "src=" in tag or 'type="application/json"' in tag, tag
    assert "Content-Security-Policy" in response.headers


def test_the_calculator_uses_tier_c_by_default_and_compares_types_side_by_side(client, products):
    response = calc(client, methods=["annuity", "equal_principal", "zero_interest"], term_months="6")
    comparisons = response.context["comparisons"]
    assert [c["method"] for c in comparisons] == ["annuity", "equal_principal", "zero_interest"]
    annuity = comparisons[0]["schedule"]
    assert annuity.terms.annual_rate == D("12.0000") and annuity.terms.upfront_fee == D("120.00")
    assert comparisons[2]["schedule"].total_interest == 0 and comparisons[2]["schedule"].total_fees > 0
    html = response.content.decode()
    assert html.count('class="col"><div class="card h-100">') == 3
    assert f"{annuity.apr}%" in html and "2,070.58" in html  # 12,000 at 12 % over 6 months


def test_the_htmx_partial_returns_the_table_with_messages_out_of_band(client, products):
    response = calc(client, htmx=True)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and "<nav" not in html
    assert "table-schedule" in html and 'id="err-amount" hx-swap-oob="true"' in html
    assert [t.name for t in response.templates][0] == "installments/_calculator_results.html"
    assert "installments/_schedule_table.html" in [t.name for t in response.templates]


@pytest.mark.parametrize("params, field, words", [
    ({"amount": "500"}, "amount", "Enter an amount from 1,000"),
    ({"amount": "-5"}, "amount", ""),
    ({"term_months": "36"}, "term_months", "Enter a term from 3 to 24"),
    ({"methods": ["annuity", "equal_principal", "step_up", "seasonal"]}, "methods", "at most three"),
    ({"methods": ["balloon"]}, "methods", "does not offer"),
    ({"methods": ["zero_interest"], "term_months": "12"}, "term_months", "at most 6 months"),
    ({"annual_rate": "30"}, "annual_rate", "legal maximum"),
    ({"upfront_fee": "3000", "term_months": "3"}, "upfront_fee", "APR"),
])
def test_validation_messages_appear_next_to_the_field(client, products, params, field, words):
    response = calc(client, htmx=True, **params)
    html = response.content.decode()
    slot = re.search(rf'<div class="invalid-feedback d-block" id="err-{field}" hx-swap-oob="true">(.*?)</div>', html,
                     re.S)
    assert slot and slot.group(1).strip(), html[:600]
    assert words in slot.group(1)
    assert "table-schedule" not in html
    full = calc(client, **params).content.decode()  # and without htmx, in the page itself
    assert re.search(rf'id="err-{field}">\s*\S', full)


def test_the_calculator_speaks_chinese(client, products):
    response = client.get(reverse("calculator"), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 200 and 'lang="zh-hans"' in response.content.decode()


def test_the_public_nav_links_to_the_calculator(client, products):
    assert f'href="{reverse("calculator")}"' in client.get(reverse("home")).content.decode()


# --- A customer's offers -----------------------------------------------------------------------------

@pytest.fixture
def application(customer, products):
    give_finances(CustomerProfileFactory(user=customer))
    application = services.application_create(customer=customer, product=products["everyday"], amount=D("20000"),
                                              term_months=12)
    services.application_transition(application=application, to=Application.State.SUBMITTED, by=customer)
    give_grade(application, "C")
    application = services.application_transition(application=application, to=Application.State.SCORED, by=None)
    services.application_offers_generate(application=application)
    return application


def test_the_customer_sees_and_chooses_an_offer(client_for, customer, application):
    client = client_for(customer)
    page = client.get(reverse("application_offers", args=[application.pk]))
    html = page.content.decode()
    assert page.status_code == 200 and "Plan A" in html and "Choose plan B" in html
    offer = Offer.objects.get(application=application, rank=2)
    response = client.post(reverse("offer_choose", args=[offer.pk]), **HTMX)
    assert response.status_code == 200 and 'id="offer-list"' in response.content.decode()
    assert "Your choice" in response.content.decode() and "<html" not in response.content.decode()
    offer.refresh_from_db()
    assert offer.chosen_by == customer


def test_other_customers_do_not_see_the_offers(client_for, make_user, application):
    stranger = client_for(make_user(Role.CUSTOMER))
    assert stranger.get(reverse("application_offers", args=[application.pk])).status_code == 404
    offer = Offer.objects.filter(application=application).first()
    assert stranger.post(reverse("offer_choose", args=[offer.pk])).status_code == 404


def test_a_refused_choice_is_explained(client_for, customer, application):
    services.application_transition(application=application, to=Application.State.WITHDRAWN, by=customer)
    offer = Offer.objects.filter(application=application).first()
    response = client_for(customer).post(reverse("offer_choose", args=[offer.pk]), follow=True)
    assert "can only be chosen" in response.content.decode()


# --- Credit policy page ----------------------------------------------------------------------------------

def test_an_approver_sets_a_policy_on_the_staff_page(client_for, approver, products):
    ensure_standard_policy()
    client = client_for(approver)
    page = client.get(reverse("credit_policy_list"))
    assert page.status_code == 200 and "Standard stance" in page.content.decode() and "in force" in page.content.decode()
    day = timezone.localdate() + timedelta(days=7)
    response = client.post(reverse("credit_policy_list"), {
        "name": "Holiday tightening", "product": "", "effective_from": day.isoformat(), "rate_adjustment": "0.5",
        "max_amount_factor": "0.9", "max_term_months": "", "cutoff_grade": "F", "reason": "Seasonal defaults"})
    assert response.status_code == 302
    assert CreditPolicy.objects.get(name="Holiday tightening").created_by == approver
    assert AuditEvent.objects.filter(action="credit_policy.create").exists()


def test_a_past_date_is_refused_next_to_the_field(client_for, approver, products):
    response = client_for(approver).post(reverse("credit_policy_list"), {
        "name": "Back-dated", "effective_from": "2020-01-01", "rate_adjustment": "0", "max_amount_factor": "1",
        "cutoff_grade": "G"})
    assert response.status_code == 200 and "cannot start in the past" in response.content.decode()
    assert not CreditPolicy.objects.filter(name="Back-dated").exists()


def test_officers_may_read_the_policy_but_not_set_it(client_for, officer, products):
    client = client_for(officer)
    assert client.get(reverse("credit_policy_list")).status_code == 200
    assert client.post(reverse("credit_policy_list"), {"name": "x"}).status_code == 403


def test_customers_and_anonymous_users_cannot_open_the_policy_page(client, client_for, customer):
    assert client.get(reverse("credit_policy_list")).status_code == 302
    assert client_for(customer).get(reverse("credit_policy_list")).status_code == 403


# --- Admin -------------------------------------------------------------------------------------------------

@pytest.fixture
def admin_client_(client_for, make_user):
    return client_for(make_user(Role.ADMIN, is_staff=True, is_superuser=True))


@pytest.mark.parametrize("model", ["loanproduct", "pricetier", "creditpolicy", "application", "offer", "contract",
                                   "plan", "scheduleversion", "installment"])
def test_every_installments_model_has_a_searchable_admin_list(admin_client_, application, model):
    url = reverse(f"admin:installments_{model}_changelist")
    assert admin_client_.get(url).status_code == 200
    assert admin_client_.get(url, {"q": "APP"}).status_code == 200


def test_products_are_edited_with_their_tiers_and_records_are_read_only(admin_client_, application, products):
    product = products["everyday"]
    page = admin_client_.get(reverse("admin:installments_loanproduct_change", args=[product.pk]))
    assert page.status_code == 200 and "price_tiers-0-annual_rate" in page.content.decode()
    assert admin_client_.get(reverse("admin:installments_application_add")).status_code == 403
    offer = Offer.objects.filter(application=application).first()
    page = admin_client_.get(reverse("admin:installments_offer_change", args=[offer.pk]))
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()


def test_a_policy_added_in_the_admin_goes_through_the_service(admin_client_, products):
    day = timezone.localdate() + timedelta(days=3)
    response = admin_client_.post(reverse("admin:installments_creditpolicy_add"), {
        "name": "From admin", "product": "", "effective_from": day.isoformat(), "rate_adjustment": "1",
        "max_amount_factor": "1", "max_term_months": "", "cutoff_grade": "G", "reason": ""})
    assert response.status_code == 302, response.content.decode()[:2000]
    policy = CreditPolicy.objects.get(name="From admin")
    assert AuditEvent.objects.filter(action="credit_policy.create", target_id=str(policy.pk)).exists()
    past = admin_client_.post(reverse("admin:installments_creditpolicy_add"), {
        "name": "Old", "effective_from": "2020-01-01", "rate_adjustment": "0", "max_amount_factor": "1",
        "cutoff_grade": "G"})
    assert past.status_code == 200 and "cannot start in the past" in past.content.decode()
