"""Offer engine speed: a realistic personalised offer set, beside numpy-financial's float arithmetic.

The request: a small-shop owner with seasonal takings (low in January and February) asks for
30,000 CNY over about 12 months at no more than 2,000 a month, on an "Everyday purchase"-like
product (grade C, 1 % upfront fee, a 0 % promotion up to 6 months). The engine prices every
candidate plan exactly (Decimal schedule, totals, APR), checks affordability month by month,
ranks, labels and explains the best five in English and Chinese.

Measured in the same run:
* `offers_build`: the whole offer set (>= 12 candidates, each with its APR);
* the same candidate schedules computed by numpy-financial in floats: npf.pmt / ipmt / ppmt for
  level plans, a float amortisation loop for the others (the same payments), and npf.irr of
  every plan's cash flows for the APR -- what a float implementation would do, minus the
  ranking and the words.
Target: an offer set in under 20 ms. Prints figures only.

    python bench/bench_offers.py
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np
import numpy_financial as npf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from installments.engine.offers import (  # noqa: E402
    CreditStance,
    CustomerFinances,
    Preference,
    ProductTerms,
    Tier,
    candidate_terms,
    low_income_months,
    offers_build,
    price,
)
from installments.engine.schedules import build_schedule  # noqa: E402

REPEATS = 5
D = Decimal

PRODUCT = ProductTerms(
    code="everyday",
    min_amount=D("1000"),
    max_amount=D("50000"),
    min_term=3,
    max_term=24,
    tiers=tuple(Tier(g, D(r), D("50000"), 24) for g, r in zip(
        "ABCDEFG", ("7.2", "9.6", "12.0", "14.4", "16.8", "19.2", "21.6"), strict=True)),
    methods=("annuity", "equal_principal", "step_up", "seasonal", "zero_interest", "balloon", "interest_only"),
    upfront_fee_rate=D("1"),
    monthly_fee=D("0"),
    max_payment_to_income=D("0.40"),
    max_debt_service_ratio=D("0.70"),
    promo_max_term=6,
    promo_monthly_fee_rate=D("0.6"),
)
FINANCES = CustomerFinances(
    monthly_income=D("14000"),
    monthly_expenses=D("4000"),
    existing_debt_monthly_payment=D("1200"),
    savings=D("40000"),
    average_monthly_inflow=D("15500"),
    income_volatility=D("0.32"),
    seasonal_low_months=frozenset({1, 2}),
    on_time_payments=4,
)
PREFERENCE = Preference(
    amount=D("30000"),
    disbursement_date=date(2026, 3, 10),
    term=12,
    target_monthly_payment=D("2000"),
    income_pattern="seasonal",
    low_income_months=frozenset({1, 2}),
)


def per_call(work, calls: int) -> float:
    """Seconds per call: the median of REPEATS timed batches."""
    work()  # warm up
    times = []
    for _ in range(REPEATS):
        began = time.perf_counter()
        for _ in range(calls):
            work()
        times.append(time.perf_counter() - began)
    return statistics.median(times) / calls


def build_offers():
    return offers_build(product=PRODUCT, stance=CreditStance(), finances=FINANCES, grade="C", preference=PREFERENCE)


def candidates():
    pricing = price(PRODUCT, CreditStance(), "C", FINANCES)
    plans, _ = candidate_terms(PRODUCT, pricing, PREFERENCE, PREFERENCE.amount, low_income_months(PREFERENCE, FINANCES))
    return plans


def float_plans(plans) -> list[tuple]:
    """Each candidate as floats: (method, amount financed, net advance, monthly rate, term, fee, payments)."""
    rows = []
    for terms in plans:
        schedule = build_schedule(terms)
        rows.append((terms.method, float(terms.amount_financed), float(terms.net_disbursed),
                     float(terms.annual_rate) / 1200, terms.term, float(terms.monthly_fee),
                     np.array([float(r.payment) for r in schedule.installments])))
    return rows


def numpy_set(rows) -> list[float]:
    """The candidate schedules in floats, each with its APR from npf.irr."""
    aprs = []
    for method, financed, advance, rate, term, fee, given in rows:
        periods = np.arange(1, term + 1)
        if method == "annuity":
            level = -npf.pmt(rate, term, financed)
            npf.ipmt(rate, periods, term, financed)
            npf.ppmt(rate, periods, term, financed)
            payments = np.full(term, level + fee)
        elif method == "zero_interest":
            payments = np.full(term, financed / term + fee)
        else:  # the same payments, amortised in floats
            payments = given
            balance = financed
            for payment in payments:
                interest = balance * rate
                balance -= payment - fee - interest
        aprs.append(float(npf.irr(np.concatenate(([-advance], payments)))) * 1200)
    return aprs


def main() -> None:
    offer_set = build_offers()
    plans = candidates()
    print("Request: 30,000 CNY, ~12 months, target 2,000 a month, seasonal income (Jan, Feb low), grade C")
    print(f"Candidates priced (exact schedule + APR each): {offer_set.considered} "
          f"({len({p.method for p in plans})} plan types, terms {sorted({p.term for p in plans})})")
    print(f"Dropped: {offer_set.rejected}")
    print(f"Offers returned: {len(offer_set.offers)}")
    for offer in offer_set.offers:
        print(f"  {offer.letter} {offer.method:<16} {offer.term:>2} m  first {offer.installment:>9}  "
              f"highest {offer.highest_installment:>9}  cost {offer.total_cost:>9}  APR {offer.schedule.apr:>6}%  "
              f"{', '.join(offer.labels)}")
    print()

    exact = per_call(build_offers, 50)
    schedules_only = per_call(lambda: [build_schedule(p) for p in plans], 50)
    rows = float_plans(plans)
    floats = per_call(lambda: numpy_set(rows), 50)
    print(f"  {'offers_build (exact Decimal, ranked, explained)':<56} {1 / exact:>8,.1f} sets/s  "
          f"{exact * 1e3:7.2f} ms per set")
    print(f"  {'... of which the exact candidate schedules with APR':<56} {1 / schedules_only:>8,.1f} sets/s  "
          f"{schedules_only * 1e3:7.2f} ms")
    print(f"  {'numpy-financial, the same schedules in floats + irr':<56} {1 / floats:>8,.1f} sets/s  "
          f"{floats * 1e3:7.2f} ms")
    print(f"  target: under 20 ms per offer set -> {'met' if exact < 0.020 else 'NOT met'}")


if __name__ == "__main__":
    main()
