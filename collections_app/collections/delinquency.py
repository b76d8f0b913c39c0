"""Delinquency of one plan after a payment or a change: days past due, bucket and state (the close of
business, `collections_app.collections.cob`, does the same for the whole book), and its open collection
case brought up to date or closed.
"""

from __future__ import annotations

from datetime import date

from django.utils import timezone

from collections_app.collections.buckets import bucket_for
from collections_app.models import CollectionCase, PromiseToPay
from collections_app.servicing.policy import OPEN_STATUSES, PAYABLE_STATES, ZERO, business_date, money
from customers.audit import transition
from installments.models import Application, Installment, Plan


def plan_refresh(*, plan: Plan, by, on_date: date | None = None, reason: str = "") -> Plan:
    """Recompute one locked plan's days past due, bucket and state after a payment or a change;
    closes it as paid off when nothing is left to pay. The caller holds the plan's lock."""
    from installments.origination.applications import application_transition

    on_date = on_date or business_date()
    open_rows = list(Installment.objects.filter(plan=plan, status__in=OPEN_STATUSES).values_list("due_date", flat=True))
    if open_rows and plan.state == Plan.State.PAID_OFF:
        plan.closed_at = None
        transition(plan, to=Plan.State.ACTIVE, by=by, reason=reason or "reopened: money is owed again",
                   allowed=Plan.TRANSITIONS, extra_update_fields=("closed_at",))
        if plan.application.state == Application.State.CLOSED:
            application_transition(application=plan.application, to=Application.State.ACTIVE, by=by,
                                   reason=f"plan {plan.number} reopened")
    if not open_rows and plan.state in PAYABLE_STATES:
        plan.closed_at, plan.days_past_due, plan.bucket = timezone.now(), 0, bucket_for(0).code
        transition(plan, to=Plan.State.PAID_OFF, by=by, reason=reason or "paid in full", allowed=Plan.TRANSITIONS,
                   extra_update_fields=("closed_at", "days_past_due", "bucket"))
        if plan.application.state == Application.State.ACTIVE:
            application_transition(application=plan.application, to=Application.State.CLOSED, by=by,
                                   reason=f"plan {plan.number} paid off")
        _cases_close(plan=plan, on_date=on_date, reason="paid_off")
        return plan
    dpd = max([(on_date - d).days for d in open_rows if d < on_date], default=0)
    bucket = bucket_for(dpd).code
    if (plan.days_past_due, plan.bucket) != (dpd, bucket):
        plan.days_past_due, plan.bucket = dpd, bucket
        plan.save(update_fields=["days_past_due", "bucket"])
    if dpd > 0 and plan.state in (Plan.State.ACTIVE, Plan.State.RESTRUCTURED):
        transition(plan, to=Plan.State.OVERDUE, by=by, reason=reason or f"{dpd} days past due",
                   allowed=Plan.TRANSITIONS)
    elif dpd == 0 and plan.state == Plan.State.OVERDUE:
        transition(plan, to=Plan.State.ACTIVE, by=by, reason=reason or "arrears cleared", allowed=Plan.TRANSITIONS)
        _cases_close(plan=plan, on_date=on_date, reason="cured")
    _case_refresh(plan=plan, on_date=on_date)
    return plan


def _case_refresh(*, plan: Plan, on_date: date) -> None:
    """Bring the plan's open collection case up to date at once (days past due, bucket, amount overdue,
    priority as the close of business computes it), so the queue reflects a payment or a measure."""
    case = CollectionCase.objects.filter(plan=plan, status=CollectionCase.Status.OPEN).first()
    if case is None:
        return
    if plan.days_past_due == 0 and plan.state != Plan.State.IN_LEGAL:  # as the close of business does
        _cases_close(plan=plan, on_date=on_date, reason="cured")
        return
    overdue = sum((r.amount_outstanding for r in Installment.objects.filter(
        plan=plan, status__in=OPEN_STATUSES, due_date__lt=on_date)), ZERO)
    case.days_past_due, case.bucket, case.amount_overdue = plan.days_past_due, plan.bucket, overdue
    case.priority = money(overdue / 100 + case.days_past_due * 2 + case.broken_promises * 25
                          + (case.risk_pd or ZERO) * 100)
    case.save(update_fields=["days_past_due", "bucket", "amount_overdue", "priority"])


def _cases_close(*, plan: Plan, on_date: date, reason: str) -> None:
    """Close the plan's open case; promises still open lapse with it (cancelled, not broken)."""
    CollectionCase.objects.filter(plan=plan, status=CollectionCase.Status.OPEN).update(
        status=CollectionCase.Status.CLOSED, closed_on=on_date, close_reason=reason)
    PromiseToPay.objects.filter(plan=plan, state=PromiseToPay.State.OPEN).update(
        state=PromiseToPay.State.CANCELLED, resolved_on=on_date)
