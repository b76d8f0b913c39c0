"""Quotes: what settles a plan on a date (`plan_payoff_quote`), the product's early payoff discount included.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from collections_app.servicing.policy import OPEN_STATUSES, PAYABLE_STATES, ZERO, _unit, business_date, money
from collections_app.servicing.position import plan_position
from collections_app.servicing.versions import _live_open_rows, _schedule_error
from config.errors import DomainError
from installments.engine.schedules import ScheduleError, payoff_quote
from installments.models import Plan


@dataclass(frozen=True)
class PlanPayoff:
    """What settles a plan on `on_date`; `total` is what the customer pays, valid until `valid_until`.

    total = arrears + outstanding_principal + accrued_interest + early_payoff_fee
            - early_payoff_discount - discount - paid_ahead - credit
    """

    on_date: date
    arrears: Decimal
    outstanding_principal: Decimal
    accrued_interest: Decimal
    interest_rebate: Decimal
    early_payoff_fee: Decimal
    discount: Decimal
    credit: Decimal
    total: Decimal
    currency: str
    early_payoff_discount: Decimal = ZERO
    paid_ahead: Decimal = ZERO
    valid_until: date | None = None


def early_payoff_discount(*, plan: Plan, on_date: date, interest: Decimal) -> Decimal:
    """The product's one-time prepayment offer (seed article 001): `early_payoff_discount_rate` percent
    of the interest still charged in a payoff quote, for payoffs within `early_payoff_discount_months`
    of the disbursement (0: any time). Rounded half up to the currency unit."""
    product = plan.product
    rate = product.early_payoff_discount_rate or ZERO
    if rate <= 0 or interest <= 0:
        return ZERO
    months = product.early_payoff_discount_months
    if months:
        start = plan.disbursement_date
        month = start.month - 1 + months
        year, month = start.year + month // 12, month % 12 + 1
        end = date(year, month, min(start.day, calendar.monthrange(year, month)[1]))
        if on_date > end:
            return ZERO
    return min(money(interest * rate / 100, _unit(plan)), interest)


def plan_payoff_quote(*, plan: Plan, on_date: date, discount: Decimal = ZERO) -> PlanPayoff:
    """What settles the plan on `on_date`, from its true state on that date (`plan_position`): the
    arrears still unpaid (late charges included) plus, from the current schedule, the principal not
    yet due net of installments paid ahead, the interest accrued to the date (unearned interest
    rebated when the product says so) and the product's early payoff fee; less the product's early
    payoff discount, any `discount`, money already paid on the installments the payoff replaces,
    and the credit balance. Valid for `on_date` only (interest accrues daily)."""
    today = business_date()
    if on_date < today:
        raise DomainError("Choose today or a later date.", field="on_date")
    if on_date > today + timedelta(days=90):
        raise DomainError("A quote can be at most 90 days ahead.", field="on_date")
    if plan.state not in PAYABLE_STATES:
        raise DomainError("The plan is closed.", field="plan", code="plan_closed")
    product = plan.product
    zero = ZERO
    position = plan_position(plan, on_date)
    if position is None:
        total = sum((r.amount_outstanding for r in _live_open_rows(plan)), zero)
        arrears, principal, accrued, rebate, fee, paid_ahead = total, zero, zero, zero, zero, zero
    else:
        arrears = sum((r.amount_outstanding for r in position.kept if r.status in OPEN_STATUSES), zero)
        try:
            quote = payoff_quote(position.schedule, position.engine_date,
                                 rebate_unearned_interest=product.early_payoff_rebate,
                                 early_payoff_fee_rate=product.early_payoff_fee_rate)
        except ScheduleError as error:
            raise _schedule_error(error, "on_date")
        principal = quote.outstanding_principal
        accrued = quote.accrued_interest + quote.unearned_interest - quote.interest_rebate
        rebate, fee, paid_ahead = quote.interest_rebate, quote.early_payoff_fee, position.paid_ahead
    offer = early_payoff_discount(plan=plan, on_date=on_date, interest=accrued)
    gross = arrears + principal + accrued + fee - offer
    discount = min(max(Decimal(discount), zero), gross)
    paid_ahead = min(paid_ahead, gross - discount)
    credit = min(plan.credit_balance, gross - discount - paid_ahead)
    return PlanPayoff(on_date=on_date, arrears=arrears, outstanding_principal=principal, accrued_interest=accrued,
                      interest_rebate=rebate, early_payoff_fee=fee, discount=discount, credit=credit,
                      total=gross - discount - paid_ahead - credit, currency=plan.currency,
                      early_payoff_discount=offer, paid_ahead=paid_ahead, valid_until=on_date)
