"""Offer services against the database: application_offers_generate (stored, idempotent, graded,
policy applied), offer_choose (states, who, audit) and the credit policy in force by date."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from config.errors import DomainError
from customers.models import AuditEvent
from customers.roles import Role
from customers.services import finance_line_add, profile_repayment_record_update
from installments.demo import ensure_products, ensure_standard_policy
from installments.engine.offers import offer_terms_from_dict
from installments.engine.schedules import build_schedule, schedule_to_dict
from installments.models import Application, CreditPolicy, Offer
from installments.origination import applications as services
from installments.origination import selectors
from tests.factories import CustomerProfileFactory

D = Decimal
pytestmark = pytest.mark.django_db


@pytest.fixture
def products():
    return {p.code: p for p in ensure_products()}


@pytest.fixture
def everyday(products):
    return products["everyday"]


def give_finances(profile, *, income="15000", expenses="4000", debt="1000", savings="30000"):
    user = profile.user
    finance_line_add(profile=profile, line_type="income", data={"source": "salary", "monthly_amount": D(income)},
                     by=user)
    finance_line_add(profile=profile, line_type="expense", data={"category": "housing", "monthly_amount": D(expenses)},
                     by=user)
    if D(debt):
        finance_line_add(profile=profile, line_type="debt", by=user, data={
            "lender": "Bank", "kind": "credit_card", "outstanding_balance": D("10000"), "monthly_payment": D(debt)})
    if D(savings):
        finance_line_add(profile=profile, line_type="asset", data={"kind": "savings", "value": D(savings)}, by=user)
    return profile


@pytest.fixture
def profile(customer):
    return give_finances(CustomerProfileFactory(user=customer))


def scored_application(customer, product, *, amount="30000", grade=None, state=Application.State.SCORED, **fields):
    application = services.application_create(customer=customer, product=product, amount=D(amount), **fields)
    services.application_transition(application=application, to=Application.State.SUBMITTED, by=customer)
    if grade:
        give_grade(application, grade)
    if state != Application.State.SUBMITTED:
        services.application_transition(application=application, to=Application.State.SCORED, by=None)
    if state == Application.State.IN_REVIEW:
        services.application_transition(application=application, to=state, by=None)
    application.refresh_from_db()
    return application


def give_grade(application, grade, outcome="scored"):
    from scoring.models import ScoreResult, ScoringModelVersion

    version, _ = ScoringModelVersion.objects.get_or_create(label="test-v1", defaults={
        "source": "test", "scorecard": {}, "data_fingerprint": "0" * 64, "training_rows": 1, "bad_rate": 0.3})
    return ScoreResult.objects.create(application=application, model_version=version, outcome=outcome, score=600,
                                      pd=D("0.05"), grade=grade, duration_ms=1.0)


def signature(offers):
    return [(o.rank, o.method, o.term_months, o.installment, o.total_payable, o.apr) for o in offers]


# --- application_offers_generate ------------------------------------------------------------------

def test_generate_stores_ranked_offers_with_full_disclosure(customer, profile, everyday):
    policy = ensure_standard_policy()
    application = scored_application(customer, everyday, grade="C", term_months=12)
    offers = services.application_offers_generate(application=application)
    assert 1 <= len(offers) <= 5
    assert [o.rank for o in offers] == list(range(1, len(offers) + 1))
    stored = list(selectors.offers_for_application(application))
    assert [o.pk for o in stored] == [o.pk for o in offers]
    for offer in stored:
        schedule = build_schedule(offer_terms_from_dict(offer.terms))
        assert offer.schedule == schedule_to_dict(schedule)  # the disclosure is the engine's, to the cent
        assert (offer.total_interest, offer.total_fees, offer.total_payable) == \
            (schedule.total_interest, schedule.total_fees, schedule.total_payable)
        assert (offer.apr, offer.effective_annual_rate) == (schedule.apr, schedule.effective_annual_rate)
        assert offer.apr <= everyday.max_apr
        assert offer.currency == "CNY" and offer.grade == "C" and offer.credit_policy == policy
        assert offer.explanation_en.startswith(f"Plan {chr(64 + offer.rank)}:") and offer.explanation_zh
        assert offer.installment > 0 and offer.highest_installment >= offer.installment or offer.method == "step_up"
    assert "best_match" in stored[0].labels
    application.refresh_from_db()
    summary = application.offer_summary
    assert summary["offered"] == len(offers) and summary["pricing"]["grade"] == "C"
    assert summary["credit_policy"]["name"] == policy.name and summary["score_grade"] == "C"
    assert AuditEvent.objects.filter(action="application.offers_generate", target_id=str(application.pk)).exists()


def test_generate_is_idempotent(customer, profile, everyday):
    application = scored_application(customer, everyday, grade="C", term_months=12)
    first = services.application_offers_generate(application=application)
    second = services.application_offers_generate(application=application)
    assert signature(first) == signature(second)
    assert Offer.objects.filter(application=application).count() == len(second)
    assert not Offer.objects.filter(pk__in=[o.pk for o in first]).exists()  # replaced, not added


def test_regenerating_keeps_the_chosen_offer_and_counter_offers(customer, profile, everyday):
    application = scored_application(customer, everyday, grade="C", term_months=12)
    offers = services.application_offers_generate(application=application)
    chosen = services.offer_choose(application=application, offer=offers[1], by=customer)
    counter = Offer.objects.create(application=application, rank=9, method="annuity", amount=D("20000"),
                                   term_months=12, annual_rate=D("12"), installment=D("1776.98"),
                                   total_interest=D("1323.76"), total_fees=D("0"), total_payable=D("21323.76"),
                                   apr=D("12"), effective_annual_rate=D("12.68"), is_counter_offer=True)
    again = services.application_offers_generate(application=application)
    remaining = set(Offer.objects.filter(application=application).values_list("pk", flat=True))
    assert chosen.pk in remaining and counter.pk in remaining
    assert remaining == {chosen.pk, counter.pk, *(o.pk for o in again)}


def test_before_scoring_the_middle_tier_is_used_and_said(customer, profile, everyday):
    application = scored_application(customer, everyday, state=Application.State.SUBMITTED)
    offers = services.application_offers_generate(application=application)
    assert offers and all(o.grade == "D" for o in offers)
    assert all(o.annual_rate == D("14.4") for o in offers if o.method != "zero_interest")
    application.refresh_from_db()
    assert "default_grade" in [n["code"] for n in application.offer_summary["notes"]]


def test_the_score_grade_and_repayment_record_price_the_offers(customer, profile, everyday):
    profile_repayment_record_update(profile=profile, data={"on_time_payments": 12, "late_payments": 0,
                                                           "max_days_past_due": 0})
    application = scored_application(customer, everyday, grade="C")
    offers = services.application_offers_generate(application=application)
    assert all(o.grade == "B" for o in offers)  # one tier better for the on-time record
    assert all(o.annual_rate == D("9.6") for o in offers if o.method != "zero_interest")


def test_a_knocked_out_application_gets_no_offers(customer, profile, everyday):
    application = scored_application(customer, everyday, state=Application.State.SUBMITTED)
    give_grade(application, "G", outcome="knocked_out")
    assert services.application_offers_generate(application=application) == []
    application.refresh_from_db()
    assert application.offer_summary["reasons"][0]["code"] == "knocked_out"


def test_nothing_affordable_is_an_empty_list_with_reasons_and_a_suggestion(customer, everyday):
    give_finances(CustomerProfileFactory(user=customer), income="8000", expenses="3000", debt="1500", savings="0")
    application = scored_application(customer, everyday, amount="50000", grade="A")
    assert services.application_offers_generate(application=application) == []
    application.refresh_from_db()
    summary = application.offer_summary
    assert summary["offered"] == 0 and summary["reasons"][0]["code"] == "over_budget"
    assert summary["suggestion"]["term"] == 24 and D(summary["suggestion"]["amount"]) < D("50000")
    assert summary["reasons"][0]["zh"]


def test_a_customer_without_a_profile_is_asked_for_income(customer, everyday):
    application = scored_application(customer, everyday, grade="C")
    assert services.application_offers_generate(application=application) == []
    application.refresh_from_db()
    assert application.offer_summary["reasons"][0]["code"] == "no_income"


@pytest.mark.parametrize("state", [Application.State.DRAFT, Application.State.DECLINED])
def test_offers_are_not_made_for_drafts_or_decided_applications(customer, profile, everyday, state):
    application = services.application_create(customer=customer, product=everyday, amount=D("10000"))
    if state == Application.State.DECLINED:
        services.application_transition(application=application, to=Application.State.SUBMITTED, by=customer)
        services.application_transition(application=application, to=state, by=None)
    with pytest.raises(DomainError) as error:
        services.application_offers_generate(application=application)
    assert error.value.field == "state"


# --- offer_choose ----------------------------------------------------------------------------------

@pytest.fixture
def offered(customer, profile, everyday):
    application = scored_application(customer, everyday, grade="C", term_months=12)
    return application, services.application_offers_generate(application=application)


def test_the_customer_chooses_an_offer_and_it_is_audited(customer, offered):
    application, offers = offered
    chosen = services.offer_choose(application=application, offer=offers[2], by=customer)
    assert chosen.chosen_at is not None and chosen.chosen_by == customer
    event = AuditEvent.objects.get(action="offer.choose", target_id=str(application.pk))
    assert event.actor == customer and event.data["offer"] == offers[2].pk


def test_choosing_another_offer_replaces_the_choice_and_choosing_again_changes_nothing(customer, offered):
    application, offers = offered
    services.offer_choose(application=application, offer=offers[0], by=customer)
    services.offer_choose(application=application, offer=offers[1], by=customer)
    services.offer_choose(application=application, offer=offers[1], by=customer)
    assert list(Offer.objects.filter(application=application, chosen_at__isnull=False)) == [offers[1]]
    assert AuditEvent.objects.filter(action="offer.choose").count() == 2


def test_an_offer_can_be_chosen_in_review(customer, profile, everyday):
    application = scored_application(customer, everyday, grade="C", state=Application.State.IN_REVIEW)
    offers = services.application_offers_generate(application=application)
    assert services.offer_choose(application=application, offer=offers[0], by=customer).chosen_at


def test_no_choice_once_the_application_has_moved_on(customer, offered):
    application, offers = offered
    services.application_transition(application=application, to=Application.State.DECLINED, by=None)
    with pytest.raises(DomainError) as error:
        services.offer_choose(application=application, offer=offers[0], by=customer)
    assert error.value.field == "state"


def test_an_offer_of_another_application_is_refused(customer, offered, everyday):
    application, offers = offered
    other = scored_application(customer, everyday, grade="C")
    with pytest.raises(DomainError) as error:
        services.offer_choose(application=other, offer=offers[0], by=customer)
    assert error.value.field == "offer"


def test_only_the_customer_or_a_loan_officer_may_choose(offered, make_user, officer, approver):
    application, offers = offered
    with pytest.raises(PermissionDenied):
        services.offer_choose(application=application, offer=offers[0], by=make_user(Role.CUSTOMER))
    with pytest.raises(PermissionDenied):
        services.offer_choose(application=application, offer=offers[0], by=approver)
    assert services.offer_choose(application=application, offer=offers[0], by=officer).chosen_by == officer


# --- Credit policy -----------------------------------------------------------------------------------

def policy(product=None, days=0, **fields):
    return CreditPolicy.objects.create(name=f"p{days}{product}", product=product,
                                       effective_from=timezone.localdate() + timedelta(days=days), **fields)


def test_the_policy_in_force_is_the_latest_effective_one(everyday):
    today = timezone.localdate()
    old = policy(days=-30, rate_adjustment=D("1"))
    current = policy(days=-1, rate_adjustment=D("2"))
    policy(days=5, rate_adjustment=D("3"))
    assert selectors.credit_policy_in_force(on=today) == current
    assert selectors.credit_policy_in_force(on=today - timedelta(days=10)) == old
    assert selectors.credit_policy_in_force(on=today - timedelta(days=31)) is None
    assert selectors.credit_policy_in_force(on=today + timedelta(days=5)).rate_adjustment == D("3")


def test_a_products_own_policy_beats_the_general_one(everyday, products):
    general = policy(days=-1)
    own = policy(product=everyday, days=-10, cutoff_grade="E")
    assert selectors.credit_policy_in_force(product=everyday) == own
    assert selectors.credit_policy_in_force(product=products["education"]) == general


def test_the_policy_in_force_prices_the_offers_and_a_future_one_does_not(customer, profile, everyday):
    policy(days=-1, rate_adjustment=D("1.2"), max_term_months=12)
    policy(days=3, rate_adjustment=D("5"))
    application = scored_application(customer, everyday, grade="C")
    offers = services.application_offers_generate(application=application)
    assert offers and all(o.annual_rate == D("13.2") for o in offers if o.method != "zero_interest")
    assert max(o.term_months for o in offers) <= 12


def test_a_policy_cut_off_stops_offers_for_worse_grades(customer, profile, everyday):
    policy(days=0, cutoff_grade="D")
    application = scored_application(customer, everyday, grade="E")
    assert services.application_offers_generate(application=application) == []
    application.refresh_from_db()
    assert application.offer_summary["reasons"][0]["code"] == "grade_below_cutoff"


def test_an_approver_sets_a_policy_from_today_and_it_is_audited(approver):
    created = services.credit_policy_create(
        by=approver, name="Tighter for Q1", effective_from=timezone.localdate(), rate_adjustment=D("0.5"),
        max_amount_factor=D("0.8"), cutoff_grade="F", reason="Rising defaults in the market")
    assert created.created_by == approver
    assert AuditEvent.objects.filter(action="credit_policy.create", target_id=str(created.pk)).exists()
    assert selectors.credit_policy_in_force() == created


@pytest.mark.parametrize("changes, field", [
    ({"effective_from": -1}, "effective_from"),
    ({"rate_adjustment": D("25")}, "rate_adjustment"),
    ({"max_amount_factor": D("0")}, "max_amount_factor"),
    ({"cutoff_grade": "Z"}, "cutoff_grade"),
    ({"name": "  "}, "name"),
])
def test_a_bad_policy_is_refused_naming_the_field(approver, changes, field):
    values = {"name": "New", "effective_from": 0, **changes}
    values["effective_from"] = timezone.localdate() + timedelta(days=values["effective_from"])
    with pytest.raises(DomainError) as error:
        services.credit_policy_create(by=approver, **values)
    assert error.value.field == field


def test_two_policies_cannot_start_the_same_day(approver):
    day = timezone.localdate() + timedelta(days=2)
    services.credit_policy_create(by=approver, name="One", effective_from=day)
    with pytest.raises(DomainError) as error:
        services.credit_policy_create(by=approver, name="Two", effective_from=day)
    assert error.value.field == "effective_from"


def test_only_approvers_set_policy(officer):
    with pytest.raises(PermissionDenied):
        services.credit_policy_create(by=officer, name="Mine", effective_from=timezone.localdate())


def test_a_policy_in_force_cannot_be_rewritten(approver):
    current = policy(days=0)
    with pytest.raises(DomainError):
        services.credit_policy_update(policy=current, by=approver, rate_adjustment=D("3"))
    future = policy(days=4)
    assert services.credit_policy_update(policy=future, by=approver, rate_adjustment=D("3")).rate_adjustment == 3


def test_the_demo_seed_is_idempotent():
    import io

    from installments.demo import seed_demo
    from installments.models import LoanProduct, PriceTier

    seed_demo(stdout=io.StringIO())
    counts = (LoanProduct.objects.count(), PriceTier.objects.count(), CreditPolicy.objects.count())
    seed_demo(stdout=io.StringIO())
    assert counts == (LoanProduct.objects.count(), PriceTier.objects.count(), CreditPolicy.objects.count()) == (3, 21, 1)
    assert set(LoanProduct.objects.values_list("name", flat=True)) == {"Everyday purchase", "Education",
                                                                        "Small business"}


def test_a_product_without_price_tiers_is_a_domain_error_not_a_crash(customer, profile, everyday):
    application = scored_application(customer, everyday, grade="C")
    everyday.price_tiers.all().delete()
    with pytest.raises(DomainError) as error:
        services.application_offers_generate(application=application)
    assert error.value.field == "product"


# --- application_transition on a row the caller has locked ------------------------------------------

def test_a_transition_of_a_locked_application_moves_that_instance_with_the_same_audit(customer, everyday):
    application = services.application_create(customer=customer, product=everyday, amount=D("30000"))
    services.application_transition(application=application, to=Application.State.SUBMITTED, by=customer)
    with transaction.atomic():
        locked = Application.objects.select_for_update().get(pk=application.pk)
        moved = services.application_transition(application=locked, to=Application.State.DECLINED, by=None,
                                                reason="knock-out: test", data={"rules": ["test"]}, locked=True)
    assert moved is locked
    stored = Application.objects.get(pk=application.pk)
    assert stored.state == Application.State.DECLINED and stored.decided_at == locked.decided_at is not None
    event = AuditEvent.objects.filter(action="application.state").order_by("-id").first()
    assert (event.actor, event.from_state, event.to_state, event.reason, event.data) == (
        None, Application.State.SUBMITTED, Application.State.DECLINED, "knock-out: test", {"rules": ["test"]})


@pytest.mark.django_db(transaction=True)  # autocommit, as outside any transaction
def test_a_locked_transition_outside_a_transaction_is_refused(customer, everyday):
    application = services.application_create(customer=customer, product=everyday, amount=D("30000"))
    with pytest.raises(RuntimeError, match="locked=True"):
        services.application_transition(application=application, to=Application.State.SUBMITTED, by=customer,
                                        locked=True)
    assert Application.objects.get(pk=application.pk).state == Application.State.DRAFT
