"""Knock-out / policy rules and anomaly checks as pure functions."""

import ast
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from scoring import anomalies, rules
from scoring.rules import ApplicantFacts, RuleSpec, evaluate_rules

GOOD = ApplicantFacts(age=35, monthly_income=Decimal("10000"), monthly_expenses=Decimal("3000"),
                      existing_debt_monthly_payment=Decimal("1000"), new_installment=Decimal("2000"),
                      past_delinquencies=0, id_valid=True, id_used_by_another_customer=False,
                      days_past_due_with_us=0, amount_overdue_with_us=Decimal("0"))


def rule(kind, threshold=None, **kwargs):
    return RuleSpec(name=f"rule {kind}", kind=kind, threshold=None if threshold is None else Decimal(threshold),
                    **kwargs)


def test_rules_and_anomalies_are_pure_python_without_django():
    for module in ("rules", "anomalies"):
        tree = ast.parse((Path(__file__).parents[2] / "scoring" / f"{module}.py").read_text())
        names = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        names += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        assert not any(name.split(".")[0] == "django" for name in names), module


def test_a_good_applicant_hits_no_rule():
    every_rule = [rule(rules.MIN_AGE, "18"), rule(rules.MAX_AGE, "65"), rule(rules.MIN_INCOME, "2000"),
                  rule(rules.MAX_DEBT_TO_INCOME, "0.6"), rule(rules.MAX_PAYMENT_TO_INCOME, "0.4"),
                  rule(rules.MAX_DEBT_SERVICE_RATIO, "0.9"), rule(rules.MAX_PAST_DELINQUENCIES, "2"),
                  rule(rules.INVALID_ID), rule(rules.DUPLICATE_ID), rule(rules.OPEN_DELINQUENCY_WITH_US, "0")]
    assert evaluate_rules(every_rule, GOOD) == []


@pytest.mark.parametrize(("kind", "threshold", "facts", "value"), [
    (rules.MIN_AGE, "18", {"age": 17}, "17"),
    (rules.MIN_AGE, "18", {"age": None}, None),
    (rules.MAX_AGE, "65", {"age": 66}, "66"),
    (rules.MIN_INCOME, "2000", {"monthly_income": Decimal("1999.99")}, "1999.99"),
    (rules.MAX_DEBT_TO_INCOME, "0.25", {}, "0.3"),  # (1000 + 2000) / 10000
    (rules.MAX_DEBT_TO_INCOME, "0.6", {"monthly_income": None}, "inf"),
    (rules.MAX_PAYMENT_TO_INCOME, "0.15", {}, "0.2"),
    (rules.MAX_DEBT_SERVICE_RATIO, "0.5", {}, "0.6"),
    (rules.MAX_PAST_DELINQUENCIES, "1", {"past_delinquencies": 2}, "2"),
    (rules.INVALID_ID, None, {"id_valid": False}, "False"),
    (rules.INVALID_ID, None, {"id_valid": None}, None),
    (rules.DUPLICATE_ID, None, {"id_used_by_another_customer": True}, "True"),
    (rules.OPEN_DELINQUENCY_WITH_US, "0", {"days_past_due_with_us": 5}, "5"),
    (rules.OPEN_DELINQUENCY_WITH_US, "30", {"amount_overdue_with_us": Decimal("50")}, "0"),
])
def test_each_rule_kind_hits_with_its_name_value_and_plain_reason(kind, threshold, facts, value):
    spec = rule(kind, threshold)
    facts = ApplicantFacts(**{**GOOD.__dict__, **facts})
    [hit] = evaluate_rules([spec], facts)
    assert hit.rule == spec.name and hit.kind == kind and hit.knock_out
    assert hit.value == value
    assert hit.text_en and hit.text_zh and "{threshold}" not in hit.text_en


def test_a_rule_at_its_threshold_does_not_hit():
    facts = ApplicantFacts(**{**GOOD.__dict__, "age": 18, "monthly_income": Decimal("2000")})
    assert evaluate_rules([rule(rules.MIN_AGE, "18"), rule(rules.MIN_INCOME, "2000")], facts) == []


def test_the_threshold_and_custom_wording_reach_the_customer_message():
    [hit] = evaluate_rules([rule(rules.MIN_AGE, "21")], ApplicantFacts(age=19))
    assert "21" in hit.text_en and "21" in hit.text_zh
    custom = rule(rules.MIN_AGE, "21", message_en="Come back at {threshold}.", message_zh="{threshold}岁后再来。")
    [hit] = evaluate_rules([custom], ApplicantFacts(age=19))
    assert (hit.text_en, hit.text_zh) == ("Come back at 21.", "21岁后再来。")


def test_a_referral_rule_is_recorded_but_does_not_knock_out():
    [hit] = evaluate_rules([rule(rules.MAX_AGE, "60", knock_out=False)], ApplicantFacts(age=61))
    assert not hit.knock_out


def test_a_threshold_rule_without_threshold_or_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="threshold"):
        RuleSpec(name="x", kind=rules.MIN_AGE)
    with pytest.raises(ValueError, match="kind"):
        RuleSpec(name="x", kind="astrology")


def test_rule_in_force_respects_its_dates():
    on = date(2026, 6, 1)
    assert rules.rule_is_in_force(is_active=True, effective_from=date(2026, 1, 1), effective_to=None, on=on)
    assert not rules.rule_is_in_force(is_active=True, effective_from=date(2026, 7, 1), effective_to=None, on=on)
    assert not rules.rule_is_in_force(is_active=True, effective_from=date(2026, 1, 1), effective_to=on, on=on)
    assert not rules.rule_is_in_force(is_active=False, effective_from=date(2026, 1, 1), effective_to=None, on=on)


# --- Anomalies ------------------------------------------------------------------------------------

T = anomalies.AnomalyThresholds()


def test_same_id_under_different_names_is_flagged_names_compared_loosely():
    assert anomalies.same_id_different_names(["Li Na", "li  na", "LI NA"]) is None
    flag = anomalies.same_id_different_names(["Li Na", "Wang Fang"])
    assert flag.code == anomalies.SAME_ID_DIFFERENT_NAMES and flag.detail["names"] == 2


def test_bursts_of_applications_from_one_phone_or_email():
    assert anomalies.application_burst(channel="phone", count=2, distinct_customers=1, thresholds=T) is None
    flag = anomalies.application_burst(channel="phone", count=3, distinct_customers=3, thresholds=T)
    assert flag.code == anomalies.APPLICATION_BURST_PHONE and "3 customers" in flag.text_en
    flag = anomalies.application_burst(channel="email", count=4, distinct_customers=1, thresholds=T)
    assert flag.code == anomalies.APPLICATION_BURST_EMAIL


def test_income_far_above_the_occupation_is_flagged():
    peers = [5000, 5500, 6000, 6500, 7000, 7500]
    assert anomalies.income_outlier(8000, peers, occupation="teacher", thresholds=T) is None
    flag = anomalies.income_outlier(40000, peers, occupation="teacher", thresholds=T)
    assert flag.code == anomalies.INCOME_OUTSIDE_OCCUPATION_RANGE
    assert flag.detail["multiple"] == pytest.approx(40000 / 6250, rel=1e-3)
    # A very low income is not an inflated one, and too few peers cannot judge.
    assert anomalies.income_outlier(500, peers, occupation="teacher", thresholds=T) is None
    assert anomalies.income_outlier(40000, peers[:4], occupation="teacher", thresholds=T) is None


def test_income_outlier_by_robust_z_even_below_the_multiple():
    peers = [6000, 6010, 6020, 6030, 6040, 6050, 6060]
    flag = anomalies.income_outlier(12000, peers, occupation="clerk", thresholds=T)  # 2x median, z huge
    assert flag is not None and flag.detail["robust_z"] > 3.5


def test_statement_inflows_contradicting_declared_income():
    assert anomalies.inflow_contradicts_income(Decimal("10000"), Decimal("6000"), thresholds=T) is None
    flag = anomalies.inflow_contradicts_income(Decimal("10000"), Decimal("3000"), thresholds=T)
    assert flag.code == anomalies.INFLOW_CONTRADICTS_INCOME and "30%" in flag.text_en
    assert anomalies.inflow_contradicts_income(Decimal("10000"), None, thresholds=T) is None
