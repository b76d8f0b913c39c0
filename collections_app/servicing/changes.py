"""Changes of a plan's schedule and state that a servicing request applies: payment holiday, early payoff
and settlement versions, due-date extension, re-installment, late-charge waivers and write-off. Every
cent paid on a replaced row is accounted for (`servicing.versions.Carry`).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.db.models import F
from django.utils import timezone

from collections_app.collections.delinquency import _cases_close
from collections_app.models import InstallmentCharge, ServicingRequest
from collections_app.servicing import engine
from collections_app.servicing.policy import OPEN_STATUSES, PARTS, ZERO
from collections_app.servicing.position import plan_position
from collections_app.servicing.quotes import early_payoff_discount
from collections_app.servicing.versions import (
    Carry,
    _live_open_rows,
    _principal_behind,
    _principal_rows,
    _schedule_error,
    _version_create,
    current_version,
    outstanding_parts,
    status_for,
)
from config.errors import DomainError
from customers.audit import audit_record, transition
from installments.engine.schedules import ScheduleError, payment_holiday, payoff_quote, reamortise
from installments.models import Application, Installment, Plan, ScheduleVersion


def _restructured(*, plan: Plan, by, reason: str) -> None:
    if plan.state in (Plan.State.ACTIVE, Plan.State.OVERDUE):
        transition(plan, to=Plan.State.RESTRUCTURED, by=by, reason=reason, allowed=Plan.TRANSITIONS)


def _holiday_apply(*, plan: Plan, request: ServicingRequest, by, today: date, counter: str) -> ScheduleVersion:
    """Pause the next `periods` unpaid installments (engine `payment_holiday` from the plan's
    position: installments already paid ahead stay paid and the holiday starts after them). What was
    paid on the replaced installments is credited; interest capitalised is recorded on the version."""
    position = plan_position(plan, today, lock=True)
    if position is None:
        raise DomainError("This plan is settling; a holiday is not possible.", field="kind")
    try:
        new = payment_holiday(position.schedule, position.engine_date, int(request.params["periods"]),
                              interest=request.params["interest"])
    except ScheduleError as error:
        raise _schedule_error(error, "periods")
    carry = Carry()
    carry.credit(plan, position.ahead)
    capitalised = _principal_rows(new) - _principal_behind(position.schedule, position.count)
    return _version_create(plan=plan, schedule=new, by=by, on_date=today,
                           disclosure={"carried": carry.as_json(), "capitalised": str(capitalised)},
                           reason=f"payment holiday of {request.params['periods']} installment(s), interest "
                                  f"{request.params['interest']}d{counter}")


def _payoff_version(*, plan: Plan, on_date: date, by, today: date, reason: str, discount: Decimal = ZERO,
                    settle_all: bool = False) -> ScheduleVersion:
    """One installment due on `on_date` for the payoff (or settlement) amount, replacing what follows.

    Early payoff: the arrears stay as they are; the open installments ahead (`plan_position`) become
    one payoff installment (outstanding principal, accrued interest, the early payoff fee, less the
    product's early payoff discount); what was paid on them is credited. Settlement: everything open,
    arrears and late charges included, becomes one installment (what was paid on the arrears netted),
    the discount taken off late charges, fees, interest and principal in that order and recorded.
    """
    position = plan_position(plan, on_date, lock=True)
    rows = _live_open_rows(plan, lock=True)
    version = current_version(plan)
    parts = dict.fromkeys(PARTS, ZERO)
    carry = Carry()
    if position is not None:
        schedule = position.schedule
        try:
            quote = payoff_quote(schedule, position.engine_date,
                                 rebate_unearned_interest=plan.product.early_payoff_rebate,
                                 early_payoff_fee_rate=plan.product.early_payoff_fee_rate)
        except ScheduleError as error:
            raise _schedule_error(error, "on_date")
        future = position.ahead
        parts["principal"] = quote.outstanding_principal
        parts["interest"] = quote.accrued_interest + quote.unearned_interest - quote.interest_rebate
        parts["fee"] = quote.early_payoff_fee
        if not settle_all:
            parts["interest"] -= early_payoff_discount(plan=plan, on_date=on_date, interest=parts["interest"])
        count = position.count
        number = (schedule.installments[count].number if count < len(schedule.installments)
                  else schedule.installments[-1].number + 1)
    else:
        future, number = [], max((r.number for r in rows), default=0) + 1
    arrears = [r for r in rows if r not in future]
    if settle_all:
        for row in arrears:
            for name, value in outstanding_parts(row).items():
                parts[name] += value
    left = discount
    discounted = dict.fromkeys(PARTS, ZERO)
    for name in PARTS:
        cut = min(left, parts[name])
        parts[name] -= cut
        discounted[name] = cut
        left -= cut
    carry.credit(plan, future)
    if settle_all:
        carry.net(arrears)
    return _version_create(
        plan=plan, schedule=None, by=by, on_date=today, reason=reason, terms=version.terms,
        disclosure={"payoff": {k: str(v) for k, v in parts.items()}, "discount": str(discount),
                    "discounted": {k: str(v) for k, v in discounted.items()},
                    "on_date": on_date.isoformat(), "schedule": None, "carried": carry.as_json()},
        rows=[{"number": number, "due_date": on_date, "principal_due": parts["principal"],
               "interest_due": parts["interest"], "fee_due": parts["fee"], "penalty_due": parts["penalty"]}],
    )


def extension_limit(plan: Plan, today: date) -> int | None:
    """The longest extension (days) that keeps due dates in order: the moved installments must fall
    before the next installment not yet due. None when nothing comes after them."""
    upcoming = [r.due_date for r in _live_open_rows(plan) if r.due_date > today]
    return (min(upcoming) - today).days - 1 if upcoming else None


def _extension_check(plan: Plan, today: date, days: int) -> None:
    """Refuse (field `days`) an extension that would move the overdue installments past the next one."""
    limit = extension_limit(plan, today)
    if limit is not None and days > limit:
        raise DomainError(
            f"An extension of {days} days would move the overdue installments past the next one; choose at most "
            f"{limit} days, or a re-installment." if limit > 0 else
            "The next installment is due tomorrow; an extension cannot keep the due dates in order. "
            "Ask for a re-installment instead.", field="days", code="extension_order")


def _extension_apply(*, plan: Plan, days: int, by, today: date, counter: str) -> ScheduleVersion:
    """Move what is due now to `days` from today; later installments keep their dates, and the moved
    ones stay before them. What the moved installments owe is carried whole, late charges included
    (charges go down only by an explicit waiver); what was paid on the replaced rows is netted."""
    rows = _live_open_rows(plan, lock=True)
    version = current_version(plan)
    new_date = today + timedelta(days=days)
    _extension_check(plan, today, days)
    new_rows = []
    for r in rows:
        parts = outstanding_parts(r)
        new_rows.append({"number": r.number, "due_date": new_date if r.due_date <= today else r.due_date,
                         "principal_due": parts["principal"], "interest_due": parts["interest"],
                         "fee_due": parts["fee"], "penalty_due": parts["penalty"]})
    numbers = [r["number"] for r in new_rows]
    if len(set(numbers)) != len(numbers):  # rows of several versions: number them again in date order
        new_rows.sort(key=lambda r: (r["due_date"], r["number"]))
        for index, row in enumerate(new_rows, start=min(numbers)):
            row["number"] = index
    carry = Carry()
    carry.net(rows)
    return _version_create(plan=plan, schedule=None, by=by, on_date=today, terms=version.terms,
                           disclosure={**{k: v for k, v in version.disclosure.items() if k == "schedule"},
                                       "extension_days": days, "carried": carry.as_json()},
                           reason=f"due-date extension by {days} days{counter}", rows=new_rows)


def _reinstallment_apply(*, plan: Plan, months: int, by, today: date, counter: str) -> ScheduleVersion:
    """Spread the arrears over the remaining term plus `months` (engine `reamortise` on the balance
    with the arrears), so the installment goes down; refused, saying why, when it would not. Every
    open installment is replaced: what was paid on the arrears is netted, what was paid ahead is
    credited; unpaid late charges are carried to the first new installment (never dropped)."""
    position = plan_position(plan, today, lock=True)
    if position is None:
        raise DomainError("This plan is settling; re-installment is not possible.", field="kind")
    schedule = position.schedule
    rows = _live_open_rows(plan, lock=True)
    count = position.count
    behind = {r.number for r in schedule.installments[:count]}
    version = current_version(plan)
    outstanding = {}
    arrears_rows = [r for r in rows if r not in position.ahead]
    for r in arrears_rows:
        if r.version_id == version.pk and r.number in behind:
            parts = outstanding_parts(r)
            outstanding[r.number] = outstanding.get(r.number, ZERO) + parts["principal"] + parts["interest"] + parts["fee"]
    stray = [r for r in arrears_rows if not (r.version_id == version.pk and r.number in behind)]
    if stray:
        if not count:
            raise DomainError("The arrears cannot be re-installed on this schedule.", field="kind")
        last = schedule.installments[count - 1].number
        outstanding[last] = outstanding.get(last, ZERO) + sum(
            (r.principal_due - r.principal_paid + r.interest_due - r.interest_paid + r.fee_due - r.fee_paid
             for r in stray), ZERO)
    remaining = len(schedule.installments) - count
    synthetic = engine.with_arrears_as_outstanding(schedule, count, outstanding)
    try:
        new = reamortise(synthetic, position.engine_date, term=remaining + months, installments_paid=0)
    except ScheduleError as error:
        raise _schedule_error(error, "months")
    before = schedule.installments[count].payment if remaining else sum(outstanding.values(), ZERO)
    after = max((r.payment for r in new.installments), default=ZERO)
    if after >= before:
        raise DomainError(
            f"Over {remaining} remaining and {months} more months the installment would be {after}, not lower than "
            f"{before} now; choose more months.", field="months", code="no_relief")
    charges = sum((r.penalty_due - r.penalty_paid for r in rows), ZERO)
    principal_before = sum((r.principal_due - r.principal_paid for r in arrears_rows), ZERO) + _principal_behind(
        schedule, count)
    carry = Carry()
    carry.net(arrears_rows)
    carry.credit(plan, position.ahead)
    capitalised = _principal_rows(new) - principal_before
    version = _version_create(plan=plan, schedule=new, by=by, on_date=today,
                              disclosure={"carried": carry.as_json(), "capitalised": str(capitalised),
                                          "carried_charges": str(charges)},
                              reason=f"re-installment of the arrears over {remaining} + {months} months{counter}")
    if charges:
        first = version.installments.filter(status__in=OPEN_STATUSES).order_by("due_date", "number").first()
        first = first or version.installments.order_by("due_date", "number").first()
        first.penalty_due += charges
        first.status = status_for(first.due_date, today)
        first.paid_at = None
        first.save(update_fields=["penalty_due", "status", "paid_at"])
    return version


def _charges_waive(*, plan: Plan, request: ServicingRequest, by, today: date) -> Decimal:
    """Waive `request.params["amount"]` of unpaid late charges, oldest installment first: each cut is a
    ChargeWaiver line (shown to the customer and staff) and is added to the installment's charge
    ledger as waived, so the close of business never charges it again. Returns the amount waived."""
    from collections_app.models import ChargeWaiver

    left = Decimal(request.params["amount"])
    waived = ZERO
    for row in _live_open_rows(plan, lock=True):
        cut = min(left, row.penalty_due - row.penalty_paid)
        if cut <= 0:
            continue
        row.penalty_due -= cut
        if row.amount_outstanding <= 0:
            row.status, row.paid_at, row.paid_on = Installment.Status.PAID, timezone.now(), today
        row.save(update_fields=["penalty_due", "status", "paid_at", "paid_on"])
        InstallmentCharge.objects.filter(installment=row).update(waived=F("waived") + cut)
        ChargeWaiver.objects.create(plan=plan, installment=row, request=request, amount=cut, reason=request.reason,
                                    by=by if getattr(by, "pk", None) else None)
        left -= cut
        waived += cut
        if not left:
            break
    audit_record(actor=by, action="charges.waive", target=plan, reason=request.reason,
                 data={"request": request.pk, "amount": str(waived)})
    return waived


def _write_off(*, plan: Plan, by, request: ServicingRequest, today: date) -> None:
    from installments.origination.applications import application_transition

    plan.closed_at = timezone.now()
    transition(plan, to=Plan.State.WRITTEN_OFF, by=by, reason=request.reason, allowed=Plan.TRANSITIONS,
               extra_update_fields=("closed_at",), data={"request": request.pk, "outstanding": str(request.amount)})
    if plan.application.state == Application.State.ACTIVE:
        application_transition(application=plan.application, to=Application.State.CLOSED, by=by,
                               reason=f"plan {plan.number} written off")
    _cases_close(plan=plan, on_date=today, reason="written_off")
