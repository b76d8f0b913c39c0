"""Offers follow the decision (issue #18): an application the credit policy declines (a knock-out
rule hit, or already declined) gets no priced offers and its customer sees the decline with the
reasons in their language, on the pages and through the API; a plan whose final payment is more
than the configured share of (savings + one month's surplus) is never labelled best match or
cheapest; and every card names a final payment that differs from the regular installment."""

from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from config.errors import DomainError
from customers.roles import Role
from customers.services import finance_line_add
from installments.demo import ensure_products
from installments.engine.offers import (
    CreditStance,
    CustomerFinances,
    Preference,
    ProductTerms,
    Tier,
    final_payment_limit,
    offers_build,
)
from installments.models import Offer
from installments.origination import selectors
from installments.origination.applications import application_offers_generate, offer_choose
from tests.factories import (
    CustomerProfileFactory,
    UserFactory,
    WorkbenchApplicationFactory,
    WorkbenchScoreFactory,
    workbench_case,
)

D = Decimal
KNOCK_OUT_HIT = {"rule": "max_dti", "kind": "max_debt_to_income", "threshold": "0.5", "value": "0.9",
                 "knock_out": True, "text_en": "Debts too high", "text_zh": "负债过高"}


def login(client, user):
    client.force_login(user, backend="customers.backends.ModelBackendWithRoles")
    return client


# --- 1. A knocked-out application: no offers, the decline with its reasons ---------------------------

@pytest.fixture
def knocked_out(db):
    """Scored, still in the officers' queue, but its score result hit a knock-out rule (outcome
    "scored": the rule hit alone counts), with two stale offers from before."""
    application = workbench_case(chosen=False)
    score = application.score_result
    score.rule_hits = [KNOCK_OUT_HIT]
    score.save(update_fields=["rule_hits"])
    assert application.offers.count() == 2
    return application


def test_a_knock_out_rule_hit_means_offer_generation_makes_no_offers(knocked_out):
    assert application_offers_generate(application=knocked_out) == []
    assert not Offer.objects.filter(application=knocked_out).exists()
    knocked_out.refresh_from_db()
    summary = knocked_out.offer_summary
    assert summary["offered"] == 0 and summary["declined"] is True
    assert summary["reasons"] == [{"code": "knocked_out", "en": "Debts too high", "zh": "负债过高"}]


def test_a_knocked_out_outcome_without_hits_still_gets_no_offers(db):
    application = workbench_case(chosen=False, knocked_out=True, state="scored")
    assert application_offers_generate(application=application) == []
    assert not application.offers.exists()


def test_the_customer_page_shows_the_decline_in_english_not_the_plans(client, knocked_out):
    login(client, knocked_out.customer)
    content = client.get(reverse("portal:application", args=[knocked_out.pk])).content.decode()
    assert 'id="decline"' in content
    reasons = content[content.index('id="decline-reasons"'):][:500]
    assert "Debts too high" in reasons
    assert 'id="offers"' not in content
    assert not any(f'id="offer-{pk}"' in content for pk in knocked_out.offers.values_list("pk", flat=True))


def test_the_customer_page_shows_the_decline_reasons_in_chinese(client, knocked_out):
    login(client, knocked_out.customer)
    client.cookies["django_language"] = "zh-hans"
    content = client.get(reverse("portal:application", args=[knocked_out.pk])).content.decode()
    reasons = content[content.index('id="decline-reasons"'):][:500]
    assert "负债过高" in reasons and "Debts too high" not in reasons
    assert 'id="offers"' not in content


def test_the_offers_page_shows_the_decline_with_its_reasons_in_the_customers_language(client, knocked_out):
    login(client, knocked_out.customer)
    url = reverse("application_offers", args=[knocked_out.pk])
    content = client.get(url).content.decode()
    assert 'id="decline"' in content and "Debts too high" in content
    assert not any(f'id="offer-{pk}"' in content for pk in knocked_out.offers.values_list("pk", flat=True))
    assert reverse("offer_choose", args=[knocked_out.offers.first().pk]) not in content
    client.cookies["django_language"] = "zh-hans"
    assert "负债过高" in client.get(url).content.decode()


def test_an_already_declined_application_shows_the_decline_on_the_offers_page(client, db):
    application = workbench_case(knocked_out=True, state="declined")
    login(client, application.customer)
    content = client.get(reverse("application_offers", args=[application.pk])).content.decode()
    assert 'id="decline"' in content and "Debts too high" in content
    assert f'id="offer-{application.offers.first().pk}"' not in content


def test_the_api_lists_no_offers_and_says_why(client, knocked_out):
    login(client, knocked_out.customer)
    url = reverse("api-application-offers", args=[knocked_out.pk])
    body = client.get(url).json()
    assert body["count"] == 0 and body["results"] == []
    assert body["declined"] is True and body["decline_reasons"] == ["Debts too high"]
    chinese = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    assert chinese["decline_reasons"] == ["负债过高"]


def test_the_api_lists_offers_of_an_application_that_is_not_declined(client, db):
    application = workbench_case(chosen=False)
    login(client, application.customer)
    body = client.get(reverse("api-application-offers", args=[application.pk])).json()
    assert body["count"] == 2 and body["declined"] is False and body["decline_reasons"] == []


def test_asking_the_api_for_a_declined_applications_offers_answers_with_the_decline(client, db):
    application = workbench_case(knocked_out=True, state="declined")
    login(client, application.customer)
    response = client.post(reverse("api-offers"), {"application": application.pk}, content_type="application/json")
    assert response.status_code == 200
    body = response.json()
    assert body["offers"] == [] and body["stored"] is False
    assert body["summary"]["declined"] is True
    assert {"code": "knocked_out", "en": "Debts too high", "zh": "负债过高"} in body["summary"]["reasons"]


def test_asking_the_api_for_a_knocked_out_applications_offers_stores_the_decline(client, knocked_out):
    login(client, knocked_out.customer)
    response = client.post(reverse("api-offers"), {"application": knocked_out.pk}, content_type="application/json")
    assert response.status_code == 201
    body = response.json()
    assert body["offers"] == [] and body["summary"]["declined"] is True
    assert body["summary"]["reasons"][0]["en"] == "Debts too high"
    assert not knocked_out.offers.exists()


def test_a_stale_offer_of_a_knocked_out_application_cannot_be_chosen(knocked_out):
    with pytest.raises(DomainError) as error:
        offer_choose(application=knocked_out, offer=knocked_out.offers.first(), by=knocked_out.customer)
    assert error.value.field == "state"
    assert not knocked_out.offers.filter(chosen_at__isnull=False).exists()


# --- 2. A large final payment is never best match or cheapest ------------------------------------

def engine_product(**changes) -> ProductTerms:
    tiers = tuple(Tier(g, D(r), D("50000"), 24) for g, r in zip("ABCDEFG", ("7.2", "9.6", "12", "14.4", "16.8",
                                                                             "19.2", "21.6"), strict=True))
    base = dict(code="everyday", min_amount=D("1000"), max_amount=D("50000"), min_term=3, max_term=24, tiers=tiers,
                methods=("annuity", "equal_principal", "step_up", "zero_interest", "balloon", "interest_only"),
                upfront_fee_rate=D("1"), max_payment_to_income=D("0.40"), max_debt_service_ratio=D("0.70"),
                promo_max_term=6, promo_monthly_fee_rate=D("0.6"))
    return ProductTerms(**{**base, **changes})


def engine_finances(savings: str) -> CustomerFinances:
    """15,000 income, 4,000 expenses, 1,000 debt payments: a surplus of 10,000 a month."""
    return CustomerFinances(monthly_income=D("15000"), monthly_expenses=D("4000"),
                            existing_debt_monthly_payment=D("1000"), savings=D(savings))


def engine_offers(savings: str, *, share="0.5", product=None, **preference):
    return offers_build(product=product or engine_product(), stance=CreditStance(), finances=engine_finances(savings),
                        grade="C", max_final_payment_share=None if share is None else D(share),
                        preference=Preference(amount=D("30000"), disbursement_date=date(2026, 3, 10), **preference))


def labelled(offer_set, label):
    return [o for o in offer_set.offers if label in o.labels]


def test_the_limit_is_the_share_of_savings_plus_one_months_surplus():
    assert final_payment_limit(engine_finances("10000"), D("0.5")) == D("10000")  # 0.5 x (10,000 + 10,000)
    poor = CustomerFinances(monthly_income=D("3000"), monthly_expenses=D("4000"), savings=None)
    assert final_payment_limit(poor, D("0.5")) == 0  # no savings known, no surplus


def test_a_balloon_above_the_share_is_not_best_match_but_with_ample_savings_it_is():
    tight = engine_offers("10000", method="balloon", term=12)
    balloon = next(o for o in tight.offers if o.method == "balloon")
    assert balloon.final_payment > D("10000") and balloon.large_final_payment
    assert "best_match" not in balloon.labels and "cheapest" not in balloon.labels
    best = labelled(tight, "best_match")
    assert len(best) == 1 and best[0].method != "balloon" and best[0].letter == "A"
    assert tight.offers[-1] is balloon  # shown after the plans within the limit
    assert "do not mark it as the best match" in balloon.explanation_en and "最适合您" in balloon.explanation_zh

    ample = engine_offers("200000", method="balloon", term=12)
    balloon = next(o for o in ample.offers if o.method == "balloon")
    assert not balloon.large_final_payment and "best_match" in balloon.labels and balloon.letter == "A"


def test_without_a_limit_the_engine_labels_as_before():
    offers = engine_offers("10000", share=None, method="balloon", term=12)
    assert "best_match" in next(o for o in offers.offers if o.method == "balloon").labels


def test_an_interest_only_plan_that_takes_the_savings_is_not_best_match():
    # 30,000 saved covers the 30,300 final payment, but it is more than half of savings + surplus (20,000).
    before = engine_offers("30000", share=None)
    assert labelled(before, "best_match")[0].method == "interest_only"
    after = engine_offers("30000")
    assert labelled(after, "best_match")[0].method not in ("interest_only", "balloon")
    assert all(not o.large_final_payment for o in labelled(after, "best_match") + labelled(after, "cheapest"))


def test_when_only_large_final_payments_are_offered_nobody_is_labelled_cheapest_or_best_match():
    only_balloons = engine_product(methods=("balloon",))
    tight = engine_offers("10000", product=only_balloons, term=12)
    assert tight.offers and all(o.large_final_payment for o in tight.offers)
    assert not labelled(tight, "best_match") and not labelled(tight, "cheapest")
    ample = engine_offers("200000", product=only_balloons, term=12)
    assert labelled(ample, "best_match") and labelled(ample, "cheapest")


# --- Through the application, the settings and the cards -------------------------------------------

def balloon_application(savings: str):
    """A grade-C customer (15,000 income, 4,000 expenses, 1,000 debt payments) who asks for a 12-month
    balloon on the everyday product (balloons allowed)."""
    product = next(p for p in ensure_products() if p.code == "everyday")
    product.allowed_methods = [*product.allowed_methods, "balloon"]
    product.save()
    customer = UserFactory(roles=[Role.CUSTOMER])
    profile = CustomerProfileFactory(user=customer)
    for line_type, data in (("income", {"source": "salary", "monthly_amount": D("15000")}),
                            ("expense", {"category": "housing", "monthly_amount": D("4000")}),
                            ("debt", {"lender": "Bank", "kind": "credit_card", "outstanding_balance": D("10000"),
                                      "monthly_payment": D("1000")}),
                            ("asset", {"kind": "savings", "value": D(savings)})):
        finance_line_add(profile=profile, line_type=line_type, data=data, by=customer)
    application = WorkbenchApplicationFactory(customer=customer, product=product, amount=D("30000"), term_months=12,
                                              preferred_method="balloon")
    WorkbenchScoreFactory(application=application, grade="C")
    return application


@pytest.mark.django_db
def test_stored_offers_follow_the_configured_share(settings):
    settings.OFFERS_MAX_FINAL_PAYMENT_SHARE = "0.5"
    tight = balloon_application("10000")
    offers = application_offers_generate(application=tight)
    balloon = next(o for o in offers if o.method == "balloon")
    assert "best_match" not in balloon.labels and "cheapest" not in balloon.labels
    assert any("best_match" in o.labels for o in offers if o.method != "balloon")

    ample = balloon_application("200000")
    balloon = next(o for o in application_offers_generate(application=ample) if o.method == "balloon")
    assert "best_match" in balloon.labels and balloon.rank == 1

    settings.OFFERS_MAX_FINAL_PAYMENT_SHARE = "2"  # a looser policy: the tight customer's balloon is fine
    balloon = next(o for o in application_offers_generate(application=tight) if o.method == "balloon")
    assert "best_match" in balloon.labels


@pytest.mark.django_db
def test_the_cards_name_a_final_payment_that_differs_from_the_regular_installment(client):
    application = balloon_application("10000")
    offers = application_offers_generate(application=application)
    balloon = next(o for o in offers if o.method == "balloon")
    last = balloon.schedule["installments"][-1]
    final = selectors.offer_final_payment(balloon)
    assert final == {"amount": D(last["payment"]), "due_date": last["due_date"], "number": last["number"]}
    level = [o for o in offers if o.method in ("annuity", "zero_interest")]
    assert level and all(selectors.offer_final_payment(o) is None for o in level)

    expected = f"Final payment: {D(last['payment']):,.2f} CNY on {last['due_date']} (installment {last['number']})"
    login(client, application.customer)
    for url, end in ((reverse("portal:application", args=[application.pk]), "</article>"),
                     (reverse("application_offers", args=[application.pk]), "</details>")):
        content = client.get(url).content.decode()
        card = content[content.index(f'id="offer-{balloon.pk}"'):]
        assert expected in card[:card.index(end)]
        for offer in level:
            card = content[content.index(f'id="offer-{offer.pk}"'):]
            assert "Final payment:" not in card[:card.index(end)]

    api = client.get(reverse("api-application-offers", args=[application.pk])).json()
    row = next(o for o in api["results"] if o["id"] == balloon.pk)
    assert row["final_payment"] == {"amount": last["payment"], "due_date": last["due_date"], "number": last["number"]}

