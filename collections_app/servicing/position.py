"""Where a plan stands on a date against its current engine schedule (`Position`, `plan_position`), its
arrears and outstanding balance, and the terms the customer faces (`plan_terms_summary`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from collections_app.servicing.policy import OPEN_STATUSES, ZERO
from collections_app.servicing.versions import _live_open_rows, current_schedule, current_version
from config.errors import DomainError
from installments.models import Installment, Plan


@dataclass(frozen=True)
class Position:
    """Where a plan stands on `on_date` against its current engine schedule.

    `count` engine installments are behind the plan: those due by `on_date`, then those the customer
    has already paid in full ahead of their due date (what was paid stays paid). The engine is asked
    about `engine_date`: `on_date`, or the due date of the last installment paid ahead (no interest
    has accrued on the next period before it starts). `kept` are the live rows a change of the future
    keeps (arrears and paid rows); `ahead` are the current version's open rows after `count`, which a
    new schedule replaces.
    """

    schedule: object
    on_date: date
    engine_date: date
    count: int
    kept: list[Installment]
    ahead: list[Installment]

    @property
    def paid_ahead(self) -> Decimal:
        """Money paid on the rows a new schedule would replace (it is credited back when it does)."""
        return sum((r.amount_paid for r in self.ahead), ZERO)


def plan_position(plan: Plan, on_date: date, *, lock: bool = False, schedule=None) -> Position | None:
    """The plan's `Position` on `on_date`, or None for a plan whose current version is not an engine
    schedule (a payoff or settlement version). `lock` locks the open rows (the caller holds the plan)."""
    schedule = schedule or current_schedule(plan)
    if schedule is None:
        return None
    version = current_version(plan)
    live = Installment.objects.filter(plan=plan).exclude(status=Installment.Status.SUPERSEDED).order_by("pk")
    if lock:
        live = live.select_for_update()
    live = list(live)
    current = {r.number: r for r in live if r.version_id == version.pk}
    count = _engine_due_count(schedule, on_date)
    due = count
    while count < len(schedule.installments):
        row = current.get(schedule.installments[count].number)
        if row is None or row.status != Installment.Status.PAID:
            break
        count += 1
    engine_date = on_date if count == due else schedule.installments[count - 1].due_date
    # A schedule that starts later (a prepayment made against installments paid ahead) accrues nothing before.
    engine_date = max(engine_date, schedule.terms.disbursement_date)
    behind = {r.number for r in schedule.installments[:count]}
    ahead = [r for r in live if r.version_id == version.pk and r.number not in behind
             and r.status in OPEN_STATUSES]
    kept = [r for r in live if r not in ahead]
    ahead.sort(key=lambda r: (r.due_date, r.number))
    kept.sort(key=lambda r: (r.due_date, r.number, r.pk))
    return Position(schedule=schedule, on_date=on_date, engine_date=engine_date, count=count, kept=kept,
                    ahead=ahead)


def _engine_due_count(schedule, on_date: date) -> int:
    return sum(1 for r in schedule.installments if r.due_date <= on_date)


def _arrears(plan: Plan, on_date: date) -> Decimal:
    return sum((r.amount_outstanding for r in _live_open_rows(plan) if r.due_date <= on_date), ZERO)


def _outstanding(plan: Plan) -> Decimal:
    return sum((r.amount_outstanding for r in _live_open_rows(plan)), ZERO)


def plan_terms_summary(plan: Plan, on_date: date) -> dict:
    """What the customer faces on `on_date`: the next installment, how many are left and until when,
    what is left to pay (net of the credit balance), of which interest, fees and charges, and the
    APR of the current engine schedule (None for a payoff or settlement version)."""
    rows = sorted(_live_open_rows(plan), key=lambda r: (r.due_date, r.number))
    upcoming = [r for r in rows if r.due_date >= on_date] or rows
    left = sum((r.amount_outstanding for r in rows), ZERO)
    cost = sum((r.interest_due - r.interest_paid + r.fee_due - r.fee_paid + r.penalty_due - r.penalty_paid
                for r in rows), ZERO)
    try:
        schedule = current_schedule(plan)
    except DomainError:
        schedule = None
    return {
        "next_payment": upcoming[0].amount_outstanding if upcoming else ZERO,
        "next_due_date": upcoming[0].due_date if upcoming else None,
        "installments_left": len(rows), "last_due_date": rows[-1].due_date if rows else None,
        "left_to_pay": max(left - plan.credit_balance, ZERO), "cost_left": cost,
        "apr": schedule.apr if schedule is not None else None,
    }
