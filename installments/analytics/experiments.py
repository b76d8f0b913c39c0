"""Product experiments: stable random assignment of customers to arms and the comparison of arms.

Pure Python and pandas; no Django. The models and verbs live in `installments.models`
(`Experiment`, `ExperimentAssignment`) and `installments.analytics.services`.

Assignment. A customer's arm is decided by hashing (experiment key, customer id) with SHA-256 into
a number u uniformly spread over [0, 1): u < ratio puts them in the variant, otherwise in control.
The same customer always lands in the same arm of an experiment (no state needed, so a retry or a
second application never flips it), different experiments split independently, and the share in
the variant converges to the ratio.

Comparison. Per arm: take-up (share of the arm's applications whose customer accepted a
contract), average APR of the plans taken up, and early delinquency (share of the arm's plans
more than 30 days past due within their first months on book). Proportions get 95 % Wilson
intervals and means normal-approximation intervals; the variant-minus-control difference gets a
95 % interval (Wald, unpooled) and a two-sided p value (pooled z-test for proportions, Welch z for
means).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from decimal import Decimal

import pandas as pd

from installments.analytics.portfolio import Z95, two_proportion_test, wilson_interval

CONTROL = "control"
VARIANT = "variant"
ARMS = (CONTROL, VARIANT)
EARLY_DELINQUENCY_MONTHS = 4
EARLY_DELINQUENCY_DAYS = 31


def assignment_point(key: str, customer_id: int) -> float:
    """Where (key, customer) falls in [0, 1): the first 64 bits of SHA-256("key:id") / 2**64."""
    digest = hashlib.sha256(f"{key}:{int(customer_id)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_arm(key: str, customer_id: int, ratio: Decimal | float) -> str:
    """The customer's arm: VARIANT with probability `ratio` (the variant's share, 0 to 1), else CONTROL."""
    ratio = float(ratio)
    if not 0 <= ratio <= 1:
        raise ValueError("ratio must be between 0 and 1")
    return VARIANT if assignment_point(key, customer_id) < ratio else CONTROL


def variant_apply(variant: Mapping | None, *, stance, preference):
    """The offer engine's inputs with an experiment's variant applied; unchanged for control or None.

    `stance` is an `offers.CreditStance`, `preference` an `offers.Preference` (frozen dataclasses).
    The variant's `rate_adjustment` (percentage points) is added to the stance's; its
    `default_term_months` becomes the preferred term when the customer stated none.
    """
    if not variant or variant.get("arm") != VARIANT:
        return stance, preference
    adjustment = Decimal(str(variant.get("rate_adjustment") or 0))
    if adjustment:
        stance = replace(stance, rate_adjustment=stance.rate_adjustment + adjustment)
    term = variant.get("default_term_months")
    if term and preference.term is None:
        preference = replace(preference, term=int(term))
    return stance, preference


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
