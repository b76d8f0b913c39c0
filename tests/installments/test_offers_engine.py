"""The offer engine on hand-built profiles: pricing and tier moves, affordability, seasonal plans,
ranking and labels, explanations, and the structured answer when nothing is affordable.

Pure: no database.
"""

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from installments.engine.offers import (
    GOOD_RECORD_MIN_ON_TIME,
    CreditStance,
    CustomerFinances,
    Preference,
    ProductTerms,
    Tier,
    offers_build,
    price,
)
from installments.engine.schedules import ScheduleError, build_schedule

D = Decimal
START = date(2026, 3, 10)
RATES = {"A": "7.2", "B": "9.6", "C": "12.0", "D": "14.4", "E": "16.8", "F": "19.2", "G": "21.6"}


def product(**changes) -> ProductTerms:
    tiers = tuple(Tier(g, D(r), D("50000"), 24 if g < "F" else 12) for g, r in RATES.items())
    base = dict(code="everyday", min_amount=D("1000"), max_amount=D("50000"), min_term=3, max_term=24, tiers=tiers,
                methods=("annuity", "equal_principal", "step_up", "seasonal", "zero_interest", "balloon",
                         "interest_only"),
                upfront_fee_rate=D("1"), max_payment_to_income=D("0.40"), max_debt_service_ratio=D("0.70"),
                promo_max_term=6, promo_monthly_fee_rate=D("0.6"))
    return ProductTerms(**{**base, **changes})


def finances(**changes) -> CustomerFinances:
    """A salaried customer: 15,000 a month, 4,000 expenses, 1,000 existing debt payments, 30,000 saved."""
    base = dict(monthly_income=D("15000"), monthly_expenses=D("4000"), existing_debt_monthly_payment=D("1000"),
                savings=D("30000"))
    return CustomerFinances(**{**base, **changes})


def preference(**changes) -> Preference:
    return Preference(**{"amount": D("30000"), "disbursement_date": START, **changes})


def build(*, stance=None, grade="C", prod=None, fin=None, **pref):
    return offers_build(product=prod or product(), stance=stance or CreditStance(), finances=fin or finances(),
                        grade=grade, preference=preference(**pref))


# --- Pricing: grade, reward and penalty, policy -----------------------------------------------------

def test_the_scored_grade_sets_the_rate_limit_and_term():
    pricing = price(product(), CreditStance(), "E", finances())
    assert (pricing.grade, pricing.annual_rate, pricing.max_term, pricing.tier_move) == ("E", D("16.8"), 24, None)


def test_without_a_grade_the_middle_tier_is_used_and_the_offer_says_so():
    offer_set = build(grade=None)
    assert offer_set.pricing.grade == "D" and offer_set.pricing.default_grade_used
    assert "default_grade" in [n.code for n in offer_set.notes]
    assert offer_set.offers[0].schedule.terms.annual_rate == D("14.4")


def test_a_good_record_with_us_moves_the_customer_one_tier_better():
    good = finances(on_time_payments=GOOD_RECORD_MIN_ON_TIME, late_payments=0, max_days_past_due=0)
    offer_set = build(grade="C", fin=good)
    assert offer_set.pricing.grade == "B" and offer_set.pricing.tier_move == "better"
    assert all(o.schedule.terms.annual_rate == D("9.6") for o in offer_set.offers if o.method != "zero_interest")
    assert "reward_tier" in [n.code for n in offer_set.notes]


def test_a_good_record_in_the_best_tier_raises_the_limit_by_a_fifth_instead():
    tiers = tuple(Tier(g, D(r), D("20000"), 24) for g, r in RATES.items())
    good = finances(on_time_payments=12)
    pricing = price(product(tiers=tiers), CreditStance(), "A", good)
    assert (pricing.grade, pricing.tier_move, pricing.max_amount) == ("A", "higher_limit", D("24000.00"))


@pytest.mark.parametrize("record", [{"max_days_past_due": 31}, {"late_payments": 3}])
def test_late_history_moves_the_customer_one_tier_stricter(record):
    offer_set = build(grade="C", fin=finances(on_time_payments=20, **record))
    assert offer_set.pricing.grade == "D" and offer_set.pricing.tier_move == "stricter"
    assert "penalty_tier" in [n.code for n in offer_set.notes]


def test_a_little_lateness_is_neither_rewarded_nor_penalised():
    pricing = price(product(), CreditStance(), "C", finances(on_time_payments=20, late_payments=1,
                                                              max_days_past_due=5))
    assert (pricing.grade, pricing.tier_move) == ("C", None)


def test_policy_adjusts_rate_limit_and_term():
    stance = CreditStance(rate_adjustment=D("1.5"), max_amount_factor=D("0.5"), max_term=12)
    pricing = price(product(), stance, "C", finances())
    assert (pricing.annual_rate, pricing.max_amount, pricing.max_term) == (D("13.5"), D("25000.00"), 12)
    offer_set = build(stance=stance)
    assert offer_set.amount == D("25000.00") and "amount_reduced" in [n.code for n in offer_set.notes]
    assert max(o.term for o in offer_set.offers) <= 12


def test_policy_cut_off_refuses_worse_grades_with_a_reason():
    offer_set = build(stance=CreditStance(cutoff_grade="D"), grade="E")
    assert not offer_set.offers
    assert [r.code for r in offer_set.reasons] == ["grade_below_cutoff"]
    assert "risk grade E" in offer_set.reasons[0].en and offer_set.reasons[0].zh


# --- Candidates, affordability, APR cap ----------------------------------------------------------

def test_at_least_twelve_candidates_are_priced_and_each_offer_is_the_exact_schedule():
    offer_set = build(term=12, target_monthly_payment=D("2000"))
    assert offer_set.considered >= 12
    assert 1 <= len(offer_set.offers) <= 5
    for offer in offer_set.offers:
        assert offer.schedule == build_schedule(offer.terms)
        assert sum(r.principal for r in offer.schedule.installments) == offer.schedule.amount_financed
        assert offer.schedule.apr <= D("24")


def test_the_affordability_filter_drops_plans_over_the_payment_to_income_limit():
    # 6,000 a month of income: 40 % is 2,400; 30,000 over 12 months at 12 % is about 2,665 a month.
    fin = finances(monthly_income=D("6000"), monthly_expenses=D("1000"), existing_debt_monthly_payment=D("0"))
    offer_set = build(fin=fin, term=12)
    assert offer_set.rejected.get("payment_to_income")
    assert offer_set.offers
    for offer in offer_set.offers:
        assert offer.highest_installment <= D("2400")
        assert offer.payment_to_income <= D("0.40")
    assert all(not (o.method == "annuity" and o.term == 12) for o in offer_set.offers)
    assert "preferred_term_unaffordable" in [n.code for n in offer_set.notes]


def test_the_debt_service_ratio_counts_existing_debts_and_expenses():
    # 10,000 income, 6,000 already committed: at most 70 % -> 1,000 a month is left for the new plan.
    fin = finances(monthly_income=D("10000"), monthly_expenses=D("4500"), existing_debt_monthly_payment=D("1500"))
    offer_set = build(fin=fin, amount=D("12000"))
    assert offer_set.offers
    for offer in offer_set.offers:
        assert offer.debt_service_ratio <= D("0.70")
        assert offer.highest_installment <= D("1000")


def test_a_lump_sum_plan_needs_savings_that_cover_the_final_payment():
    offers_with = build(fin=finances(savings=D("50000")), count=10)
    offers_without = build(fin=finances(savings=D("0")), count=10)
    assert offers_without.rejected.get("final_payment")
    assert not any(o.method in ("balloon", "interest_only") for o in offers_without.offers)
    assert offers_with.rejected.get("final_payment", 0) < offers_without.rejected["final_payment"]


def test_plans_over_the_apr_cap_are_dropped():
    # Grade G (21.6 %) with a 3 % upfront fee: short plans cost more than 24 % APR.
    offer_set = build(grade="G", prod=product(upfront_fee_rate=D("3")), amount=D("5000"), term=3)
    assert offer_set.rejected.get("apr_cap")
    assert all(o.schedule.apr <= D("24") for o in offer_set.offers)


def test_a_zero_interest_promotion_is_offered_on_its_terms_with_its_fees():
    offer_set = build(amount=D("6000"), term=6, count=10)
    promo = [o for o in offer_set.offers if o.method == "zero_interest"]
    assert promo and promo[0].term <= 6 and "promotion" in promo[0].labels
    assert promo[0].schedule.total_interest == 0 and promo[0].schedule.total_fees > 0
    assert promo[0].schedule.apr > 0  # the fees are the price, and the APR shows it


# --- Seasonal income ----------------------------------------------------------------------------------

def test_seasonal_income_yields_a_seasonal_plan_labelled_as_such():
    # Takings fall in January and February (a quarter lower): level plans must fit those months.
    fin = finances(monthly_income=D("12000"), monthly_expenses=D("3500"), existing_debt_monthly_payment=D("1500"),
                   seasonal_low_months=frozenset({1, 2}))
    offer_set = build(fin=fin, amount=D("30000"), term=24, income_pattern="seasonal")
    seasonal = [o for o in offer_set.offers if o.method == "seasonal"]
    assert seasonal, [o.method for o in offer_set.offers]
    offer = seasonal[0]
    assert "seasonal_match" in offer.labels
    assert offer.terms.seasonal_months == frozenset({1, 2})
    lean = [r.payment for r in offer.schedule.installments[:-1] if r.due_date.month in (1, 2)]
    other = [r.payment for r in offer.schedule.installments[:-1] if r.due_date.month not in (1, 2)]
    assert max(lean) < min(other)
    assert "Jan, Feb" in offer.explanation_en and "1月、2月" in offer.explanation_zh
    assert "Matches your seasonal income" in offer.explanation_en


def test_low_months_stated_on_the_application_count_as_seasonal():
    offer_set = build(income_pattern="seasonal", low_income_months=frozenset({7, 8}), term=12)
    assert any(o.method == "seasonal" and o.terms.seasonal_months == frozenset({7, 8}) for o in offer_set.offers)


def test_a_seasonal_pattern_without_months_asks_for_them():
    offer_set = build(income_pattern="seasonal")
    assert "seasonal_months_unknown" in [n.code for n in offer_set.notes]
    assert not any(o.method == "seasonal" for o in offer_set.offers)


def test_regular_income_gets_no_seasonal_plan():
    assert not any(o.method == "seasonal" for o in build(count=10).offers)


# --- Ranking, labels and explanations ------------------------------------------------------------------

def test_offers_are_ranked_with_distinct_labels_and_letters():
    offer_set = build(term=12, target_monthly_payment=D("2700"))
    offers = offer_set.offers
    assert [o.rank for o in offers] == list(range(1, len(offers) + 1))
    assert [o.letter for o in offers] == ["A", "B", "C", "D", "E"][: len(offers)]
    assert [o.score for o in offers] == sorted(o.score for o in offers)
    labels = [label for o in offers for label in o.labels]
    assert len(labels) == len(set(labels))
    assert {"best_match", "cheapest", "lowest_payment", "closest_target"} <= set(labels)
    assert "best_match" in offers[0].labels


def test_the_cheapest_and_lowest_payment_labels_are_true():
    offers = build(count=10).offers
    cheapest = next(o for o in offers if "cheapest" in o.labels)
    lowest = next(o for o in offers if "lowest_payment" in o.labels)
    assert cheapest.total_cost == min(o.total_cost for o in offers)
    amortising = [o for o in offers if o.method not in ("balloon", "interest_only", "combination")]
    assert lowest in amortising  # a final lump sum is not a low payment
    assert lowest.highest_installment == min(o.highest_installment for o in amortising)


def test_the_plan_closest_to_the_target_ranks_first():
    # A 1,450 a month budget on 30,000 at 12 %: 24 months (1,412.20) is the equal-installment fit.
    offer_set = build(target_monthly_payment=D("1450"))
    first = offer_set.offers[0]
    assert first.highest_installment <= D("1450")
    assert abs(first.highest_installment - D("1450")) <= D("250")


def test_a_preferred_plan_type_is_offered_and_labelled():
    offer_set = build(method="step_up", term=24)
    step = [o for o in offer_set.offers if o.method == "step_up"]
    assert step and "preferred_type" in step[0].labels


def test_explanations_state_the_trade_off_against_plan_a_in_both_languages():
    offers = build(term=12, target_monthly_payment=D("2700")).offers
    a, others = offers[0], offers[1:]
    assert a.explanation_en.startswith("Plan A:") and a.explanation_zh.startswith("方案A：")
    assert f"APR {a.schedule.apr}%" in a.explanation_en
    for offer in others:
        assert "Compared with plan A:" in offer.explanation_en and "与方案A相比" in offer.explanation_zh
        cost = offer.total_cost - a.total_cost
        if cost > 0:
            assert f"{cost:,.2f} more interest and fees" in offer.explanation_en
        pay = offer.highest_installment - a.highest_installment
        if pay < 0:
            assert f"lower monthly payment ({-pay:,.2f} less)" in offer.explanation_en


def test_high_debt_gets_the_advice_that_a_shorter_term_saves_interest():
    # High income but 35 % of it already goes on debts.
    fin = finances(monthly_income=D("40000"), monthly_expenses=D("6000"), existing_debt_monthly_payment=D("14000"))
    offers = build(fin=fin, count=10).offers
    shortest = min(o.term for o in offers)
    advised = [o for o in offers if "a shorter term" in o.explanation_en]
    assert advised and all(o.term > shortest for o in advised)
    assert "35%" in advised[0].explanation_en and "建议" in advised[0].explanation_zh


def test_the_same_request_gives_the_same_offers():
    first, second = build(term=12), build(term=12)
    assert [(o.method, o.term, o.installment) for o in first.offers] == \
        [(o.method, o.term, o.installment) for o in second.offers]


# --- Nothing affordable ----------------------------------------------------------------------------------

def test_nothing_affordable_says_why_and_what_would_be():
    fin = finances(monthly_income=D("8000"), monthly_expenses=D("3000"), existing_debt_monthly_payment=D("1500"))
    offer_set = build(fin=fin, amount=D("50000"))
    assert not offer_set.offers and not offer_set.affordable
    assert [r.code for r in offer_set.reasons][0] == "over_budget"
    assert "at most 1,100.00 a month" in offer_set.reasons[0].en
    suggestion = offer_set.suggestion
    assert suggestion is not None and suggestion.term == 24 and suggestion.method == "annuity"
    assert suggestion.amount < D("50000") and suggestion.amount % 100 == 0
    assert suggestion.installment <= D("1100")
    assert f"{suggestion.amount:,.2f}" in suggestion.en and suggestion.zh
    # ...and it really is affordable.
    assert build(fin=fin, amount=suggestion.amount, term=24).offers


def test_no_room_at_all_gives_no_suggestion():
    fin = finances(monthly_income=D("5000"), monthly_expenses=D("2500"), existing_debt_monthly_payment=D("1200"))
    offer_set = build(fin=fin)
    assert not offer_set.offers and offer_set.suggestion is None
    assert [r.code for r in offer_set.reasons] == ["no_room"]


def test_no_income_on_file_asks_for_it():
    offer_set = build(fin=CustomerFinances(monthly_income=None))
    assert not offer_set.offers and [r.code for r in offer_set.reasons] == ["no_income"]


def test_the_statement_inflow_caps_the_declared_income():
    declared = finances(monthly_income=D("15000"))
    proven = replace(declared, average_monthly_inflow=D("7000"))
    assert proven.income == D("7000")
    high = max(o.highest_installment for o in build(fin=declared, count=10).offers)
    assert all(o.highest_installment <= D("2800") < high for o in build(fin=proven, count=10).offers)


def test_summary_is_json_ready():
    summary = build(fin=finances(monthly_income=D("4000"))).summary()
    assert summary["offered"] == 0 and summary["reasons"] and isinstance(summary["amount"], str)


def test_malformed_preferences_name_the_field():
    with pytest.raises(ScheduleError) as error:
        preference(amount=D("-1"))
    assert error.value.field == "amount"
    with pytest.raises(ScheduleError) as error:
        preference(low_income_months=frozenset({13}))
    assert error.value.field == "low_income_months"
    with pytest.raises(ScheduleError) as error:
        price(product(), CreditStance(), "Z", finances())
    assert error.value.field == "grade"


def test_from_summary_reads_a_profile_summary_dict():
    summary = {"monthly_income": D("9000.00"), "monthly_expenses": D("3000.00"),
               "existing_debt_monthly_payment": D("500.00"), "savings": None, "seasonal_low_months": [1, 2],
               "on_time_payments": 7, "late_payments": 0, "max_days_past_due": 0, "average_monthly_inflow": None,
               "income_volatility": None, "debt_to_income": D("0.0556")}
    fin = CustomerFinances.from_summary(summary)
    assert fin.income == D("9000.00") and fin.seasonal_low_months == frozenset({1, 2}) and fin.savings is None
    assert CustomerFinances.from_summary(None).income is None
