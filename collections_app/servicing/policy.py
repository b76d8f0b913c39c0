"""Servicing's shared rules: the money constants and rounding, the business date, which plan states take
payments, who may do what (roles), the product's servicing policy and the check of an entered amount.

The lowest module of servicing and collections: it imports none of the others.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.db.models import Q
from django.utils import timezone

from collections_app.models import Payment, ServicingPolicy
from config.errors import DomainError
from customers.roles import Role
from installments.models import Installment, Plan

ZERO = Decimal("0")
CENT = Decimal("0.01")
OPEN_STATUSES = (Installment.Status.PENDING, Installment.Status.DUE, Installment.Status.OVERDUE)
CLOSED_STATUSES = (Installment.Status.PAID, Installment.Status.SUPERSEDED)
PAYABLE_STATES = (Plan.State.ACTIVE, Plan.State.OVERDUE, Plan.State.RESTRUCTURED, Plan.State.IN_LEGAL)
# Money collected on a written-off plan (a recovery) comes in through staff, never as a prepayment.
RECOVERY_CHANNELS = (Payment.Channel.OFFICER, Payment.Channel.BANK_IMPORT)
# A posted payment can be reversed on a plan it paid off (the plan reopens) and on a recovery.
REVERSIBLE_STATES = (*PAYABLE_STATES, Plan.State.PAID_OFF, Plan.State.WRITTEN_OFF)
STAFF_PAYMENT_ROLES = (Role.LOAN_OFFICER, Role.COLLECTOR, Role.APPROVER, Role.MANAGER, Role.ADMIN)
REVERSAL_ROLES = (Role.LOAN_OFFICER, Role.APPROVER, Role.MANAGER, Role.ADMIN)
APPROVER_ROLES = (Role.APPROVER, Role.MANAGER, Role.ADMIN)
CUSTOMER_REQUEST_DECIDERS = (Role.LOAN_OFFICER, Role.APPROVER, Role.MANAGER, Role.ADMIN)
MEASURE_ROLES = (Role.COLLECTOR, Role.LOAN_OFFICER, Role.APPROVER, Role.MANAGER, Role.ADMIN)
PARTS = ("penalty", "fee", "interest", "principal")


def plan_takes_payment(plan: Plan, channel: str | None = None) -> bool:
    """Whether `plan` takes a payment on `channel`: any live plan; a written-off one only a recovery
    posted by staff (channel None: through any staff channel)."""
    if plan.state in PAYABLE_STATES:
        return True
    return plan.state == Plan.State.WRITTEN_OFF and (channel is None or channel in RECOVERY_CHANNELS)


def business_date() -> date:
    """Today in the lender's time zone (settings.TIME_ZONE): the date payments and COB count in."""
    return timezone.localdate()


def money(value: Decimal, unit: Decimal = CENT) -> Decimal:
    """Round to the currency's minor unit, half up: the one rounding rule of servicing."""
    return Decimal(value).quantize(unit, rounding=ROUND_HALF_UP)


def _unit(plan: Plan) -> Decimal:
    return Decimal(1).scaleb(-plan.product.currency_decimals)


def _clean_amount(amount, unit: Decimal, field_name: str = "amount") -> Decimal:
    try:
        value = Decimal(str(amount).strip().replace(",", ""))
    except (InvalidOperation, ValueError):
        raise DomainError("Enter an amount such as 530.73.", field=field_name)
    if not value.is_finite() or value <= 0:
        raise DomainError("Enter an amount greater than zero.", field=field_name)
    if value != value.quantize(unit):
        raise DomainError(f"Use at most {abs(unit.as_tuple().exponent)} decimals.", field=field_name)
    if value >= Decimal("1e12"):
        raise DomainError("The amount is too large.", field=field_name)
    return value


def policy_for(product) -> ServicingPolicy:
    """The product's servicing policy, else the default row, else the built-in defaults (unsaved)."""
    policies = {p.product_id: p for p in ServicingPolicy.objects.filter(Q(product=product) | Q(product__isnull=True))}
    return policies.get(getattr(product, "pk", None)) or policies.get(None) or ServicingPolicy()


def _has_role(user, *roles) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False) and user.has_role(*roles))
