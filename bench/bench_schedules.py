"""Plan engine speed: exact Decimal schedules with APR, beside numpy-financial's float arithmetic.

Measured in the same run:
* a 36-month annuity, exact to the cent with totals, APR and effective rate (`build_schedule`),
  beside numpy-financial computing the same schedule in floats (pmt, ipmt, ppmt over the 36
  periods) and, for a like-for-like APR, that plus `npf.irr` of its cash flows;
* an offers-like set: 14 candidate plans of different types and terms, each with its APR;
* the servicing calls an officer's screen makes (payoff quote, prepayment, holiday).
Target: a 36-period schedule with APR well under 1 ms. Prints figures only.

    python bench/bench_schedules.py
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

from installments.engine.schedules import (  # noqa: E402
    PlanTerms,
    build_schedule,
    payment_holiday,
    payoff_quote,
    prepay,
)

REPEATS = 5
START = date(2026, 1, 31)


def per_second(work, calls: int) -> tuple[float, float]:
    """(calls per second, microseconds per call): the median of REPEATS timed batches."""
    work()  # warm up
    times = []
    for _ in range(REPEATS):
        began = time.perf_counter()
        for _ in range(calls):
            work()
        times.append(time.perf_counter() - began)
    seconds = statistics.median(times) / calls
    return 1 / seconds, seconds * 1e6


def numpy_schedule(amount: float, annual_rate: float, term: int, with_irr: bool = False):
    rate, periods = annual_rate / 1200, np.arange(1, term + 1)
    payment = -npf.pmt(rate, term, amount)
    interest = -npf.ipmt(rate, periods, term, amount)
    principal = -npf.ppmt(rate, periods, term, amount)
    balance = amount - np.cumsum(principal)
    if with_irr:
        npf.irr(np.concatenate(([-amount], np.full(term, payment))))
    return payment, interest, principal, balance


def offer_candidates() -> list[PlanTerms]:
    """What the offer engine might price for one applicant: 14 plans, 6 to 48 months."""
    common = {
        "amount": Decimal("50000"),
        "annual_rate": Decimal("14.4"),
        "disbursement_date": START,
        "upfront_fee": Decimal("500"),
        "monthly_fee": Decimal("10"),
    }
    variants = [
        {"method": "annuity", "term": 12},
        {"method": "annuity", "term": 24},
        {"method": "annuity", "term": 36},
        {"method": "annuity", "term": 48, "installment_multiple": Decimal("10")},
        {"method": "equal_principal", "term": 24},
        {"method": "equal_principal", "term": 36},
        {"method": "flat", "term": 24, "annual_rate": Decimal("7.9")},
        {"method": "interest_only", "term": 12},
        {"method": "balloon", "term": 36, "balloon_amount": Decimal("15000")},
        {"method": "combination", "term": 24, "lump_sum_share": Decimal("0.3")},
        {"method": "step_up", "term": 36, "step_count": 3, "step_ratio": Decimal("1.2")},
        {"method": "seasonal", "term": 24, "seasonal_months": frozenset({1, 2}), "seasonal_factor": Decimal("0.5")},
        {"method": "zero_interest", "term": 6, "annual_rate": Decimal("0")},
        {"method": "annuity", "term": 24, "first_due_date": date(2026, 3, 15), "day_count": "actual/365"},
    ]
    return [PlanTerms(**{**common, **variant}) for variant in variants]


def report(label: str, work, calls: int, unit: str = "schedules/s") -> float:
    rate, us = per_second(work, calls)
    print(f"  {label:<48} {rate:>10,.0f} {unit:<12} {us:8.1f} us")
    return rate


def main() -> None:
    plain = {
        "amount": Decimal("10000"),
        "annual_rate": Decimal("12"),
        "term": 36,
        "method": "annuity",
        "disbursement_date": START,
    }
    terms36 = PlanTerms(**plain)
    fees = PlanTerms(**plain, upfront_fee=Decimal("200"), monthly_fee=Decimal("5"))
    schedule = build_schedule(terms36)
    payment, *_ = numpy_schedule(10000.0, 12.0, 36)
    print("36-month annuity, 10,000 at 12%:")
    print(
        f"  installment: exact {schedule.installments[0].payment}, numpy-financial {payment:.6f}; "
        f"APR {schedule.apr}%, effective {schedule.effective_annual_rate}%"
    )
    report("build_schedule (exact Decimal, totals, APR)", lambda: build_schedule(terms36), 1_000)
    report("... including PlanTerms validation", lambda: build_schedule(PlanTerms(**plain)), 1_000)
    report(f"... with fees (APR {build_schedule(fees).apr}%)", lambda: build_schedule(fees), 1_000)
    report("numpy-financial pmt/ipmt/ppmt (floats, no APR)", lambda: numpy_schedule(10000.0, 12.0, 36), 1_000)
    report("numpy-financial pmt/ipmt/ppmt + irr", lambda: numpy_schedule(10000.0, 12.0, 36, with_irr=True), 300)

    candidates = offer_candidates()
    print(
        f"\nOffers-like set: {len(candidates)} plans of {len({t.method for t in candidates})} types, "
        "6-48 months, upfront and monthly fees:"
    )
    for terms in candidates:
        plan = build_schedule(terms)
        print(
            f"  {terms.method:<16} {terms.term:>2} x {plan.installments[0].payment:>9}  "
            f"interest {plan.total_interest:>9}  APR {plan.apr:>6}%"
        )
    sets = report("whole set with APRs", lambda: [build_schedule(t) for t in candidates], 100, "sets/s")
    print(f"  {'':<48} {sets * len(candidates):>10,.0f} schedules/s")

    print("\nServicing the 36-month annuity:")
    on_date = date(2026, 9, 14)
    report("payoff_quote", lambda: payoff_quote(schedule, on_date), 300, "calls/s")
    report("prepay reduce_term", lambda: prepay(schedule, on_date, Decimal("2000")), 300, "calls/s")
    report(
        "prepay reduce_installment",
        lambda: prepay(schedule, on_date, Decimal("2000"), mode="reduce_installment"),
        300,
        "calls/s",
    )
    report("payment_holiday (2, capitalised)", lambda: payment_holiday(schedule, on_date, 2), 300, "calls/s")


if __name__ == "__main__":
    main()
