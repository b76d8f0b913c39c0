"""Product experiments: the comparison of the arms (pure pandas; no Django).

The experiments themselves, their verbs and the assignment of customers to arms are origination's
(`installments.origination.experiments`); the results are read in `installments.analytics.services`.

Comparison. Per arm: take-up (share of the arm's applications whose customer accepted a
contract), average APR of the plans taken up, and early delinquency (share of the arm's plans
more than 30 days past due within their first months on book). Proportions get 95 % Wilson
intervals and means normal-approximation intervals; the variant-minus-control difference gets a
95 % interval (Wald, unpooled) and a two-sided p value (pooled z-test for proportions, Welch z for
means).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from installments.analytics.portfolio import Z95, two_proportion_test, wilson_interval
from installments.origination.experiments import ARMS, CONTROL, VARIANT  # noqa: F401 (the arms' names)

EARLY_DELINQUENCY_MONTHS = 4
EARLY_DELINQUENCY_DAYS = 31


# --- Statistics of the arms ---------------------------------------------------------------------------

def proportion_summary(successes: int, n: int) -> dict:
    low, high = wilson_interval(successes, n)
    return {"n": int(n), "successes": int(successes), "value": successes / n if n else None, "low": low, "high": high}


def mean_summary(values: Sequence[float]) -> dict:
    """Mean with a 95 % normal-approximation interval (mean ± 1.96 s / sqrt(n)); s needs n >= 2."""
    values = [float(v) for v in values]
    n = len(values)
    if not n:
        return {"n": 0, "value": None, "low": None, "high": None, "sd": None}
    mean = sum(values) / n
    if n < 2:
        return {"n": 1, "value": mean, "low": None, "high": None, "sd": None}
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = Z95 * sd / math.sqrt(n)
    return {"n": n, "value": mean, "low": mean - half, "high": mean + half, "sd": sd}


def proportion_difference(variant: dict, control: dict) -> dict:
    """variant - control of two `proportion_summary`s: difference, 95 % Wald interval, p value."""
    n1, n0 = variant["n"], control["n"]
    if not n1 or not n0:
        return {"difference": None, "low": None, "high": None, "p": None}
    p1, p0 = variant["successes"] / n1, control["successes"] / n0
    se = math.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    _z, p = two_proportion_test(variant["successes"], n1, control["successes"], n0)
    difference = p1 - p0
    return {"difference": difference, "low": difference - Z95 * se, "high": difference + Z95 * se, "p": p}


def mean_difference(variant: dict, control: dict) -> dict:
    """variant - control of two `mean_summary`s: difference, 95 % interval and p (Welch, normal)."""
    if variant["sd"] is None or control["sd"] is None:
        return {"difference": None, "low": None, "high": None, "p": None}
    difference = variant["value"] - control["value"]
    se = math.sqrt(variant["sd"] ** 2 / variant["n"] + control["sd"] ** 2 / control["n"])
    p = 1.0 if se == 0 else math.erfc(abs(difference / se) / math.sqrt(2))
    return {"difference": difference, "low": difference - Z95 * se, "high": difference + Z95 * se, "p": p}


def compare_arms(units: pd.DataFrame) -> dict:
    """Compare the arms of an experiment.

    `units` has one row per application in the experiment: arm, took_up (bool: a contract was
    accepted), apr (percent; NaN unless taken up), early_delinquent (bool; NaN while the plan is
    too young to tell or there is no plan). Returns, for take_up, average_apr and
    early_delinquency: each arm's summary and the variant-minus-control difference.
    """
    result = {}
    arms = {arm: units[units["arm"] == arm] for arm in ARMS}
    take_up = {arm: proportion_summary(int(rows["took_up"].astype(bool).sum()), len(rows)) for arm, rows in arms.items()}
    result["take_up"] = {**take_up, "difference": proportion_difference(take_up[VARIANT], take_up[CONTROL])}
    apr = {arm: mean_summary(rows["apr"].dropna().tolist()) for arm, rows in arms.items()}
    result["average_apr"] = {**apr, "difference": mean_difference(apr[VARIANT], apr[CONTROL])}
    early = {}
    for arm, rows in arms.items():
        known = rows["early_delinquent"].dropna().astype(bool)
        early[arm] = proportion_summary(int(known.sum()), len(known))
    result["early_delinquency"] = {**early, "difference": proportion_difference(early[VARIANT], early[CONTROL])}
    return result
