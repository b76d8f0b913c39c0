"""Online scoring reads the model, the policy rules and the occupation peers from in-process copies:
a change in the database takes effect on the next scoring, and scoring one application runs a
fixed, small number of queries whatever the applicant's history.

The copies are invalidated by what the database says (the active version's id and `updated_at`,
the rule table's row count and latest `updated_at`, read with the application), never by signals:
so a change saved by another process is seen just as one saved here, which is what these tests do.
"""

import statistics
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

import installments.origination.applications as installment_services
from config.errors import DomainError
from customers.models import CustomerProfile
from installments.assessment import applicant, online, policy
from installments.models import Application, Offer, Plan, PriceTier
from scoring import anomalies, registry, rules
from scoring.models import PolicyRule, ScoreResult
from tests.factories import UserFactory
from tests.scoring.conftest import TIER_RATES, add_statement
from tests.scoring.test_monitoring import make_plan


@pytest.fixture
def good_customer(make_customer):
    return make_customer(lines={"income": "15000", "expenses": "3000", "assets": [("property", "900000")]})


@pytest.fixture
def score(make_application):
    """`score(customer)` -> the ScoreResult of a new submitted application of the customer."""

    def _score(customer, **fields):
        return online.application_score(application_id=make_application(customer, **fields).pk)

    return _score


# --- The model registry ----------------------------------------------------------------------------

def test_activating_another_model_version_takes_effect_on_the_next_scoring(model_version, german,
                                                                            german_trained, good_customer,
                                                                            score):
    assert score(good_customer).model_version_id == model_version.pk  # the copy is warm now
    card, metrics = german_trained
    challenger = registry.model_version_create(scorecard=card, metrics=metrics, training_frame=german[0],
                                               source="s", label="challenger")
    registry.model_version_activate(version=challenger, by=None)
    result = score(good_customer)
    assert result.model_version_id == challenger.pk
    assert result.context["model_version"] == "challenger"


def test_a_new_master_scale_takes_effect_on_the_next_scoring(model_version, good_customer, score, settings):
    assert score(good_customer).grade != "A"
    # A scale so loose that every applicant is in the first grade.
    settings.SCORING_MASTER_SCALE = (0.994, 0.995, 0.996, 0.997, 0.998, 0.999)
    assert score(good_customer).grade == "A"


def test_no_active_model_after_deactivation_is_noticed(model_version, good_customer, score, make_application):
    score(good_customer)
    model_version.is_active = False
    model_version.save(update_fields=["is_active", "updated_at"])
    application = make_application(good_customer)
    with pytest.raises(DomainError) as error:
        online.application_score(application_id=application.pk)
    assert error.value.code == "no_active_model"


# --- Policy rules ----------------------------------------------------------------------------------

def _rules_hit(result: ScoreResult) -> list[str]:
    return [hit["rule"] for hit in result.rule_hits]


def test_a_new_edited_or_deleted_policy_rule_takes_effect_on_the_next_scoring(model_version, good_customer, score):
    assert _rules_hit(score(good_customer)) == []  # the copy of the (empty) rule table is warm now

    rule = PolicyRule.objects.create(name="Ask about age", kind=rules.MAX_AGE, threshold=Decimal("20"),
                                     knock_out=False)
    assert _rules_hit(score(good_customer)) == ["Ask about age"]

    rule.threshold = Decimal("99")
    rule.save()
    assert _rules_hit(score(good_customer)) == []

    rule.threshold = Decimal("20")
    rule.save()
    assert _rules_hit(score(good_customer)) == ["Ask about age"]

    rule.is_active = False
    rule.save()
    assert _rules_hit(score(good_customer)) == []

    rule.is_active = True
    rule.save()
    other = PolicyRule.objects.create(name="Income below 50,000", kind=rules.MIN_INCOME, threshold=Decimal("50000"),
                                      knock_out=False)
    assert _rules_hit(score(good_customer)) == ["Ask about age", "Income below 50,000"]

    rule.delete()  # the count changes though the latest updated_at does not
    assert _rules_hit(score(good_customer)) == ["Income below 50,000"]
    other.delete()
    assert _rules_hit(score(good_customer)) == []


def test_a_rule_change_the_stamp_cannot_see_is_read_after_the_maximum_age(model_version, good_customer, score,
                                                                           monkeypatch):
    rule = PolicyRule.objects.create(name="Ask about age", kind=rules.MAX_AGE, threshold=Decimal("20"),
                                     knock_out=False)
    assert _rules_hit(score(good_customer)) == ["Ask about age"]
    # A bulk update that keeps updated_at: same count, same latest time.
    PolicyRule.objects.filter(pk=rule.pk).update(threshold=Decimal("99"), updated_at=rule.updated_at)
    monkeypatch.setattr(policy, "POLICY_RULES_MAX_AGE_SECONDS", 0.0)
    assert _rules_hit(score(good_customer)) == []


def test_rules_in_force_follow_the_date_without_rereading_the_table(db):
    today = timezone.localdate()
    PolicyRule.objects.create(name="From tomorrow", kind=rules.MAX_AGE, threshold=Decimal("20"),
                              effective_from=today + timedelta(days=1), effective_to=today + timedelta(days=3))
    assert policy.policy_rules_in_force(today) == []
    assert [r.name for r in policy.policy_rules_in_force(today + timedelta(days=1))] == ["From tomorrow"]
    assert policy.policy_rules_in_force(today + timedelta(days=3)) == []


# --- What the scoring query reads with the application --------------------------------------------

def test_a_live_plan_far_past_due_knocks_out(model_version, good_customer, score, make_application):
    PolicyRule.objects.create(name="Overdue with us", kind=rules.OPEN_DELINQUENCY_WITH_US, threshold=Decimal("30"))
    earlier = make_application(good_customer, submit=False)
    plan = make_plan(earlier, disbursed=date(2026, 1, 15))
    Plan.objects.filter(pk=plan.pk).update(state=Plan.State.OVERDUE, days_past_due=20)
    assert _rules_hit(score(good_customer)) == []
    Plan.objects.filter(pk=plan.pk).update(days_past_due=45)
    result = score(good_customer)
    assert _rules_hit(result) == ["Overdue with us"] and result.rule_hits[0]["value"] == "45"
    Plan.objects.filter(pk=plan.pk).update(state=Plan.State.PAID_OFF)  # not live any more
    assert _rules_hit(score(good_customer)) == []


def test_a_resubmitted_application_is_scored_on_the_offer_the_customer_chose(model_version, good_customer,
                                                                              make_application):
    application = make_application(good_customer, amount="24000")
    online.application_score(application_id=application.pk)
    Offer.objects.create(application=application, method="equal_principal", amount=Decimal("24000"), term_months=24,
                         annual_rate=Decimal("10"), installment=Decimal("1200.00"), total_interest=Decimal("2500"),
                         total_fees=Decimal("0"), total_payable=Decimal("26500"), apr=Decimal("10"),
                         effective_annual_rate=Decimal("10.47"), chosen_at=timezone.now())
    installment_services.application_transition(application=application, to=Application.State.SUBMITTED,
                                                by=good_customer)
    result = online.application_score(application_id=application.pk)
    assert result.context["installment_basis"] == "chosen_offer"
    assert result.context["installment"] == "1200.00" and result.features["term_months"] == 24.0


def test_what_is_read_with_the_application_is_what_the_orm_reads(model_version, make_customer, make_application,
                                                                  product):
    customer = make_customer(lines={"income": "15000", "expenses": "3000",
                                    "debts": [("consumer_loan", "20000", "900"), ("other", "0", "0")],
                                    "assets": [("savings", "50000"), ("vehicle", "0")]})
    add_statement(customer.profile, overdraft_days=2, volatility="0.1234")
    application = make_application(customer)
    with transaction.atomic():
        prepared = online._application_to_score(application.pk)
        queried = online._applications_to_score(application.pk).first()
        assert [getattr(prepared, f.attname) for f in Application._meta.concrete_fields] == [
            getattr(queried, f.attname) for f in Application._meta.concrete_fields]
        assert {k: v for k, v in vars(prepared).items() if k.startswith("scoring_")} == {
            k: v for k, v in vars(queried).items() if k.startswith("scoring_")}
        profile = prepared.customer.profile
        assert (prepared.product, prepared.customer, profile) == (queried.product, queried.customer,
                                                                 queried.customer.profile)
        lines, tier_rates = online._profile_lines_and_tier_rates(profile=profile, product_id=product.pk)
    summary = applicant.applicant_summary(profile, lines=lines, statement=online._latest_statement(prepared))
    assert summary == applicant.applicant_summary(CustomerProfile.objects.get(pk=profile.pk))
    assert summary["overdraft_days"] == 2 and summary["debt_kinds"] == ["consumer_loan"]
    stored_rates = list(PriceTier.objects.filter(product=product).order_by("grade").values_list("annual_rate",
                                                                                                flat=True))
    assert [str(rate) for rate in tier_rates] == [str(rate) for rate in stored_rates]


def test_a_customer_without_a_profile_or_lines_is_read_with_the_application(model_version, make_application,
                                                                            product):
    customer = UserFactory(roles=["customer"])
    application = make_application(customer)
    with transaction.atomic():
        read = online._application_to_score(application.pk)
        assert read.pk == application.pk and read.scoring_statement_pk is None
        assert online._profile_of(read.customer) is None
        lines, tier_rates = online._profile_lines_and_tier_rates(profile=None, product_id=product.pk)
    assert lines is None and len(tier_rates) == len(TIER_RATES)


def test_a_changed_price_tier_and_a_new_statement_take_effect_on_the_next_scoring(model_version, good_customer,
                                                                                 score, product):
    middle = PriceTier.objects.filter(product=product).order_by("grade")[len(TIER_RATES) // 2]
    first = score(good_customer)
    assert first.context["annual_rate"] == str(middle.annual_rate)
    assert first.features["checking_status"] is None
    middle.annual_rate = Decimal("19.5000")
    middle.save()
    add_statement(good_customer.profile, overdraft_days=3)
    second = score(good_customer)
    assert second.context["annual_rate"] == "19.5000"
    assert Decimal(second.context["installment"]) > Decimal(first.context["installment"])
    assert second.features["checking_status"] == "negative"


# --- Occupation peers ------------------------------------------------------------------------------

def _plain_income_outlier_figures(income: float, peers: list[float]) -> tuple[float, float, float]:
    """(median, multiple, robust z) as the module docstring defines them, in plain Python."""
    import math

    median = statistics.median(peers)
    logs = [math.log(p) for p in peers]
    log_median = statistics.median(logs)
    mad = statistics.median([abs(v - log_median) for v in logs])
    return median, income / median, 0.6745 * (math.log(income) - log_median) / mad


@pytest.mark.parametrize("n", [5, 6, 51, 2000])
def test_prepared_peer_incomes_give_the_plain_figures(n):
    rng = __import__("random").Random(n)
    peers = [Decimal(rng.randint(3000, 30000)) for _ in range(n)] + [Decimal("0"), None]
    own = peers[2]
    others = [float(p) for i, p in enumerate(peers) if i != 2 and p]
    thresholds = anomalies.AnomalyThresholds(income_multiple=0.0, income_min_peers=3)  # always flag
    flag = anomalies.income_outlier(40000, anomalies.PeerIncomes.from_values(peers).without(own),
                                    occupation="teacher", thresholds=thresholds)
    median, multiple, robust_z = _plain_income_outlier_figures(40000.0, others)
    assert flag.detail == {"occupation": "teacher", "peers": len(others), "median": round(median, 2),
                           "multiple": round(multiple, 2), "robust_z": round(robust_z, 2)}


def test_occupation_peers_leave_the_applicant_out(db, make_customer):
    customers = [make_customer(occupation="teacher", lines={"income": str(6000 + 100 * n)}) for n in range(6)]
    peers = policy.occupation_peers("teacher")
    assert len(peers.incomes) == 6
    assert sorted(peers.without(customers[0].profile.pk).incomes) == [6100.0, 6200.0, 6300.0, 6400.0, 6500.0]
    assert len(peers.without(-1)) == 6


# --- Query count -----------------------------------------------------------------------------------

def _a_full_profile(make_customer, *, debts: int, assets: int):
    customer = make_customer(occupation="teacher", lines={
        "income": "15000", "expenses": "3000",
        "debts": [("consumer_loan", "20000", "900")] * debts, "assets": [("savings", "50000")] * assets})
    add_statement(customer.profile)
    return customer


# On PostgreSQL, inside the test's transaction: the savepoint of application_score, the locked
# application with its product, result, customer, profile, latest statement and the registry
# stamps, the profile's income / expense / debt / asset lines with the product's price tiers (one
# query), earlier results with the same ID number, recent applications from the phone or e-mail,
# the result's INSERT, then the state change on the locked row (UPDATE, audit INSERT) and the
# release of the outer savepoint. SQLite adds a savepoint around the INSERT (no row locks there).
MAX_SCORING_QUERIES = 9


def test_scoring_one_application_runs_a_bounded_number_of_queries(model_version, make_customer, make_application,
                                                                    django_assert_max_num_queries, monkeypatch,
                                                                    settings):
    monkeypatch.setattr(online, "_generate_offers", lambda application, **known: None)  # installments' own queries
    policy.policy_rules_ensure_defaults()
    for _ in range(3):  # occupation peers, a rule table and the model to warm the in-process copies with
        online.application_score(application_id=make_application(
            _a_full_profile(make_customer, debts=1, assets=1)).pk)
    small = _a_full_profile(make_customer, debts=1, assets=1)
    large = _a_full_profile(make_customer, debts=6, assets=6)
    for customer in (small, large, large):  # the same bound with more lines and with earlier results
        application = make_application(customer)
        with django_assert_max_num_queries(MAX_SCORING_QUERIES + (0 if settings.DATABASES["default"]["ENGINE"]
                                                                  .endswith("postgresql") else 2)):
            online.application_score(application_id=application.pk)
