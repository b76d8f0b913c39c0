"""A customer's financial position from their declared lines: totals and ratios (pure, Decimal only).

Definitions (one place; the profile page, the API, scoring and offers all use these):
- total monthly income      = sum of the income lines' monthly amounts
- total monthly expenses    = sum of the expense lines' monthly amounts (living costs; loan
                              repayments belong in the debts, never here, or they count twice)
- debt monthly payment      = sum of the existing debts' monthly payments
- disposable income         = income - expenses - debt payments (may be negative)
- debt-to-income (DTI)      = debt payments / income
- debt service ratio (DSR)  = (debt payments + expenses) / income: the share of income already
                              committed to fixed outgoings before a new installment
- total assets / savings    = sum of asset values / of those of kind `savings`
Ratios are fractions (0.3500 = 35 %), rounded half-up to 4 decimal places, and None when
there is no income. Money is rounded half-up to 2 decimal places.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
RATIO_QUANTUM = Decimal("0.0001")
ZERO = Decimal("0.00")


def quantize_money(amount: Decimal) -> Decimal:
    """Round to the currency's minor unit (2 places), half-up."""
    return Decimal(amount).quantize(CENT, rounding=ROUND_HALF_UP)


def ratio(numerator: Decimal, denominator: Decimal) -> Decimal | None:
    """`numerator / denominator` to 4 places, half-up; None when the denominator is not positive."""
    if denominator <= 0:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(RATIO_QUANTUM, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class FinancialPosition:
    total_monthly_income: Decimal
    total_monthly_expenses: Decimal
    debt_monthly_payment: Decimal
    debt_balance: Decimal
    disposable_income: Decimal
    debt_to_income: Decimal | None
    debt_service_ratio: Decimal | None
    total_assets: Decimal
    savings: Decimal

    def as_dict(self) -> dict:
        return asdict(self)


def _total(amounts: Iterable[Decimal]) -> Decimal:
    return quantize_money(sum((Decimal(a) for a in amounts), ZERO))


def financial_position(
    *,
    incomes: Iterable[Decimal],
    expenses: Iterable[Decimal],
    debt_payments: Iterable[Decimal],
    debt_balances: Iterable[Decimal],
    assets: Iterable[Decimal],
    savings: Iterable[Decimal],
) -> FinancialPosition:
    """Totals and ratios from the monthly amounts of each kind of line (see the module docstring)."""
    income = _total(incomes)
    expense = _total(expenses)
    payment = _total(debt_payments)
    return FinancialPosition(
        total_monthly_income=income,
        total_monthly_expenses=expense,
        debt_monthly_payment=payment,
        debt_balance=_total(debt_balances),
        disposable_income=income - expense - payment,
        debt_to_income=ratio(payment, income),
        debt_service_ratio=ratio(payment + expense, income),
        total_assets=_total(assets),
        savings=_total(savings),
    )
