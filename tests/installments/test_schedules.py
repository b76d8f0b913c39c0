"""The plan engine: exact schedules for every plan type, their APR, and servicing math.

Pure Python; no database. Cross-checked against numpy-financial where a float answer exists.
"""

import decimal
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import numpy_financial as npf
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from installments.engine.schedules import (
    METHODS,
    PlanTerms,
    ScheduleError,
    build_schedule,
    payment_holiday,
    payoff_quote,
    prepay,
    reamortise,
    schedule_from_rows,
    schedule_to_dict,
)

D = Decimal
START = date(2024, 1, 15)


def terms(**changes) -> PlanTerms:
    base = {"amount": D("12000"), "annual_rate": D("12"), "term": 12, "method": "annuity", "disbursement_date": START}
    return PlanTerms(**{**base, **changes})


def payments(schedule) -> list[D]:
    return [row.payment for row in schedule.installments]


def float_irr_percent(advance, schedule) -> float:
    flows = [-float(advance)] + [float(p) for p in payments(schedule)]
    return float(npf.irr(flows)) * 12 * 100


def assert_consistent(schedule):
    """The invariants every schedule keeps, whatever its type."""
    rows = schedule.installments
    assert sum(r.principal for r in rows) == schedule.amount_financed
    balance = schedule.amount_financed
    for row in rows:
        assert row.principal + row.interest + row.fee == row.payment
        assert row.balance == balance - row.principal
        assert row.balance >= 0
        assert row.payment >= 0
        balance = row.balance
    assert rows[-1].balance == 0
    assert all(a.due_date < b.due_date for a, b in zip(rows, rows[1:], strict=False))
    assert schedule.total_interest == sum(r.interest for r in rows)
    assert schedule.total_payable == schedule.terms.amount + schedule.total_interest + schedule.total_fees
    assert schedule.apr >= 0


# --------------------------------------------------------------------------------------------
# Properties over every plan type


@st.composite
def any_terms(draw):
    method = draw(st.sampled_from(METHODS))
    term = draw(st.integers(1, 120))
    grace_i = draw(st.integers(0, min(2, term - 1)))
    grace_p = draw(st.integers(0, min(2, term - 1 - grace_i)))
    amount = D(draw(st.integers(10_000, 100_000_000))).scaleb(-2)
    frequency = draw(st.sampled_from(["monthly", "weekly", "biweekly"]))
    disbursed = START + timedelta(days=draw(st.integers(0, 800)))
    first_due = None
    if draw(st.booleans()):
        first_due = disbursed + timedelta(days=draw(st.integers(10, 50)))
    changes = {
        "method": method,
        "amount": amount,
        "annual_rate": D(0) if method == "zero_interest" else D(draw(st.integers(0, 6000))).scaleb(-2),
        "term": term,
        "frequency": frequency,
        "day_count": draw(st.sampled_from(["30/360", "actual/365"])),
        "disbursement_date": disbursed,
        "first_due_date": first_due,
        "upfront_fee": D(draw(st.integers(0, 5000))),
        "upfront_fee_financed": draw(st.booleans()),
        "monthly_fee": D(draw(st.integers(0, 2000))).scaleb(-2),
        "installment_multiple": draw(st.sampled_from([None, None, D(1), D(10)])),
        "interest_grace_periods": grace_i,
        "principal_grace_periods": grace_p,
        "interest_grace_mode": draw(st.sampled_from(["capitalise", "waive"])),
    }
    if not changes["upfront_fee_financed"] and changes["upfront_fee"] >= amount:
        changes["upfront_fee"] = D(0)
    financed = amount + changes["upfront_fee"] if changes["upfront_fee_financed"] else amount
    if method == "balloon":
        changes["balloon_amount"] = (financed * D(draw(st.integers(0, 100))) / 100).quantize(D("0.01"))
    elif method == "combination":
        changes["lump_sum_share"] = D(draw(st.integers(1, 99))) / 100
    elif method == "step_up":
        changes["step_count"] = draw(st.integers(1, 4))
        changes["step_ratio"] = D(draw(st.integers(50, 200))) / 100
    elif method == "seasonal":
        changes["seasonal_months"] = frozenset(draw(st.sets(st.integers(1, 12), min_size=1, max_size=4)))
        changes["seasonal_factor"] = D(draw(st.integers(0, 100))) / 100
    elif method == "custom":
        count = term - grace_i - grace_p
        share = financed / count
        custom = [(share * D(draw(st.integers(30, 110))) / 100).quantize(D("0.01")) for _ in range(count - 1)]
        changes["custom_payments"] = [*custom, None]
    return terms(**changes)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(any_terms())
def test_every_plan_type_repays_exactly_with_consistent_rows(plan):
    try:
        schedule = build_schedule(plan)
    except ScheduleError as error:
        # Only amounts the caller fixed can fail: custom amounts that overshoot, a coarse multiple.
        assert error.field in ("custom_payments", "installment_multiple", "seasonal_months")
        return
    assert len(schedule.installments) == plan.term
    assert_consistent(schedule)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    plan=any_terms(),
    when=st.floats(0, 1),
    share=st.integers(1, 99),
    periods=st.integers(1, 3),
    new_term=st.integers(1, 48),
)
def test_servicing_any_plan_gives_consistent_schedules_that_continue_its_numbering(
    plan, when, share, periods, new_term
):
    try:
        schedule = build_schedule(plan)
    except ScheduleError:
        return
    rows = schedule.installments
    start = plan.disbursement_date
    on_date = start + timedelta(days=int(when * ((rows[-1].due_date - start).days - 1)))
    due = sum(1 for r in rows if r.due_date <= on_date)
    quote = payoff_quote(schedule, on_date)
    assert quote.total == quote.outstanding_principal + quote.accrued_interest
    assert quote.accrued_interest <= rows[due].interest
    results = [
        payment_holiday(schedule, on_date, periods, interest="capitalise"),
        payment_holiday(schedule, on_date, periods, interest="waive"),
        reamortise(schedule, on_date, term=new_term, **({"method": "annuity"} if plan.method == "custom" else {})),
    ]
    amount = (quote.accrued_interest + quote.outstanding_principal * share / 100).quantize(D("0.01"))
    if quote.accrued_interest < amount < quote.total:
        results += [prepay(schedule, on_date, amount), prepay(schedule, on_date, amount, mode="reduce_installment")]
    for after in results:
        assert_consistent(after)
        assert after.installments[0].number == due + 1
        assert after.installments[0].due_date == rows[due].due_date
        assert schedule_from_rows(after.terms, after.installments) == after


@settings(max_examples=150, deadline=None)
@given(
    amount=st.integers(20_000_00, 10_000_000_00),  # rounding noise in the interest stays below 0.005%
    rate=st.integers(1, 4000),
    term=st.integers(1, 360),
    frequency=st.sampled_from(["monthly", "weekly", "biweekly"]),
    day_count=st.sampled_from(["30/360", "actual/365"]),
    odd_days=st.integers(-5, 40),
)
def test_apr_of_a_fee_free_annuity_equals_its_rate(amount, rate, term, frequency, day_count, odd_days):
    plan = terms(
        amount=D(amount).scaleb(-2),
        annual_rate=D(rate).scaleb(-2),
        term=term,
        frequency=frequency,
        day_count=day_count,
        disbursement_date=START,
    )
    plan = replace(plan, first_due_date=build_schedule(plan).installments[0].due_date + timedelta(days=odd_days))
    schedule = build_schedule(plan)
    assert schedule.apr == plan.annual_rate


@settings(max_examples=60, deadline=None)
@given(
    amount=st.integers(1000_00, 500_000_00), rate=st.integers(0, 3600), term=st.integers(2, 60), fee=st.integers(1, 900)
)
def test_apr_matches_numpy_financial_irr_with_fees(amount, rate, term, fee):
    plan = terms(
        amount=D(amount).scaleb(-2),
        annual_rate=D(rate).scaleb(-2),
        term=term,
        upfront_fee=D(fee),
        monthly_fee=D("2.50"),
    )
    schedule = build_schedule(plan)
    assert schedule.apr > plan.annual_rate
    assert abs(float(schedule.apr) - float_irr_percent(plan.net_disbursed, schedule)) < 0.01


@settings(max_examples=80, deadline=None)
@given(amount=st.integers(1000_00, 1_000_000_00), rate=st.integers(1, 3600), term=st.integers(2, 60))
def test_annuity_matches_numpy_financial_pmt_ipmt_ppmt(amount, rate, term):
    principal, periodic = D(amount).scaleb(-2), rate / 1200 / 100
    schedule = build_schedule(terms(amount=principal, annual_rate=D(rate).scaleb(-2), term=term))
    level = -npf.pmt(periodic, term, float(principal))
    assert abs(float(schedule.installments[0].payment) - level) <= 0.005 + 1e-9
    for period, row in enumerate(schedule.installments[:-1], start=1):
        # Rounding the installment and each interest (half a cent each) moves the balance by at most
        # a cent a period, compounding: within a cent for the first periods, a few at 30% over years.
        drift = 0.01 * ((1 + periodic) ** (period - 1) - 1)
        assert abs(float(row.interest) + npf.ipmt(periodic, period, term, float(principal))) <= 0.005 + drift + 1e-9
        assert abs(float(row.principal) + npf.ppmt(periodic, period, term, float(principal))) <= 0.01 + drift + 1e-9


# --------------------------------------------------------------------------------------------
# Textbook figures and the rounding rule


def test_textbook_annuity_first_installment_is_530_73():
    schedule = build_schedule(terms(amount=D("100000"), annual_rate=D("4.9"), term=360))
    first = schedule.installments[0]
    assert (first.payment, first.interest, first.principal) == (D("530.73"), D("408.33"), D("122.40"))
    assert all(row.payment == D("530.73") for row in schedule.installments[:-1])
    assert schedule.installments[-1].payment == D("527.84")  # the residue
    assert schedule.apr == D("4.90")
    assert schedule.effective_annual_rate == D("5.01")


def test_textbook_equal_principal_first_installment_is_686_11():
    schedule = build_schedule(terms(amount=D("100000"), annual_rate=D("4.9"), term=360, method="equal_principal"))
    rows = schedule.installments
    assert rows[0].payment == D("686.11")
    assert rows[0].principal == D("277.78")
    assert rows[1].payment == D("277.78") + D("407.20")  # interest on 99,722.22
    assert rows[-1].principal == D("100000") - D("277.78") * 359
    assert_consistent(schedule)


def test_interest_is_rounded_half_up_on_exact_half_cents():
    # 60.00 x 4.9% / 12 = 0.245 exactly: half-up gives 0.25 (a binary or truncated rate gives 0.24).
    schedule = build_schedule(terms(amount=D("60"), annual_rate=D("4.9"), term=2, method="equal_principal"))
    assert schedule.installments[0].interest == D("0.25")


def test_installment_multiple_rounds_the_level_up_and_the_last_takes_the_residue():
    schedule = build_schedule(terms(installment_multiple=D("10")))
    rows = schedule.installments
    assert all(row.payment == D("1070") for row in rows[:-1])
    assert rows[-1].payment < D("1070")
    assert_consistent(schedule)


# --------------------------------------------------------------------------------------------
# Calendar and day count


def test_month_end_due_day_falls_on_the_last_day_and_returns():
    schedule = build_schedule(terms(disbursement_date=date(2023, 1, 31), term=5))
    assert [r.due_date for r in schedule.installments] == [
        date(2023, 2, 28),
        date(2023, 3, 31),
        date(2023, 4, 30),
        date(2023, 5, 31),
        date(2023, 6, 30),
    ]
    leap = build_schedule(terms(disbursement_date=date(2023, 12, 30), term=3))
    assert [r.due_date for r in leap.installments] == [date(2024, 1, 30), date(2024, 2, 29), date(2024, 3, 30)]
    explicit = build_schedule(terms(first_due_date=date(2024, 4, 30), due_day=31, term=3))
    assert [r.due_date for r in explicit.installments] == [date(2024, 4, 30), date(2024, 5, 31), date(2024, 6, 30)]


def test_odd_first_period_charges_its_extra_days_and_keeps_the_apr_at_the_rate():
    # 15 Jan -> 1 Mar: one month (1 Feb -> 1 Mar) plus 16 days (30E/360) = 46 days.
    schedule = build_schedule(terms(first_due_date=date(2024, 3, 1)))
    first, second = schedule.installments[:2]
    assert first.interest == D("184.00")  # 12,000 x 12% x 46 / 360
    assert second.interest == (first.balance * D("0.01")).quantize(D("0.01"), rounding=decimal.ROUND_HALF_UP)
    assert schedule.apr == D("12.00")
    short = build_schedule(terms(first_due_date=date(2024, 2, 1)))  # 16 days
    assert short.installments[0].interest == D("64.00")
    assert short.apr == D("12.00")


def test_actual_365_counts_the_days_of_each_period():
    schedule = build_schedule(terms(day_count="actual/365"))
    first, second = schedule.installments[:2]
    assert first.interest == D("122.30")  # 31 days: 12,000 x 12% x 31 / 365
    expected = (first.balance * D("0.12") * 29 / 365).quantize(D("0.01"), rounding=decimal.ROUND_HALF_UP)
    assert second.interest == expected  # 15 Feb -> 15 Mar 2024: 29 days
    assert schedule.apr == D("12.00")
    assert_consistent(schedule)


def test_weekly_and_biweekly_plans_step_by_7_and_14_days():
    weekly = build_schedule(terms(frequency="weekly", term=52))
    rows = weekly.installments
    assert rows[0].due_date == START + timedelta(days=7)
    assert all((b.due_date - a.due_date).days == 7 for a, b in zip(rows, rows[1:], strict=False))
    assert rows[0].interest == D("27.69")  # 12,000 x 12% / 52
    assert weekly.apr == D("12.00")
    assert weekly.effective_annual_rate == D("12.73")
    level = -npf.pmt(0.12 / 52, 52, 12000)
    assert abs(float(rows[0].payment) - level) <= 0.005
    biweekly = build_schedule(terms(frequency="biweekly", term=26, day_count="actual/365"))
    assert biweekly.installments[1].due_date - biweekly.installments[0].due_date == timedelta(days=14)
    assert biweekly.apr == D("12.00")


# --------------------------------------------------------------------------------------------
# Plan types


def test_fees_raise_the_apr_and_are_disclosed():
    plain = build_schedule(terms())
    deducted = build_schedule(terms(upfront_fee=D("240")))
    financed = build_schedule(terms(upfront_fee=D("240"), upfront_fee_financed=True))
    monthly = build_schedule(terms(monthly_fee=D("20")))
    assert plain.apr < financed.apr < deducted.apr
    assert plain.apr < monthly.apr
    assert (deducted.net_disbursed, deducted.amount_financed) == (D("11760"), D("12000"))
    assert (financed.net_disbursed, financed.amount_financed) == (D("12000"), D("12240"))
    assert monthly.total_fees == D("240") and deducted.total_fees == D("240")
    assert all(row.fee == D("20") for row in monthly.installments)
    for schedule in (deducted, financed, monthly):
        assert abs(float(schedule.apr) - float_irr_percent(schedule.net_disbursed, schedule)) < 0.01


def test_flat_rate_discloses_its_true_apr():
    schedule = build_schedule(terms(method="flat"))  # 1% a month flat for 12 months
    assert all(row.interest == D("120") for row in schedule.installments)
    assert all(row.payment == D("1120") for row in schedule.installments)
    assert schedule.apr == D("21.46")
    assert abs(float(schedule.apr) - float_irr_percent(D("12000"), schedule)) < 0.01


def test_zero_interest_promotion_costs_only_its_fees():
    free = build_schedule(terms(method="zero_interest", annual_rate=D(0)))
    assert free.total_interest == 0 and free.apr == 0 and free.effective_annual_rate == 0
    assert all(row.payment == D("1000") for row in free.installments)
    with_fee = build_schedule(terms(method="zero_interest", annual_rate=D(0), upfront_fee=D("300")))
    assert with_fee.total_interest == 0
    assert with_fee.apr > 0
    assert abs(float(with_fee.apr) - float_irr_percent(D("11700"), with_fee)) < 0.01
    with pytest.raises(ScheduleError) as error:
        terms(method="zero_interest")
    assert error.value.field == "annual_rate"


def test_interest_only_repays_principal_with_the_last_installment():
    rows = build_schedule(terms(method="interest_only")).installments
    assert all(row.payment == D("120") and row.principal == 0 for row in rows[:-1])
    assert rows[-1].payment == D("12120")


def test_balloon_and_combination_leave_the_lump_sum_to_the_end():
    balloon = build_schedule(terms(method="balloon", balloon_amount=D("3000")))
    combination = build_schedule(terms(method="combination", lump_sum_share=D("0.25")))
    # Part amortised (9,000 as an annuity) plus interest on the 3,000 lump: 799.64 + 30.00.
    level = -npf.pmt(0.01, 12, 9000) + 30
    assert abs(float(balloon.installments[0].payment) - level) <= 0.005
    assert payments(balloon) == payments(combination)
    level_paid = balloon.installments[0].payment
    assert abs(balloon.installments[-1].payment - (level_paid + D("3000"))) <= D("0.05")
    with pytest.raises(ScheduleError) as error:
        terms(method="balloon", balloon_amount=D("12000.01"))
    assert error.value.field == "balloon_amount"


def test_step_up_pays_less_first_and_steps_by_the_ratio():
    rows = build_schedule(terms(method="step_up", step_count=2, step_ratio=D("1.5"))).installments
    low, high = rows[0].payment, rows[6].payment
    assert all(row.payment == low for row in rows[:6])
    assert all(row.payment == high for row in rows[6:-1])
    assert abs(high - low * D("1.5")) <= D("0.01")


def test_seasonal_skips_the_given_months_and_capitalises_their_interest():
    schedule = build_schedule(terms(method="seasonal", seasonal_months={3, 4}, seasonal_factor=D(0), monthly_fee=D(5)))
    rows = schedule.installments
    skipped = [r for r in rows if r.due_date.month in (3, 4)]
    assert len(skipped) == 2
    assert all(r.payment == D(5) and r.principal == -r.interest for r in skipped)
    paying = {r.payment for r in rows[:-1] if r.due_date.month not in (3, 4)}
    assert len(paying) == 1
    assert schedule.apr > D("12")  # the fee on the skipped months too
    assert build_schedule(replace(schedule.terms, monthly_fee=D(0))).apr == D("12.00")
    assert_consistent(schedule)
    half = build_schedule(terms(method="seasonal", seasonal_months={7}, seasonal_factor=D("0.5"))).installments
    july = next(r for r in half if r.due_date.month == 7)
    assert abs(july.payment * 2 - half[0].payment) <= D("0.01")


def test_interest_grace_capitalises_or_waives_and_principal_grace_pays_interest_only():
    capitalised = build_schedule(terms(interest_grace_periods=2, principal_grace_periods=1))
    rows = capitalised.installments
    assert rows[0].payment == 0 and rows[0].principal == -rows[0].interest == D("-120.00")
    assert rows[1].interest == D("121.20") and rows[1].balance == D("12241.20")
    assert rows[2].payment == rows[2].interest == D("122.41") and rows[2].principal == 0
    assert capitalised.apr == D("12.00")
    waived = build_schedule(terms(interest_grace_periods=2, interest_grace_mode="waive"))
    assert [r.interest for r in waived.installments[:2]] == [0, 0]
    assert waived.installments[1].balance == D("12000")
    assert waived.apr < D("12")
    assert_consistent(capitalised)
    assert_consistent(waived)


def test_custom_payments_repay_with_the_last_taking_the_residue():
    schedule = build_schedule(terms(method="custom", term=3, custom_payments=[D("5000"), D("4000"), None]))
    rows = schedule.installments
    assert [r.payment for r in rows[:2]] == [D("5000"), D("4000")]
    assert rows[0].interest == D("120.00") and rows[1].interest == D("71.20")
    assert rows[2].payment == D("3223.11")  # 3,191.20 left + 31.91 interest
    exact = build_schedule(terms(method="custom", term=3, custom_payments=[D("5000"), D("4000"), D("3223.11")]))
    assert payments(exact) == payments(schedule)


@pytest.mark.parametrize(
    "custom",
    [
        [D("1000"), D("1000"), D("1000")],  # leaves 9,000 unpaid
        [D("9000"), D("9000"), None],  # repays by the second installment
        [D("5000"), D("4000"), D("4000")],  # the last overpays
    ],
)
def test_custom_payments_that_do_not_repay_are_refused_naming_the_field(custom):
    with pytest.raises(ScheduleError) as error:
        build_schedule(terms(method="custom", term=3, custom_payments=custom))
    assert error.value.field == "custom_payments"
    assert isinstance(error.value, ValueError)


# --------------------------------------------------------------------------------------------
# APR solver limits


def test_very_high_rates_converge():
    schedule = build_schedule(terms(annual_rate=D("300"), term=24))
    assert schedule.apr == D("300.00")
    with_fee = build_schedule(terms(annual_rate=D("300"), term=24, upfront_fee=D("2000")))
    assert abs(float(with_fee.apr) - float_irr_percent(D("10000"), with_fee)) < 0.01
    extreme = build_schedule(terms(annual_rate=D("999"), term=6, upfront_fee=D("6000")))
    assert abs(float(extreme.apr) - float_irr_percent(D("6000"), extreme)) < 0.01


def test_zero_rate_converges():
    free = build_schedule(terms(annual_rate=D(0)))
    assert free.apr == 0
    with_fee = build_schedule(terms(annual_rate=D(0), monthly_fee=D("1")))
    assert D(0) < with_fee.apr < D("2")
    assert abs(float(with_fee.apr) - float_irr_percent(D("12000"), with_fee)) < 0.01


# --------------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"amount": D("-1")}, "amount"),
        ({"amount": D(0)}, "amount"),
        ({"amount": D("10.001")}, "amount"),
        ({"amount": 100.5}, "amount"),
        ({"term": 0}, "term"),
        ({"method": "rule_of_78"}, "method"),
        ({"annual_rate": D("-1")}, "annual_rate"),
        ({"annual_rate": "abc"}, "annual_rate"),
        ({"frequency": "daily"}, "frequency"),
        ({"day_count": "actual/360"}, "day_count"),
        ({"first_due_date": START}, "first_due_date"),
        ({"upfront_fee": D("12000")}, "upfront_fee"),
        ({"principal_grace_periods": 12}, "principal_grace_periods"),
        ({"method": "balloon"}, "balloon_amount"),
        ({"method": "seasonal"}, "seasonal_months"),
        ({"method": "seasonal", "seasonal_months": {13}}, "seasonal_months"),
        ({"method": "combination"}, "lump_sum_share"),
        ({"method": "step_up", "step_ratio": D(0)}, "step_ratio"),
        ({"method": "custom", "custom_payments": [D(1)]}, "custom_payments"),
        ({"installment_multiple": D(0)}, "installment_multiple"),
    ],
)
def test_bad_input_raises_schedule_error_naming_the_field(changes, field):
    with pytest.raises(ScheduleError) as error:
        build_schedule(terms(**changes))
    assert error.value.field == field
    assert str(error.value).startswith(field)


def test_the_callers_decimal_context_is_neither_used_nor_changed():
    expected = payments(build_schedule(terms()))
    with decimal.localcontext() as ctx:
        ctx.prec, ctx.rounding = 5, decimal.ROUND_DOWN
        assert payments(build_schedule(terms())) == expected
        assert (decimal.getcontext().prec, decimal.getcontext().rounding) == (5, decimal.ROUND_DOWN)


def test_schedule_to_dict_gives_strings_for_money_and_rates():
    data = schedule_to_dict(build_schedule(terms(amount=D("100000"), annual_rate=D("4.9"), term=360)))
    assert data["installments"][0]["payment"] == "530.73"
    assert data["installments"][-1]["balance"] == "0.00"
    assert data["apr"] == "4.90"
    assert data["installments"][0]["due_date"] == "2024-02-15"
    assert data["total_fees"] == "0.00"


# --------------------------------------------------------------------------------------------
# Servicing: 12,000 at 12% over 12 months pays 1,066.19 (last 1,066.14)


@pytest.fixture
def plan():
    schedule = build_schedule(terms())
    assert schedule.installments[2].balance == D("9132.95")
    return schedule


def test_payoff_quote_on_a_due_date_is_the_outstanding_principal(plan):
    quote = payoff_quote(plan, date(2024, 4, 15))
    assert quote.total == quote.outstanding_principal == D("9132.95")
    assert quote.accrued_interest == 0 and quote.due_unpaid == 0


def test_payoff_quote_mid_period_accrues_interest_and_adds_arrears_fees_and_discount(plan):
    quote = payoff_quote(plan, date(2024, 4, 30))
    assert quote.accrued_interest == D("45.67")  # half of April's 91.33
    assert quote.total == D("9178.62")
    assert quote.unearned_interest == sum(r.interest for r in plan.installments[3:]) - D("45.67")
    strict = payoff_quote(
        plan,
        date(2024, 4, 30),
        installments_paid=2,
        rebate_unearned_interest=False,
        early_payoff_fee_rate=D("1"),
        early_payoff_discount=D("10"),
    )
    assert strict.due_unpaid == D("1066.19")
    assert strict.early_payoff_fee == D("91.33")
    assert strict.total == D("9132.95") + D("45.67") + quote.unearned_interest + D("1066.19") + D("91.33") - D("10")


def test_prepay_reduce_term_keeps_the_installment_and_ends_sooner(plan):
    after = prepay(plan, date(2024, 4, 15), D("3000"))
    rows = after.installments
    assert after.amount_financed == D("6132.95")
    assert [r.number for r in rows] == [4, 5, 6, 7, 8, 9]
    assert all(r.payment == D("1066.19") for r in rows[:-1])
    assert rows[0].interest == D("61.33")
    assert rows[-1].payment == D("1017.22")
    assert after.apr == D("12.00")
    assert_consistent(after)


def test_prepay_reduce_installment_keeps_the_term_and_lowers_the_installment(plan):
    after = prepay(plan, date(2024, 4, 15), D("3000"), mode="reduce_installment")
    rows = after.installments
    assert [r.number for r in rows] == list(range(4, 13))
    assert rows[0].payment == D("715.96")
    assert abs(float(rows[0].payment) + npf.pmt(0.01, 9, 6132.95)) <= 0.005
    assert all(r.payment == D("715.96") for r in rows[:-1])
    assert_consistent(after)


def test_prepay_mid_period_pays_the_accrued_interest_first(plan):
    after = prepay(plan, date(2024, 4, 30), D("3000"), mode="reduce_installment")
    assert after.amount_financed == D("9132.95") + D("45.67") - D("3000")
    assert after.installments[0].interest == D("30.89")  # 15 days on 6,178.62
    with pytest.raises(ScheduleError) as error:
        prepay(plan, date(2024, 4, 30), D("9178.62"))
    assert error.value.field == "amount"


def test_payment_holiday_capitalised_raises_the_later_installments(plan):
    after = payment_holiday(plan, date(2024, 4, 20), 2)
    rows = after.installments
    assert len(rows) == 11 and rows[0].number == 4 and rows[-1].number == 14
    assert [r.interest for r in rows[:2]] == [D("91.33"), D("92.24")]
    assert all(r.payment == 0 and r.principal == -r.interest for r in rows[:2])
    assert rows[1].balance == D("9316.52")  # 9,132.95 + 91.33 + 92.24
    assert rows[2].payment == D("1087.61")  # the 9 remaining installments repay 9,316.52 at 1%
    assert abs(float(rows[2].payment) + npf.pmt(0.01, 9, 9316.52)) <= 0.005
    assert_consistent(after)


def test_payment_holiday_waived_keeps_the_installments(plan):
    after = payment_holiday(plan, date(2024, 4, 20), 2, interest="waive")
    rows = after.installments
    assert all(r.payment == 0 and r.interest == 0 for r in rows[:2])
    assert rows[1].balance == D("9132.95")
    # The same 9 installments on the same balance: 1,066.18 (the original 1,066.19 less its rounding).
    assert all(abs(r.payment - D("1066.19")) <= D("0.01") for r in rows[2:-1])
    assert abs(float(rows[2].payment) + npf.pmt(0.01, 9, 9132.95)) <= 0.005
    assert rows[-1].due_date == date(2025, 3, 15)


def test_reamortise_spreads_the_balance_over_a_new_term(plan):
    after = reamortise(plan, date(2024, 7, 20), term=12)
    rows = after.installments
    assert after.amount_financed == D("6179.02")
    assert rows[0].number == 7 and rows[0].due_date == date(2024, 8, 15)
    assert rows[0].payment == D("549.00")
    assert abs(float(rows[0].payment) + npf.pmt(0.01, 12, 6179.02)) <= 0.005
    assert_consistent(after)


def test_reamortise_capitalises_arrears_and_can_change_the_price(plan):
    after = reamortise(
        plan, date(2024, 7, 20), term=6, installments_paid=5, annual_rate=D("6"), method="equal_principal"
    )
    assert after.amount_financed == D("6179.02") + D("1066.19")
    assert after.installments[0].principal == D("1207.54")
    assert after.installments[0].interest == D("36.23")  # 7,245.21 x 0.5%
    with pytest.raises(ScheduleError) as error:
        reamortise(plan, date(2024, 7, 20), term=6, colour="red")
    assert error.value.field == "colour"


def test_reamortise_after_maturity_restarts_on_the_due_date_grid():
    plan = build_schedule(terms(disbursement_date=date(2024, 1, 31)))
    after = reamortise(plan, date(2025, 5, 3), term=6, installments_paid=10)
    unpaid = plan.installments[10].payment + plan.installments[11].payment
    assert after.amount_financed == unpaid
    assert after.terms.disbursement_date == date(2025, 4, 30)
    assert [r.due_date for r in after.installments[:2]] == [date(2025, 5, 31), date(2025, 6, 30)]
    assert after.installments[0].number == 13
    assert_consistent(after)


def test_servicing_keeps_the_shape_of_a_step_up_plan():
    plan = build_schedule(terms(method="step_up", step_count=2, step_ratio=D("2")))
    after = prepay(plan, date(2024, 3, 15), D("2000"), mode="reduce_installment")
    rows = after.installments
    assert abs(rows[4].payment - 2 * rows[0].payment) <= D("0.01")  # still doubles at installment 7
    assert rows[4].number == 7
    assert_consistent(after)


def test_a_prepayment_on_the_30th_before_a_due_date_on_the_31st_is_one_day_of_interest():
    # 30/360 counts the 30th to the 31st as no day; the carried schedule's first period is one day, not refused.
    terms = PlanTerms(amount=Decimal("1200"), annual_rate=Decimal("12"), term=3, method="annuity",
                      disbursement_date=date(2026, 12, 10), due_day=31)
    schedule = build_schedule(terms)
    due = schedule.installments[0].due_date
    assert due.day == 31
    after = prepay(schedule, due - timedelta(days=1), Decimal("500"))
    assert after.installments[0].due_date == due
    assert sum(r.principal for r in after.installments) == after.amount_financed
