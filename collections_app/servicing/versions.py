"""Schedule versions and their installment rows: what a row still owes and its status, adding a plan's
next version (`_version_create`), superseding the rows it replaces and accounting for what was paid on
them (`Carry`), and the engine schedule of the current version.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db.models import Max
from django.utils import timezone

from collections_app.servicing import engine
from collections_app.servicing.policy import OPEN_STATUSES, PARTS, ZERO
from config.errors import DomainError
from installments.engine.schedules import ScheduleError, schedule_to_dict
from installments.models import Installment, Plan, ScheduleVersion


def outstanding_parts(row: Installment) -> dict[str, Decimal]:
    return {
        "penalty": row.penalty_due - row.penalty_paid,
        "fee": row.fee_due - row.fee_paid,
        "interest": row.interest_due - row.interest_paid,
        "principal": row.principal_due - row.principal_paid,
    }


def status_for(due_date: date, on_date: date) -> str:
    if due_date > on_date:
        return Installment.Status.PENDING
    if due_date == on_date:
        return Installment.Status.DUE
    return Installment.Status.OVERDUE


def _live_open_rows(plan: Plan, *, lock: bool = False) -> list[Installment]:
    rows = Installment.objects.filter(plan=plan, status__in=OPEN_STATUSES).order_by("pk")
    if lock:
        rows = rows.select_for_update()
    return sorted(rows, key=lambda r: (r.due_date, r.number, r.pk))


def _reopen(row: Installment, on_date: date) -> None:
    row.status = status_for(row.due_date, on_date)
    row.days_past_due = max((on_date - row.due_date).days, 0)
    row.paid_at = row.paid_on = None


def _plan_number() -> str:
    alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
    while True:
        number = f"PLN-{timezone.localdate():%Y}-" + "".join(secrets.choice(alphabet) for _ in range(6))
        if not Plan.objects.filter(number=number).exists():
            return number


def _schedule_error(error: ScheduleError, field_name: str | None = None) -> DomainError:
    return DomainError(f"{error.field}: {error.message}" if hasattr(error, "message") else str(error),
                       field=field_name or getattr(error, "field", None), code="schedule")


def _version_create(*, plan: Plan, schedule, reason: str, by, disclosure: dict | None = None,
                    terms: dict | None = None, rows: list[dict] | None = None, on_date: date) -> ScheduleVersion:
    """Add the plan's next schedule version with its installment rows and make it current.

    `schedule` (an engine Schedule) gives the terms, the stored schedule and the rows; a version
    that is not an engine schedule (extension, payoff, settlement) passes `terms` and `rows`.
    """
    number = (plan.schedule_versions.aggregate(n=Max("version"))["n"] or 0) + 1
    stored = dict(disclosure or {})
    if schedule is not None:
        terms = engine.terms_to_json(schedule.terms)
        stored["schedule"] = schedule_to_dict(schedule)
        rows = [{"number": r.number, "due_date": r.due_date, **engine.due_parts(r)} for r in schedule.installments]
    version = ScheduleVersion.objects.create(plan=plan, version=number, reason=reason[:200], terms=terms or {},
                                             disclosure=stored, created_by=by if getattr(by, "pk", None) else None)
    created = []
    now = timezone.now()
    for row in rows or ():
        inst = Installment(
            plan=plan, version=version, number=row["number"], due_date=row["due_date"],
            principal_due=row["principal_due"], interest_due=row["interest_due"], fee_due=row["fee_due"],
            penalty_due=row.get("penalty_due", ZERO),
        )
        if inst.amount_due <= 0:
            inst.status, inst.paid_at = Installment.Status.PAID, now
        else:
            inst.status = status_for(inst.due_date, on_date)
            inst.days_past_due = max((on_date - inst.due_date).days, 0)
        created.append(inst)
    Installment.objects.bulk_create(created)
    plan.current_version = number
    plan.save(update_fields=["current_version"])
    return version


def _supersede(rows: list[Installment]) -> Decimal:
    """Mark rows superseded by a new version; what was paid on them comes back as the plan's credit
    (the new schedule owes the whole balance again). Returns that amount."""
    paid = sum((r.amount_paid for r in rows), ZERO)
    for row in rows:
        row.status = Installment.Status.SUPERSEDED
    Installment.objects.bulk_update(rows, ["status"])
    return paid


def _credit(plan: Plan, amount: Decimal) -> None:
    if amount:
        plan.credit_balance += amount
        plan.save(update_fields=["credit_balance"])


@dataclass
class Carry:
    """What became of the money paid on the rows a new version replaces; stored on the version
    (`disclosure["carried"]`) so that every cent paid on a superseded row is accounted for:
    `credited` went to the plan's credit balance, `netted` (by component) was taken off what the
    replacing rows owe. Nothing else may happen to it."""

    credited: Decimal = ZERO
    netted: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(PARTS, ZERO))
    waived_charges: Decimal = ZERO

    def credit(self, plan: Plan, rows: list[Installment]) -> None:
        """Supersede `rows`; what was paid on them is credited to the plan."""
        amount = _supersede(rows)
        self.credited += amount
        _credit(plan, amount)

    def net(self, rows: list[Installment]) -> None:
        """Supersede `rows`; the caller's replacing rows owe only what is unpaid of them."""
        for row in rows:
            for name in PARTS:
                self.netted[name] += getattr(row, f"{name}_paid")
        _supersede(rows)

    def as_json(self) -> dict:
        return {"credited": str(self.credited), "netted": {k: str(v) for k, v in self.netted.items()},
                "waived_charges": str(self.waived_charges)}


def current_version(plan: Plan) -> ScheduleVersion:
    return plan.schedule_versions.get(version=plan.current_version)


def current_schedule(plan: Plan):
    """The engine schedule of the plan's current version (None for a payoff or settlement version)."""
    try:
        return engine.version_schedule(current_version(plan))
    except ScheduleError as error:
        raise _schedule_error(error)


def _principal_rows(schedule) -> Decimal:
    """The principal the installment rows of an engine schedule owe (see engine.due_parts)."""
    return sum((engine.due_parts(r)["principal_due"] for r in schedule.installments), ZERO)


def _principal_behind(schedule, count: int) -> Decimal:
    """The principal the schedule still carries after its first `count` installments."""
    return sum((engine.due_parts(r)["principal_due"] for r in schedule.installments[count:]), ZERO)
