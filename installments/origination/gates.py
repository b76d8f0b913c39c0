"""The facts that stop one officer approving alone, read live when the decision is taken (not from
the stored score): whether the offer's installments are affordable on the customer's finances now,
and whether the customer is in arrears with us now. `installments.origination.decisions` turns them
into four-eyes reasons; the application page shows them before anyone decides.

Affordability is the offer engine's own rule (`installments.engine.offers.assess`, described in
that module's docstring): every regular installment, fees included, within the product's
payment-to-income and debt-service limits on the lower of declared income and statement inflow
(less in the customer's lean months), a final lump sum covered by savings. The largest affordable
installment is the engine's `level_limit`: the least, over the customer's months, of
income x payment-to-income limit and income x debt-service limit - (expenses + existing debt payments).

Arrears: any live plan (`Plan.LIVE_STATES`) with days past due, or an installment in force due
before today and not fully paid (the overdue amount, as `collections_app.selectors.plan_summary`
counts it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from decimal import Decimal, localcontext

from django.db.models import DecimalField, ExpressionWrapper, F, Max, Sum
from django.utils import timezone

from installments.engine.offers import (
    Candidate,
    CustomerFinances,
    assess,
    customer_budget,
    low_income_months,
    offer_terms_from_dict,
)
from installments.models import Application, Installment, Offer, Plan
from installments.origination import selectors

ZERO = Decimal(0)
# The engine's rejections that are about affordability (the APR cap is checked where offers are made).
UNAFFORDABLE = ("payment_to_income", "debt_service_ratio", "final_payment", "no_income")


@dataclass(frozen=True)
class Affordability:
    """An offer judged by the engine's affordability rule on the customer's finances now (money monthly).

    `problem` is the engine's rejection code (one of UNAFFORDABLE) or None when affordable;
    `affordable_installment` the largest level installment the limits allow (None: income unknown)."""

    installment: Decimal
    affordable_installment: Decimal | None
    final_payment: Decimal
    savings: Decimal | None
    currency: str
    problem: str | None

    @property
    def affordable(self) -> bool:
        return self.problem is None


def _budget_now(application: Application):
    """(product terms, the customer's finances now, their budget under the product's limits), as the
    offer engine computes them."""
    from installments.origination.applications import _customer_summary, application_preference

    product = selectors.product_terms(application.product)
    finances = CustomerFinances.from_summary(_customer_summary(application.customer))
    budget = customer_budget(product, finances, low_income_months(application_preference(application), finances))
    return product, finances, budget


def offer_affordability(*, application: Application, offer: Offer) -> Affordability:
    """Judge `offer` (stored or not: its `terms` are read) with the engine's `assess`, the product's
    limits and the customer's profile as it is now. The APR cap is left aside (not affordability)."""
    product, finances, budget = _budget_now(application)
    product = dataclasses.replace(product, max_apr=Decimal(10) ** 6)
    with localcontext(prec=34):
        candidate = assess(Candidate(terms=offer_terms_from_dict(offer.terms)), product, budget)
        limit = max(budget.level_limit, ZERO) if budget.income else None
    unit = product.unit
    return Affordability(
        installment=(candidate.highest_payment or offer.highest_installment).quantize(unit),
        affordable_installment=limit.quantize(unit) if limit is not None else None,
        final_payment=candidate.final_payment.quantize(unit),
        savings=finances.savings,
        currency=application.product.currency,
        problem=candidate.rejection if candidate.rejection in UNAFFORDABLE else None,
    )


def affordable_installment(application: Application) -> Decimal | None:
    """The largest level installment the customer can afford now under the product's limits (None:
    income unknown), for the counter-offer form."""
    product, _, budget = _budget_now(application)
    if not budget.income:
        return None
    with localcontext(prec=34):
        return max(budget.level_limit, ZERO).quantize(product.unit)


@dataclass(frozen=True)
class Arrears:
    """The customer's arrears with us now: the worst days past due of their live plans and the
    amount overdue on them (by currency)."""

    days_past_due: int
    overdue: dict[str, Decimal]

    @property
    def in_arrears(self) -> bool:
        return self.days_past_due > 0 or any(amount > 0 for amount in self.overdue.values())

    @property
    def overdue_text(self) -> str:
        return ", ".join(f"{amount:,.2f} {currency}" for currency, amount in sorted(self.overdue.items()) if amount > 0)


def customer_arrears(customer_id: int) -> Arrears:
    """Read the customer's live plans now (two queries)."""
    live = Plan.objects.filter(customer_id=customer_id, state__in=Plan.LIVE_STATES)
    days = live.aggregate(days=Max("days_past_due"))["days"] or 0
    money = DecimalField(max_digits=14, decimal_places=2)
    outstanding = ExpressionWrapper(
        F("principal_due") + F("interest_due") + F("fee_due") + F("penalty_due")
        - F("principal_paid") - F("interest_paid") - F("fee_paid") - F("penalty_paid"), output_field=money)
    rows = (Installment.objects.filter(plan__in=live, due_date__lt=timezone.localdate())
            .exclude(status__in=(Installment.Status.PAID, Installment.Status.SUPERSEDED))
            .values_list("plan__currency").annotate(amount=Sum(outstanding)).order_by())
    return Arrears(days_past_due=days, overdue={currency: amount for currency, amount in rows if amount})
