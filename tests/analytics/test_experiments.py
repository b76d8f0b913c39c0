"""Experiment assignment and the comparison of arms (pure: no database)."""

from decimal import Decimal

import pandas as pd
import pytest

from installments.analytics import experiments
from installments.engine.offers import CreditStance, Preference
from installments.origination import experiments as assignment

IDS = range(1, 10_001)


def test_assignment_is_stable_per_customer():
    first = [assignment.assign_arm("price-test", i, Decimal("0.5")) for i in IDS]
    again = [assignment.assign_arm("price-test", i, Decimal("0.5")) for i in IDS]
    assert first == again


@pytest.mark.parametrize("ratio", [Decimal("0.5"), Decimal("0.2"), Decimal("0.9")])
def test_assignment_respects_the_ratio_within_two_points(ratio):
    share = sum(assignment.assign_arm("ratio-test", i, ratio) == assignment.VARIANT for i in IDS) / len(IDS)
    assert abs(share - float(ratio)) <= 0.02


def test_assignment_is_random_not_patterned_by_id_or_shared_between_experiments():
    arms = [assignment.assign_arm("pattern-test", i, Decimal("0.5")) == assignment.VARIANT for i in IDS]
    # Consecutive ids agree about half the time (alternation would give 0, blocks close to 1).
    agreements = sum(a == b for a, b in zip(arms, arms[1:], strict=False)) / (len(arms) - 1)
    assert 0.47 <= agreements <= 0.53
    # Even and odd ids, low and high ids: each half near 50 %.
    for half in (arms[::2], arms[1::2], arms[:5000], arms[5000:]):
        assert abs(sum(half) / len(half) - 0.5) <= 0.03
    # Another experiment splits independently: the two assignments agree about half the time.
    other = [assignment.assign_arm("another-test", i, Decimal("0.5")) == assignment.VARIANT for i in IDS]
    assert 0.47 <= sum(a == b for a, b in zip(arms, other, strict=True)) / len(IDS) <= 0.53


def test_assignment_point_is_uniform_over_deciles():
    points = [assignment.assignment_point("uniform", i) for i in IDS]
    deciles = pd.Series(points).mul(10).astype(int).value_counts()
    assert deciles.min() >= 900 and deciles.max() <= 1100
    with pytest.raises(ValueError):
        assignment.assign_arm("x", 1, 1.5)


def test_variant_applies_rate_and_default_term_control_does_not():
    from datetime import date

    stance, preference = CreditStance(rate_adjustment=Decimal("1")), Preference(amount=Decimal("10000"),
                                                                                disbursement_date=date(2026, 1, 1))
    variant = {"arm": "variant", "rate_adjustment": "-0.5000", "default_term_months": 18}
    new_stance, new_preference = assignment.variant_apply(variant, stance=stance, preference=preference)
    assert new_stance.rate_adjustment == Decimal("0.5") and new_preference.term == 18
    # A term the customer chose is kept.
    chosen = Preference(amount=Decimal("10000"), disbursement_date=date(2026, 1, 1), term=6)
    assert assignment.variant_apply(variant, stance=stance, preference=chosen)[1].term == 6
    control = {**variant, "arm": "control"}
    assert assignment.variant_apply(control, stance=stance, preference=preference) == (stance, preference)
    assert assignment.variant_apply(None, stance=stance, preference=preference) == (stance, preference)


def test_compare_arms_gives_intervals_for_take_up_apr_and_early_delinquency():
    rows = []
    for i in range(400):  # control: 120 of 400 take up (30 %), APR 12 / 14 alternating, 6 of 120 early late
        took = i < 120
        rows.append({"arm": "control", "took_up": took, "apr": (12.0 if i % 2 else 14.0) if took else float("nan"),
                     "early_delinquent": (i < 6) if took else float("nan")})
    for i in range(400):  # variant: 180 of 400 (45 %), APR 11 / 13, 18 of 180 early late
        took = i < 180
        rows.append({"arm": "variant", "took_up": took, "apr": (11.0 if i % 2 else 13.0) if took else float("nan"),
                     "early_delinquent": (i < 18) if took else float("nan")})
    result = experiments.compare_arms(pd.DataFrame(rows))
    take_up = result["take_up"]
    assert take_up["control"]["value"] == 0.3 and take_up["variant"]["value"] == 0.45
    assert take_up["control"]["low"] < 0.3 < take_up["control"]["high"]
    difference = take_up["difference"]
    assert difference["difference"] == pytest.approx(0.15)
    # Wald: 0.15 ± 1.96 x sqrt(0.45 x 0.55 / 400 + 0.3 x 0.7 / 400)
    assert difference["low"] == pytest.approx(0.15 - 1.959964 * (0.45 * 0.55 / 400 + 0.3 * 0.7 / 400) ** 0.5)
    assert difference["p"] < 0.001
    apr = result["average_apr"]
    assert apr["control"]["value"] == 13.0 and apr["variant"]["value"] == 12.0
    assert apr["difference"]["difference"] == pytest.approx(-1.0) and apr["difference"]["high"] < 0
    early = result["early_delinquency"]
    assert early["control"]["n"] == 120 and early["control"]["value"] == 0.05 and early["variant"]["value"] == 0.1
    assert early["difference"]["low"] < 0.05 < early["difference"]["high"]


def test_compare_arms_without_data_says_unknown():
    empty = pd.DataFrame(columns=["arm", "took_up", "apr", "early_delinquent"])
    result = experiments.compare_arms(empty)
    assert result["take_up"]["variant"]["value"] is None
    assert result["average_apr"]["difference"]["difference"] is None
