"""The installment plan engine: exact Decimal schedules, their disclosure (APR) and servicing math.

Plain Python on `decimal.Decimal`; no Django. Every public function works inside its own
`decimal.localcontext` (34 significant digits), so callers' contexts are never read or changed.

How a schedule is made
----------------------
* Dates. Monthly due dates keep the due day (by default the day of the first due date, or of the
  disbursement when the first due date is one month after it); in shorter months they fall on the
  month's last day and return afterwards (31 Jan, 29 Feb, 31 Mar, 30 Apr, ...). Weekly and
  bi-weekly due dates are 7 / 14 days apart.
* Day count. Each period accrues `annual_rate x days / basis` on the balance:
  - `30/360`, monthly: every regular month counts 30 days (periodic rate = annual / 12); an odd
    first period counts 30 days plus the 30E/360 days between the disbursement and the date one
    month before the first due date (negative when the first period is short).
  - `30/360`, weekly / bi-weekly: actual days over a 364-day year, so a regular period is exactly
    1/52 or 1/26 of the annual rate.
  - `actual/365`: actual days between the dates over 365.
* Rounding. Each period's interest is rounded half-up to the currency's minor unit. Level
  installments are solved exactly, then rounded half-up to the minor unit (or up to
  `installment_multiple`); principal = payment - interest - fee; the last installment takes the
  residue, so principals sum exactly to the amount financed. If rounding up would repay the loan
  before the last installment (tiny amounts, coarse multiples), the level is rounded down instead.
* Principal is the reduction of the balance: in a period whose payment does not cover its
  interest (interest grace with capitalisation, a skipped seasonal month) it is negative and the
  balance grows by the unpaid interest.
* Grace. The first `interest_grace_periods` installments pay nothing but the per-installment fee;
  their interest is added to the balance (`interest_grace_mode="capitalise"`) or not charged
  (`"waive"`). The next `principal_grace_periods` installments pay interest only. The plan type
  applies to the installments after them.
* Fees. `upfront_fee` is deducted from the disbursement or, with `upfront_fee_financed`, added to
  the amount financed; `monthly_fee` is charged with every installment (weekly plans too).

APR
---
`apr` is the nominal annual rate `periods_per_year x x`, where `x` is the periodic rate at which the
present value of all payments (fees included) equals the net amount disbursed. Each payment is
discounted through the schedule's own periods, period j at `1 + x * u_j`, `u_j` being its length
in regular periods by the day count (1 for a regular 30/360 period; 1 + odd days / 30 for an odd
first month; days x periods_per_year / 365 under actual/365). This is compound interest per period
with simple interest within a period -- the way the schedule itself charges interest -- so a plan
without fees or waived interest has an APR equal to its nominal rate whatever its dates.
`effective_annual_rate` is `(1 + x) ** periods_per_year - 1`. Both are percents with 2 decimals.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, fields, replace
from datetime import date, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation, localcontext

METHODS = (
    "annuity",
    "equal_principal",
    "flat",
    "interest_only",
    "balloon",
    "step_up",
    "seasonal",
    "combination",
    "zero_interest",
    "custom",
)
FREQUENCIES = {"monthly": 12, "biweekly": 26, "weekly": 52}
DAY_COUNTS = ("30/360", "actual/365")
GRACE_MODES = ("capitalise", "waive")
PREPAY_MODES = ("reduce_term", "reduce_installment")

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)
CENT = Decimal("0.01")
_PRECISION = 34
_MAX_RATE = Decimal(1000)
_MONTH_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_MAX_MONEY = Decimal(10) ** 13
_MAX_TERM = 1560  # 30 years of weekly installments
_IRR_TOLERANCE = Decimal("1e-16")
_CARRIED = frozenset({"amount", "disbursement_date", "first_due_date", "due_day", "term", "frequency", "day_count"})
_POSITIONAL_METHODS = ("step_up", "custom")
# Methods whose installments are "principal part + that period's interest" rather than a set amount.
_PLUS_INTEREST_METHODS = ("equal_principal", "interest_only")


class ScheduleError(ValueError):
    """Bad plan input; `field` names the input (e.g. "amount", "custom_payments") for a 400 answer."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _context():
    return localcontext(prec=_PRECISION)


# ---------------------------------------------------------------------------------------------
# Input


def _decimal(value, field: str) -> Decimal:
    if isinstance(value, bool | float):  # floats cannot hold money exactly; refuse rather than guess
        raise ScheduleError(field, "must be a Decimal, an integer or a numeric string")
    try:
        result = value if isinstance(value, Decimal) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise ScheduleError(field, f"{value!r} is not a number")
    if not result.is_finite():
        raise ScheduleError(field, "must be a finite number")
    return result


def _money(value, field: str, unit: Decimal) -> Decimal:
    result = _decimal(value, field)
    if abs(result) >= _MAX_MONEY:
        raise ScheduleError(field, "is too large")
    if result != result.quantize(unit, rounding=ROUND_HALF_UP):
        raise ScheduleError(field, f"must be a whole number of minor units ({unit})")
    if result < 0:
        raise ScheduleError(field, "must not be negative")
    return result.quantize(unit)


def _integer(value, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScheduleError(field, "must be a whole number")
    if not low <= value <= high:
        raise ScheduleError(field, f"must be between {low} and {high}")
    return value


def _choice(value, field: str, allowed) -> str:
    if value not in allowed:
        raise ScheduleError(field, f"must be one of {', '.join(allowed)}, not {value!r}")
    return value


@dataclass(frozen=True, kw_only=True)
class PlanTerms:
    """What a plan is: the loan, its price, its calendar and the plan type's own parameters.

    Money fields are Decimals (ints and numeric strings are accepted; floats are refused) with at
    most `currency_decimals` decimals. Rates are percents: `annual_rate=Decimal("12")` is 12% a
    year (for `flat` it is the flat rate charged on the amount financed). `term` counts
    installments, grace periods included. Construction validates everything and raises
    `ScheduleError(field, message)`; parameters a method does not use are ignored.

    Plan type parameters:
    * balloon: `balloon_amount`, paid with the last installment (0 <= balloon <= amount financed).
    * step_up: the amortising installments form `step_count` blocks of (nearly) equal length, block
      b paying `step_ratio ** b` times the first block's installment.
    * seasonal: installments due in `seasonal_months` (1-12) pay `seasonal_factor` times the
      others (0 skips them); the others are solved so the loan repays. The last installment
      settles the loan and is never lowered.
    * combination: `lump_sum_share` (a fraction of the amount financed, e.g. Decimal("0.3")) or
      `lump_sum_amount` is repaid in one sum with the last installment; the rest amortises as an
      annuity and the lump sum's interest is paid each period. These are exactly the cash flows
      of an annuity with that balloon, so both types share the engine.
    * custom: `custom_payments`, one amount (principal + interest, fees excluded) per amortising
      installment; the last may be None. The engine computes interest, checks the amounts repay
      the loan (the last, if given, must match the residue within one minor unit per installment)
      and the last installment takes the residue.
    * zero_interest: `annual_rate` must be 0; equal installments, the cost is in the fees.
    """

    amount: Decimal
    annual_rate: Decimal
    term: int
    method: str
    disbursement_date: date
    first_due_date: date | None = None
    due_day: int | None = None
    frequency: str = "monthly"
    day_count: str = "30/360"
    upfront_fee: Decimal = ZERO
    upfront_fee_financed: bool = False
    monthly_fee: Decimal = ZERO
    installment_multiple: Decimal | None = None
    currency_decimals: int = 2
    balloon_amount: Decimal | None = None
    step_count: int = 2
    step_ratio: Decimal = Decimal("1.25")
    seasonal_months: frozenset[int] = frozenset()
    seasonal_factor: Decimal = ZERO
    lump_sum_share: Decimal | None = None
    lump_sum_amount: Decimal | None = None
    custom_payments: tuple[Decimal | None, ...] = ()
    principal_grace_periods: int = 0
    interest_grace_periods: int = 0
    interest_grace_mode: str = "capitalise"

    def __post_init__(self):
        with _context():
            self._validate()

    def _validate(self):
        def put(name, value):
            object.__setattr__(self, name, value)

        put("currency_decimals", _integer(self.currency_decimals, "currency_decimals", 0, 4))
        put("seasonal_months", frozenset(self.seasonal_months))
        put("custom_payments", tuple(self.custom_payments))
        unit = self.unit
        put("method", _choice(self.method, "method", METHODS))
        put("frequency", _choice(self.frequency, "frequency", tuple(FREQUENCIES)))
        put("day_count", _choice(self.day_count, "day_count", DAY_COUNTS))
        put("interest_grace_mode", _choice(self.interest_grace_mode, "interest_grace_mode", GRACE_MODES))
        put("amount", _money(self.amount, "amount", unit))
        if self.amount <= 0:
            raise ScheduleError("amount", "must be greater than zero")
        put("annual_rate", _decimal(self.annual_rate, "annual_rate"))
        if not ZERO <= self.annual_rate <= _MAX_RATE:
            raise ScheduleError("annual_rate", f"must be between 0 and {_MAX_RATE} percent")
        if self.method == "zero_interest" and self.annual_rate:
            raise ScheduleError("annual_rate", "must be 0 for a zero-interest plan")
        put("term", _integer(self.term, "term", 1, _MAX_TERM))
        put("principal_grace_periods", _integer(self.principal_grace_periods, "principal_grace_periods", 0, _MAX_TERM))
        put("interest_grace_periods", _integer(self.interest_grace_periods, "interest_grace_periods", 0, _MAX_TERM))
        if self.grace_periods >= self.term:
            raise ScheduleError(
                "principal_grace_periods" if self.principal_grace_periods else "interest_grace_periods",
                "grace periods must leave at least one installment that repays principal",
            )
        self._check_dates()
        put("upfront_fee", _money(self.upfront_fee, "upfront_fee", unit))
        if not self.upfront_fee_financed and self.upfront_fee >= self.amount:
            raise ScheduleError("upfront_fee", "a fee deducted from the disbursement must be less than the amount")
        put("monthly_fee", _money(self.monthly_fee, "monthly_fee", unit))
        if self.installment_multiple is not None:
            put("installment_multiple", _money(self.installment_multiple, "installment_multiple", unit))
            if not self.installment_multiple:
                raise ScheduleError("installment_multiple", "must be greater than zero")
        self._check_method_parameters(put, unit)

    def _check_dates(self):
        if not isinstance(self.disbursement_date, date):
            raise ScheduleError("disbursement_date", "must be a date")
        if self.due_day is not None:
            _integer(self.due_day, "due_day", 1, 31)
        first = self.first_due_date
        if first is None:
            return
        if not isinstance(first, date):
            raise ScheduleError("first_due_date", "must be a date")
        if first <= self.disbursement_date:
            raise ScheduleError("first_due_date", "must be after the disbursement date")
        if self.frequency == "monthly" and first.day != _clamp_day(first.year, first.month, _due_day(self)):
            raise ScheduleError("due_day", "the first due date must fall on the due day")

    def _check_method_parameters(self, put, unit):
        method = self.method
        if method == "balloon":
            if self.balloon_amount is None:
                raise ScheduleError("balloon_amount", "is required for a balloon plan")
            put("balloon_amount", _money(self.balloon_amount, "balloon_amount", unit))
            if self.balloon_amount > self.amount_financed:
                raise ScheduleError("balloon_amount", "must not exceed the amount financed")
        elif method == "combination":
            if (self.lump_sum_share is None) == (self.lump_sum_amount is None):
                raise ScheduleError("lump_sum_share", "give either lump_sum_share or lump_sum_amount")
            if self.lump_sum_amount is not None:
                put("lump_sum_amount", _money(self.lump_sum_amount, "lump_sum_amount", unit))
                if self.lump_sum_amount >= self.amount_financed:
                    raise ScheduleError("lump_sum_amount", "must be less than the amount financed")
            else:
                put("lump_sum_share", _decimal(self.lump_sum_share, "lump_sum_share"))
                if not ZERO < self.lump_sum_share < ONE:
                    raise ScheduleError("lump_sum_share", "must be a fraction between 0 and 1")
        elif method == "step_up":
            put("step_count", _integer(self.step_count, "step_count", 1, _MAX_TERM))
            put("step_ratio", _decimal(self.step_ratio, "step_ratio"))
            if not ZERO < self.step_ratio <= 10:
                raise ScheduleError("step_ratio", "must be greater than 0 and at most 10")
        elif method == "seasonal":
            months = self.seasonal_months
            if not months or not months <= frozenset(range(1, 13)):
                raise ScheduleError("seasonal_months", "give one or more month numbers from 1 to 12")
            if len(months) == 12:
                raise ScheduleError("seasonal_months", "at least one month must pay the full installment")
            put("seasonal_factor", _decimal(self.seasonal_factor, "seasonal_factor"))
            if not ZERO <= self.seasonal_factor <= 10:
                raise ScheduleError("seasonal_factor", "must be between 0 (skip) and 10")
        elif method == "custom":
            payments = self.custom_payments
            if len(payments) != self.term - self.grace_periods:
                raise ScheduleError(
                    "custom_payments", f"give one amount per repaying installment ({self.term - self.grace_periods})"
                )
            put(
                "custom_payments",
                tuple(
                    p if p is None and i == len(payments) - 1 else _money(p, "custom_payments", unit)
                    for i, p in enumerate(payments)
                ),
            )

    @property
    def unit(self) -> Decimal:
        """The currency's minor unit, e.g. Decimal("0.01")."""
        return ONE.scaleb(-self.currency_decimals)

    @property
    def grace_periods(self) -> int:
        return self.interest_grace_periods + self.principal_grace_periods

    @property
    def periods_per_year(self) -> int:
        return FREQUENCIES[self.frequency]

    @property
    def amount_financed(self) -> Decimal:
        """The principal the installments repay: the amount, plus the upfront fee when financed."""
        return self.amount + self.upfront_fee if self.upfront_fee_financed else self.amount

    @property
    def net_disbursed(self) -> Decimal:
        """What the customer receives: the amount, less the upfront fee when it is deducted."""
        return self.amount if self.upfront_fee_financed else self.amount - self.upfront_fee

    @property
    def lump_sum(self) -> Decimal:
        """What the plan leaves to the last installment by design (balloon or combination lump sum)."""
        if self.method == "balloon":
            return self.balloon_amount
        if self.method == "combination":
            if self.lump_sum_amount is not None:
                return self.lump_sum_amount
            return (self.amount_financed * self.lump_sum_share).quantize(self.unit, rounding=ROUND_HALF_UP)
        return ZERO


# ---------------------------------------------------------------------------------------------
# Output


@dataclass(frozen=True, slots=True)
class Installment:
    """One due date: payment = principal + interest + fee; balance is the principal left after it."""

    number: int
    due_date: date
    principal: Decimal
    interest: Decimal
    fee: Decimal
    payment: Decimal
    balance: Decimal


@dataclass(frozen=True)
class Schedule:
    """A plan's installments and its disclosure.

    total_payable = sum of payments + an upfront fee deducted at disbursement
                  = amount + total_interest + total_fees.
    apr and effective_annual_rate are percents with 2 decimals (see the module docstring).
    A schedule returned by servicing (prepay, payment_holiday, reamortise) covers the balance
    carried from that event: its `terms` hold that balance and dates, `amount_financed` and
    `net_disbursed` equal the balance, and its installments continue the original numbering.
    """

    terms: PlanTerms
    installments: list[Installment]
    amount_financed: Decimal
    net_disbursed: Decimal
    total_interest: Decimal
    total_fees: Decimal
    total_payable: Decimal
    apr: Decimal
    effective_annual_rate: Decimal


@dataclass(frozen=True)
class PayoffQuote:
    """What settles a plan on `on_date`.

    total = outstanding_principal + accrued_interest + (unearned_interest - interest_rebate)
            + due_unpaid + early_payoff_fee - discount
    """

    on_date: date
    outstanding_principal: Decimal
    accrued_interest: Decimal
    unearned_interest: Decimal
    interest_rebate: Decimal
    due_unpaid: Decimal
    early_payoff_fee: Decimal
    discount: Decimal
    total: Decimal


# ---------------------------------------------------------------------------------------------
# Calendar


def _clamp_day(year: int, month: int, day: int) -> int:
    if day <= 28:
        return day
    return min(day, 29 if month == 2 and calendar.isleap(year) else _MONTH_DAYS[month])


def _add_months(start: date, months: int, day: int) -> date:
    years, month0 = divmod(start.month - 1 + months, 12)
    year = start.year + years
    return date(year, month0 + 1, _clamp_day(year, month0 + 1, day))


def _due_day(terms: PlanTerms) -> int:
    if terms.due_day is not None:
        return terms.due_day
    start, first = terms.disbursement_date, terms.first_due_date
    if first is None or first == _add_months(start, 1, start.day):
        return start.day
    return first.day


def _due_dates(terms: PlanTerms, start: int, count: int) -> list[date]:
    """Dates `start` .. `start + count - 1` of the plan's due-date grid (0 = the first due date,
    -1 = one period before it)."""
    if terms.frequency == "monthly":
        day = _due_day(terms)
        first = terms.first_due_date or _add_months(terms.disbursement_date, 1, day)
        return [_add_months(first, i, day) for i in range(start, start + count)]
    step = timedelta(days=7 if terms.frequency == "weekly" else 14)
    first = terms.first_due_date or terms.disbursement_date + step
    return [first + step * i for i in range(start, start + count)]


def _due_date(terms: PlanTerms, index: int) -> date:
    return _due_dates(terms, index, 1)[0]


def _days(terms: PlanTerms, start: date, end: date) -> int:
    """Days between two dates by the day count (30E/360 only for monthly 30/360 plans)."""
    if terms.day_count == "30/360" and terms.frequency == "monthly":
        return 360 * (end.year - start.year) + 30 * (end.month - start.month) + min(end.day, 30) - min(start.day, 30)
    return (end - start).days


@dataclass(frozen=True, slots=True)
class _Calendar:
    due_dates: list[date]
    days: list[int]  # accrual days of each period
    rate_days: list[Decimal]  # annual_rate x days, 0 where interest is waived
    basis: Decimal  # 100 x days in the year: interest = balance x rate_days / basis
    rates: list[Decimal]  # periodic rates rate_days / basis, for solving
    lengths: list[Decimal]  # period lengths in regular periods, for the APR


def _period_days(terms: PlanTerms, index: int, start: date, end: date) -> int:
    """Accrual days of period `index` (start -> end): monthly 30/360 counts 30 a month, the first
    period 30 plus its odd days; otherwise the actual days."""
    if terms.day_count == "30/360" and terms.frequency == "monthly":
        return 30 + _days(terms, start, _due_date(terms, -1)) if index == 0 else 30
    return (end - start).days


def _calendar(terms: PlanTerms) -> _Calendar:
    count = terms.term
    dates = _due_dates(terms, 0, count)
    if terms.day_count == "30/360" and terms.frequency == "monthly":
        year_days = 360
        days = [_period_days(terms, 0, terms.disbursement_date, dates[0])] + [30] * (count - 1)
        if days[0] <= 0 < (dates[0] - terms.disbursement_date).days:
            # 30/360 counts the 30th to the 31st as no day at all; a period that really has a day is one day.
            days[0] = 1
    else:
        year_days = 364 if terms.day_count == "30/360" else 365
        days = [(end - start).days for start, end in zip([terms.disbursement_date, *dates], dates, strict=False)]
    if days[0] <= 0:
        raise ScheduleError("first_due_date", "leaves no time for the first period")
    waived = terms.interest_grace_periods if terms.interest_grace_mode == "waive" else 0
    basis = Decimal(100 * year_days)
    rate = terms.annual_rate
    ppy = terms.periods_per_year
    length_of = {d: Decimal(d * ppy) / year_days for d in set(days)}
    rate_of = {d: rate * d / basis for d in set(days)}
    return _Calendar(
        due_dates=dates,
        days=days,
        rate_days=[ZERO if i < waived else rate * d for i, d in enumerate(days)],
        basis=basis,
        rates=[ZERO if i < waived else rate_of[d] for i, d in enumerate(days)],
        lengths=[length_of[d] for d in days],
    )


# ---------------------------------------------------------------------------------------------
# Amortisation


class _Overshoot(Exception):
    """The scheduled amounts repay the loan before the last installment."""

    def __init__(self, number: int):
        self.number = number


def _flat_interest(terms: PlanTerms, cal: _Calendar, base: Decimal) -> list[Decimal] | None:
    """Flat plans charge each period's interest on the amount financed, not on the balance."""
    if terms.method != "flat":
        return None
    return [(base * r / cal.basis).quantize(terms.unit, rounding=ROUND_HALF_UP) for r in cal.rate_days]


def _run(terms, cal, balance, steps, flat, *, offset=0, truncate=False) -> list[Installment]:
    """Apply `steps` (amount, plus_interest) period by period; the last period takes the residue.

    A step pays `amount`, or `amount + that period's interest` when plus_interest is set. A step
    that would clear the balance early ends the schedule there (truncate) or raises _Overshoot.
    """
    unit, fee = terms.unit, terms.monthly_fee
    cleared = unit * 0  # a zero balance with the currency's decimals
    rows = []
    last = len(steps) - 1
    for i, (amount, plus_interest) in enumerate(steps):
        if flat is None:
            interest = (balance * cal.rate_days[i] / cal.basis).quantize(unit, rounding=ROUND_HALF_UP)
        else:
            interest = flat[i]
        owed = balance + interest
        pay = amount + interest if plus_interest else amount
        if i == last or pay >= owed:
            if i < last and not truncate:
                raise _Overshoot(offset + i + 1)
            rows.append(Installment(offset + i + 1, cal.due_dates[i], balance, interest, fee, owed + fee, cleared))
            return rows
        balance = owed - pay
        rows.append(Installment(offset + i + 1, cal.due_dates[i], pay - interest, interest, fee, pay + fee, balance))
    return rows


def _solve_scale(balance, cal, weights, plus_interest, flat, target, field) -> Decimal:
    """The exact c for which paying c x weights[j] each period leaves `target` after the last.

    The balance is linear in c: B_n = growth - c x coefficient, built in one pass.
    """
    coefficient = ZERO
    for rate, weight, plus, flat_charge in zip(cal.rates, weights, plus_interest, flat or weights, strict=False):
        if plus:  # that period's interest is paid on top: the balance does not grow
            coefficient += weight
        elif flat is not None:
            balance += flat_charge
            coefficient += weight
        else:
            growth = ONE + rate
            balance *= growth
            coefficient = coefficient * growth + weight
    if not coefficient:
        raise ScheduleError(field, "no installment repays any principal")
    return (balance - target) / coefficient


def _scaled_rows(terms, cal, balance, weights, plus_interest, *, target=ZERO, offset=0, field="amount"):
    """Installments paying c x weight each (rounded), c solved so the loan repays; see module doc."""
    flat = _flat_interest(terms, cal, balance)
    scale = _solve_scale(balance, cal, weights, plus_interest, flat, target, field)
    multiple, unit = terms.installment_multiple, terms.unit

    def rounded(weight, plus, to_multiple, to_unit):
        amount = scale * weight
        if multiple and not plus:
            amount = (amount / multiple).to_integral_value(rounding=to_multiple) * multiple
        return amount.quantize(unit, rounding=to_unit), plus

    # First up to the multiple / half-up to the minor unit; if that repays early, down.
    for to_multiple, to_unit in ((ROUND_CEILING, ROUND_HALF_UP), (ROUND_FLOOR, ROUND_FLOOR)):
        memo = {}  # most plans repeat a handful of weights
        steps = [
            memo.get(key) or memo.setdefault(key, rounded(*key, to_multiple, to_unit))
            for key in zip(weights, plus_interest, strict=True)
        ]
        try:
            return _run(terms, cal, balance, steps, flat, offset=offset)
        except _Overshoot:
            continue
    raise ScheduleError(
        "installment_multiple" if multiple else "amount",
        f"too small to spread over {len(weights)} installments with this rounding",
    )


def _plan_shape(terms: PlanTerms, cal: _Calendar) -> tuple[list[Decimal], list[bool]]:
    """Each installment's weight and whether it pays its interest on top, for the plan type."""
    grace_i, grace_p = terms.interest_grace_periods, terms.principal_grace_periods
    count = terms.term - grace_i - grace_p
    method = terms.method
    plus = method in _PLUS_INTEREST_METHODS
    if method == "interest_only":
        weights = [ZERO] * (count - 1) + [ONE]
    elif method == "step_up":
        weights = [terms.step_ratio ** (j * terms.step_count // count) for j in range(count)]
    elif method == "seasonal":
        factor, months = terms.seasonal_factor, terms.seasonal_months
        weights = [factor if d.month in months else ONE for d in cal.due_dates[grace_i + grace_p : -1]] + [ONE]
    else:
        weights = [ONE] * count
    return [ZERO] * (grace_i + grace_p) + weights, [False] * grace_i + [True] * grace_p + [plus] * count


def _plan_rows(terms: PlanTerms, cal: _Calendar, offset: int = 0) -> list[Installment]:
    """The installments of `terms` for its plan type, numbered after `offset`."""
    if terms.method == "custom":
        return _custom_rows(terms, cal, offset)
    weights, plus_interest = _plan_shape(terms, cal)
    field = "seasonal_months" if terms.method == "seasonal" else "term"
    return _scaled_rows(
        terms, cal, terms.amount_financed, weights, plus_interest, target=terms.lump_sum, offset=offset, field=field
    )


def _custom_rows(terms: PlanTerms, cal: _Calendar, offset: int = 0) -> list[Installment]:
    grace = [(ZERO, False)] * terms.interest_grace_periods + [(ZERO, True)] * terms.principal_grace_periods
    given = terms.custom_payments
    steps = grace + [(p or ZERO, False) for p in given]
    try:
        rows = _run(terms, cal, terms.amount_financed, steps, None, offset=offset)
    except _Overshoot as early:
        raise ScheduleError(
            "custom_payments", f"the payments repay the loan by installment {early.number}, before the last one"
        )
    needed = rows[-1].payment - rows[-1].fee
    if given[-1] is not None and abs(needed - given[-1]) > terms.unit * len(given):
        verb = "do not repay" if needed > given[-1] else "overpay"
        raise ScheduleError(
            "custom_payments",
            f"the payments {verb} the loan: the last installment would have to be {needed}, not {given[-1]}",
        )
    return rows


def _percent(value: Decimal) -> Decimal:
    """A rate as a percent with 2 decimals; wide enough for absurd rates (a week's loan at a big fee)."""
    with localcontext(prec=max(_PRECISION, value.adjusted() + 6)):
        return (value * HUNDRED).quantize(CENT, rounding=ROUND_HALF_UP)


def _schedule(terms: PlanTerms, cal: _Calendar, rows: list[Installment], advance: Decimal) -> Schedule:
    payments = [r.payment for r in rows]
    paid = sum(payments, ZERO)
    fee_at_start = ZERO if terms.upfront_fee_financed else terms.upfront_fee
    periodic = _periodic_irr(advance, payments, cal.lengths, terms.annual_rate / HUNDRED / terms.periods_per_year)
    return Schedule(
        terms=terms,
        installments=rows,
        amount_financed=terms.amount_financed,
        net_disbursed=advance,
        total_interest=sum((r.interest for r in rows), ZERO),
        total_fees=terms.upfront_fee + terms.monthly_fee * len(rows),
        total_payable=paid + fee_at_start,
        apr=_percent(periodic * terms.periods_per_year),
        effective_annual_rate=_percent((ONE + periodic) ** terms.periods_per_year - ONE),
    )


def _periodic_irr(advance: Decimal, payments: list[Decimal], lengths: list[Decimal], guess: Decimal) -> Decimal:
    """The periodic rate x with sum(payment_j / prod_{i<=j}(1 + x u_i)) == advance.

    Newton's method inside a shrinking bracket, bisecting when a step leaves it. The present
    value is decreasing and convex in x, so from the left of the root Newton converges
    monotonically and quadratically: two or three passes from the nominal rate, and a handful
    at any rate from 0% to thousands of percent.
    """
    surplus = sum(payments, ZERO) - advance
    if not surplus:
        return ZERO  # exact: repaying no more than the advance is a zero rate
    low, high = (ZERO, None) if surplus > 0 else (Decimal("-0.99"), ZERO)
    if not low < guess or (high is not None and guess >= high):
        guess = 2 * surplus / (advance * (len(payments) + 1))  # the flat-rate approximation
    x = guess
    distinct = set(lengths)
    for _ in range(200):
        factors = {}
        for u in distinct:
            factor = ONE / (ONE + x * u)
            factors[u] = (factor, u * factor)
        discount, duration, value, slope = ONE, ZERO, -advance, ZERO
        for payment, u in zip(payments, lengths, strict=False):
            factor, weighted = factors[u]
            discount *= factor
            duration += weighted
            present = payment * discount
            value += present
            slope -= present * duration
        if value > 0:
            low = x
        else:
            high = x
        candidate = x - value / slope
        if candidate <= low or (high is not None and candidate >= high):
            candidate = (low + high) / 2 if high is not None else x * 2 + CENT
        if abs(candidate - x) <= _IRR_TOLERANCE * (ONE + abs(x)):
            return candidate
        x = candidate
    return x


# ---------------------------------------------------------------------------------------------
# Public: building


def build_schedule(terms: PlanTerms) -> Schedule:
    """The full schedule of `terms`, exact to the minor unit, with totals, APR and effective rate.

    Principal sums exactly to `terms.amount_financed`; the last installment takes the residue;
    every payment = principal + interest + fee. Raises ScheduleError for terms that cannot
    repay (custom amounts that do not repay or overshoot, all installments skipped, ...).
    """
    with _context():
        cal = _calendar(terms)
        return _schedule(terms, cal, _plan_rows(terms, cal), terms.net_disbursed)


def schedule_from_rows(terms: PlanTerms, installments: list[Installment]) -> Schedule:
    """A Schedule again from stored terms and installments (totals and APR recomputed), e.g. to
    service a plan version kept in the database. Servicing reads only the terms and the rows."""
    with _context():
        if len(installments) != terms.term:
            raise ScheduleError("installments", f"expected {terms.term} installments, got {len(installments)}")
        return _schedule(terms, _calendar(terms), list(installments), terms.net_disbursed)


def schedule_to_dict(schedule: Schedule) -> dict:
    """The schedule for the API: amounts as strings with the currency's decimals ("530.73"),
    rates as percent strings with 2 decimals ("12.68"), dates as ISO strings."""
    places = schedule.terms.currency_decimals

    def money(value: Decimal) -> str:
        return f"{value:.{places}f}"

    return {
        "method": schedule.terms.method,
        "frequency": schedule.terms.frequency,
        "day_count": schedule.terms.day_count,
        "annual_rate": str(schedule.terms.annual_rate),
        "amount_financed": money(schedule.amount_financed),
        "net_disbursed": money(schedule.net_disbursed),
        "total_interest": money(schedule.total_interest),
        "total_fees": money(schedule.total_fees),
        "total_payable": money(schedule.total_payable),
        "apr": f"{schedule.apr:.2f}",
        "effective_annual_rate": f"{schedule.effective_annual_rate:.2f}",
        "installments": [
            {
                "number": row.number,
                "due_date": row.due_date.isoformat(),
                "principal": money(row.principal),
                "interest": money(row.interest),
                "fee": money(row.fee),
                "payment": money(row.payment),
                "balance": money(row.balance),
            }
            for row in schedule.installments
        ],
    }


# ---------------------------------------------------------------------------------------------
# Public: servicing. Each returns a new value; the caller keeps the old schedule as a version.


def _due_count(schedule: Schedule, on_date: date) -> int:
    """How many installments fall due on or before on_date."""
    if not isinstance(on_date, date):
        raise ScheduleError("on_date", "must be a date")
    if on_date < schedule.terms.disbursement_date:
        raise ScheduleError("on_date", "is before the plan starts")
    return sum(1 for row in schedule.installments if row.due_date <= on_date)


def _balance_after(schedule: Schedule, count: int) -> Decimal:
    return schedule.installments[count - 1].balance if count else schedule.terms.amount_financed


def _period_start(schedule: Schedule, count: int) -> date:
    return schedule.installments[count - 1].due_date if count else schedule.terms.disbursement_date


def _accrued_interest(schedule: Schedule, count: int, on_date: date) -> Decimal:
    """The current period's scheduled interest, pro rata to the days elapsed by the day count."""
    rows, terms = schedule.installments, schedule.terms
    if count == len(rows):
        return terms.unit * 0
    start = _period_start(schedule, count)
    period = _period_days(terms, count, start, rows[count].due_date)
    elapsed = min(max(_days(terms, start, on_date), 0), period)
    return (rows[count].interest * elapsed / period).quantize(terms.unit, rounding=ROUND_HALF_UP)


def _remaining_shape(schedule: Schedule, count: int) -> tuple[list[Decimal], list[bool]]:
    """The remaining installments as the steps that made them: (amount, plus_interest) each.

    Interest-only periods and equal-principal installments keep their principal part; every
    other installment keeps its payment less fee.
    """
    terms = schedule.terms
    grace_i, grace_end = terms.interest_grace_periods, terms.grace_periods
    weights, plus_interest = [], []
    for index in range(count, len(schedule.installments)):
        row = schedule.installments[index]
        plus = grace_i <= index < grace_end or (index >= grace_end and terms.method in _PLUS_INTEREST_METHODS)
        weights.append(row.principal if plus else row.payment - row.fee)
        plus_interest.append(plus)
    return weights, plus_interest


def _rescheduled_rows(
    schedule: Schedule, count: int, terms: PlanTerms, cal: _Calendar, balance: Decimal, holiday: int = 0
) -> list[Installment]:
    """The installments after `count` on the carried `terms`, amounts solved so `balance` repays.

    Plan types whose shape does not depend on position are rebuilt on the carried terms (an
    annuity stays level, a balloon keeps its balloon, seasonal months stay seasonal); a step-up
    or custom plan keeps the shape of its remaining installments, scaled by one factor.
    """
    offset = _offset(schedule) + count
    if terms.method not in _POSITIONAL_METHODS:
        return _plan_rows(terms, cal, offset)
    weights, plus_interest = _remaining_shape(schedule, count)
    return _scaled_rows(
        terms, cal, balance, [ZERO] * holiday + weights, [False] * holiday + plus_interest, offset=offset
    )


def _carried_terms(
    schedule: Schedule,
    count: int,
    *,
    start: date,
    balance: Decimal,
    term: int,
    holiday: int = 0,
    holiday_mode: str | None = None,
    **changes,
) -> PlanTerms:
    """The terms of the plan carried on from installment `count` with `balance` on `start`."""
    terms = schedule.terms
    done_i = min(count, terms.interest_grace_periods)
    done_p = min(max(count - terms.interest_grace_periods, 0), terms.principal_grace_periods)
    carried = {
        "amount": balance,
        "disbursement_date": start,
        "first_due_date": _due_date(terms, count),
        "due_day": _due_day(terms) if terms.frequency == "monthly" else None,
        "term": term,
        "upfront_fee": ZERO,
        "upfront_fee_financed": False,
        "interest_grace_periods": terms.interest_grace_periods - done_i + holiday,
        "interest_grace_mode": holiday_mode or terms.interest_grace_mode,
        "principal_grace_periods": terms.principal_grace_periods - done_p,
    }
    if terms.method == "balloon":
        carried["balloon_amount"] = min(terms.balloon_amount, balance)
    elif terms.method == "combination":
        carried.update(lump_sum_share=None, lump_sum_amount=min(terms.lump_sum, balance - terms.unit))
    elif terms.method == "custom":
        weights, _ = _remaining_shape(schedule, count)
        kept = weights[terms.grace_periods - done_i - done_p :]
        carried["custom_payments"] = (*kept[:-1], None)
    refused = (set(changes) - {f.name for f in fields(PlanTerms)}) | (set(changes) & _CARRIED)
    if refused:
        raise ScheduleError(sorted(refused)[0], "cannot be changed here")
    return replace(terms, **{**carried, **changes})


def _serviced(terms: PlanTerms, cal: _Calendar, rows: list[Installment]) -> Schedule:
    """Wrap servicing rows; the terms are trimmed to what the rows became (custom amounts, term),
    so that schedule_from_rows(schedule.terms, schedule.installments) gives the same schedule."""
    if len(rows) != terms.term or terms.method == "custom":
        changes = {"term": len(rows)}
        if terms.method == "custom":
            amortising = rows[terms.grace_periods :]
            changes["custom_payments"] = (*(r.payment - r.fee for r in amortising[:-1]), None)
        terms = replace(terms, **changes)
    return _schedule(terms, cal, rows, terms.net_disbursed)  # a trimmed plan's periods are a prefix of cal's


def _offset(schedule: Schedule) -> int:
    return schedule.installments[0].number - 1


def payoff_quote(
    schedule: Schedule,
    on_date: date,
    *,
    installments_paid: int | None = None,
    rebate_unearned_interest: bool = True,
    early_payoff_fee_rate: Decimal = ZERO,
    early_payoff_discount: Decimal = ZERO,
) -> PayoffQuote:
    """The amount that settles the plan on `on_date` (all amounts rounded half-up to the minor unit).

    * Installments due on or before on_date count as due; `installments_paid` of them (by default
      all) are paid, the rest are `due_unpaid` in full (fees included).
    * outstanding_principal: the balance after the installments due.
    * accrued_interest: the current period's scheduled interest pro rata to the days from the
      last due date (or the disbursement) to on_date, by the plan's day count.
    * unearned_interest: the scheduled interest after on_date; rebated in full when
      rebate_unearned_interest (the default), charged otherwise.
    * early_payoff_fee: early_payoff_fee_rate percent of the outstanding principal.
    * discount: early_payoff_discount, a money amount the lender grants, capped at the interest
      and fee in the quote.
    """
    with _context():
        terms = schedule.terms
        rows = schedule.installments
        due = _due_count(schedule, on_date)
        paid = due if installments_paid is None else _integer(installments_paid, "installments_paid", 0, due)
        fee_rate = _decimal(early_payoff_fee_rate, "early_payoff_fee_rate")
        if not ZERO <= fee_rate <= HUNDRED:
            raise ScheduleError("early_payoff_fee_rate", "must be between 0 and 100 percent")
        zero = terms.unit * 0
        outstanding = _balance_after(schedule, due)
        accrued = _accrued_interest(schedule, due, on_date)
        unearned = sum((r.interest for r in rows[due:]), zero) - accrued
        rebate = unearned if rebate_unearned_interest else zero
        fee = (outstanding * fee_rate / HUNDRED).quantize(terms.unit, rounding=ROUND_HALF_UP)
        discount = min(
            _money(early_payoff_discount, "early_payoff_discount", terms.unit), accrued + unearned - rebate + fee
        )
        due_unpaid = sum((r.payment for r in rows[paid:due]), zero)
        return PayoffQuote(
            on_date=on_date,
            outstanding_principal=outstanding,
            accrued_interest=accrued,
            unearned_interest=unearned,
            interest_rebate=rebate,
            due_unpaid=due_unpaid,
            early_payoff_fee=fee,
            discount=discount,
            total=outstanding + accrued + unearned - rebate + due_unpaid + fee - discount,
        )


def prepay(schedule: Schedule, on_date: date, amount: Decimal, *, mode: str = "reduce_term") -> Schedule:
    """The schedule after a part prepayment of `amount` on `on_date` (installments due by then paid).

    The amount pays the interest accrued to on_date first (see payoff_quote), the rest reduces
    principal. The new schedule starts on on_date with the reduced balance, its first period
    running to the next due date:
    * reduce_term: the remaining installments keep their amounts (equal-principal plans their
      principal parts) and the plan ends as soon as they repay it; the last takes the residue.
    * reduce_installment: the same due dates, lower amounts: the plan type is solved again on the
      reduced balance (an annuity stays level, equal principal equal, a balloon keeps its balloon
      up to the balance); a step-up or custom plan scales its remaining amounts by one factor.
    Raises ScheduleError("amount") when the amount does not exceed the accrued interest or
    would settle the plan (use payoff_quote for that).
    """
    with _context():
        _choice(mode, "mode", PREPAY_MODES)
        terms = schedule.terms
        amount = _money(amount, "amount", terms.unit)
        due = _due_count(schedule, on_date)
        if due == len(schedule.installments):
            raise ScheduleError("on_date", "every installment is already due")
        accrued = _accrued_interest(schedule, due, on_date)
        owed = _balance_after(schedule, due) + accrued
        if not accrued < amount < owed:
            raise ScheduleError(
                "amount", f"must be more than the accrued interest ({accrued}) and less than the payoff amount ({owed})"
            )
        balance = owed - amount
        new_terms = _carried_terms(schedule, due, start=on_date, balance=balance, term=len(schedule.installments) - due)
        cal = _calendar(new_terms)
        if mode == "reduce_term":
            steps = list(zip(*_remaining_shape(schedule, due), strict=True))
            flat = _flat_interest(new_terms, cal, balance)
            rows = _run(new_terms, cal, balance, steps, flat, offset=_offset(schedule) + due, truncate=True)
        else:
            rows = _rescheduled_rows(schedule, due, new_terms, cal, balance)
        return _serviced(new_terms, cal, rows)


def payment_holiday(schedule: Schedule, on_date: date, periods: int, *, interest: str = "capitalise") -> Schedule:
    """The schedule with the next `periods` installments after on_date paused.

    Installments due by on_date are taken as paid. The paused installments pay only the
    per-installment fee; their interest is added to the balance ("capitalise") or not charged
    ("waive"). The remaining installments then follow, solved again so the plan still repays
    (as for prepay's reduce_installment; within a cent of before when interest is waived). The term grows by
    `periods`; the new schedule starts at the last due date on or before on_date.
    """
    with _context():
        periods = _integer(periods, "periods", 1, _MAX_TERM)
        _choice(interest, "interest", GRACE_MODES)
        due = _due_count(schedule, on_date)
        if due == len(schedule.installments):
            raise ScheduleError("on_date", "every installment is already due")
        balance = _balance_after(schedule, due)
        new_terms = _carried_terms(
            schedule,
            due,
            start=_period_start(schedule, due),
            balance=balance,
            term=periods + len(schedule.installments) - due,
            holiday=periods,
            holiday_mode=interest,
        )
        cal = _calendar(new_terms)
        rows = _rescheduled_rows(schedule, due, new_terms, cal, balance, holiday=periods)
        return _serviced(new_terms, cal, rows)


def reamortise(
    schedule: Schedule, on_date: date, *, term: int, installments_paid: int | None = None, **changes
) -> Schedule:
    """A new plan for the balance over `term` installments (a restructuring), from the last due date.

    The balance is the principal left after the installments due by on_date, plus everything
    still unpaid of them (arrears are capitalised). The new plan starts at the last date of the
    plan's due-date grid on or before on_date (or the disbursement), so no period is charged
    twice; past the last installment the grid runs on, and interest between the last
    installment and that date is left to overdue charges. It keeps the grid, numbering, day
    count, fees and plan type, and is built afresh like build_schedule, so a step-up or seasonal
    plan takes its shape over the new term. `changes` replace other plan terms (annual_rate,
    method, custom_payments, grace periods, ...); grace periods are not carried over unless given.
    """
    with _context():
        terms, rows = schedule.terms, schedule.installments
        due = _due_count(schedule, on_date)
        paid = due if installments_paid is None else _integer(installments_paid, "installments_paid", 0, due)
        arrears = sum((r.payment for r in rows[paid:due]), ZERO)
        balance = _balance_after(schedule, due) + arrears
        if not balance:
            raise ScheduleError("on_date", "nothing is left to re-amortise")
        grid = due
        while grid >= len(rows) and _due_date(terms, grid) <= on_date:  # a matured plan: the grid runs on
            grid += 1
        start = _due_date(terms, grid - 1) if grid else terms.disbursement_date
        changes = {"interest_grace_periods": 0, "principal_grace_periods": 0, **changes}
        new_terms = _carried_terms(schedule, grid, start=start, balance=balance, term=term, **changes)
        cal = _calendar(new_terms)
        return _serviced(new_terms, cal, _plan_rows(new_terms, cal, _offset(schedule) + due))
