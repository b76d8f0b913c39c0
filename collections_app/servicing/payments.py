"""Payments: post a payment once per (plan, idempotency key) and allocate it to the open installments
(the rest credited or prepaid through the engine), apply the credit balance, reverse a posted payment
(`_payment_reverse_apply`, applied through a request: `servicing.requests.payment_reverse`) and post a
confirmed back-dated payment.

Every verb is one transaction. Rows are locked in one order: the plan, then its payments, then its
installments (`order_by("pk")`). Idempotency lives in unique constraints: a payment's
(plan, idempotency key).
"""

from __future__ import annotations

import hashlib
from datetime import date
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone

from collections_app.collections.delinquency import plan_refresh
from collections_app.ledger.models import EventType
from collections_app.ledger.posting import plan_event_post
from collections_app.ledger.services import posting_date
from collections_app.models import InstallmentCharge, Payment, PaymentAllocation, PromiseToPay, ServicingRequest
from collections_app.servicing import allocation
from collections_app.servicing.policy import (
    OPEN_STATUSES,
    PARTS,
    REVERSIBLE_STATES,
    STAFF_PAYMENT_ROLES,
    ZERO,
    _clean_amount,
    _has_role,
    _unit,
    business_date,
    plan_takes_payment,
    policy_for,
)
from collections_app.servicing.position import plan_position
from collections_app.servicing.record import repayment_record_refresh
from collections_app.servicing.versions import (
    Carry,
    _live_open_rows,
    _principal_behind,
    _principal_rows,
    _reopen,
    _supersede,
    _version_create,
    outstanding_parts,
)
from config.errors import DomainError
from customers.audit import audit_record
from installments.engine.schedules import ScheduleError, prepay
from installments.models import Installment, Plan


def _fingerprint(*, amount: Decimal, received_on: date, channel: str, overpayment: str) -> str:
    return hashlib.sha256(f"{amount:.2f}|{received_on.isoformat()}|{channel}|{overpayment}".encode()).hexdigest()


def _replay(existing: Payment, fingerprint: str) -> Payment:
    if existing.request_fingerprint != fingerprint:
        raise DomainError("This idempotency key was already used for a different payment.",
                          field="idempotency_key", code="idempotency_conflict")
    existing.replayed = True
    return existing


def payment_record(*, plan: Plan, amount, received_on: date | None = None, channel: str, idempotency_key: str,
                   by, reference: str = "", overpayment: str = Payment.Overpayment.CREDIT,
                   as_of: date | None = None, intent=None) -> Payment:
    """Post a payment to `plan`, once per (plan, idempotency key).

    The same key with the same amount, date, channel and choice returns the first payment
    (`payment.replayed` is True) even when both arrive at once; the same key with a different
    request is refused. The amount pays the open installments in the product's allocation order
    (late charges, fees, interest, principal; oldest first): with `overpayment="credit"` everything
    due by `received_on` and the next installment, the rest kept as credit; with `reduce_term` /
    `reduce_installment` everything due, the rest prepaid through the engine (a new schedule version).

    Who may post: the plan's customer (`self_service`) only with `intent`, an authorised
    PaymentIntent of this plan and amount not yet posted (servicing.intents: the money came
    through the payment provider); staff (`officer`, `bank_import`); the system (`credit`, by=None).
    `as_of` is the business date the plan's state is judged on (default today; the close of
    business passes its own date). Every posted payment but `credit` queues the customer's receipt
    once the transaction commits (servicing.receipts).
    """
    if not idempotency_key or len(idempotency_key) > 100 or not idempotency_key.isprintable():
        raise DomainError("Send an Idempotency-Key of 1 to 100 printable characters.", field="idempotency_key")
    if channel not in Payment.Channel.values:
        raise DomainError("Unknown payment channel.", field="channel")
    if overpayment not in Payment.Overpayment.values:
        raise DomainError("Choose what to do with any overpayment.", field="overpayment")
    unit = _unit(plan)
    amount = _clean_amount(amount, unit)
    _authorise_payment(plan=plan, channel=channel, by=by, intent=intent, amount=amount)
    as_of = as_of or business_date()
    received_on = received_on or as_of
    fingerprint = _fingerprint(amount=amount, received_on=received_on, channel=channel, overpayment=overpayment)
    try:
        with transaction.atomic():
            locked = Plan.objects.select_for_update().select_related("product", "application").get(pk=plan.pk)
            existing = Payment.objects.filter(plan=locked, idempotency_key=idempotency_key).first()
            if existing is not None:
                return _replay(existing, fingerprint)
            payment = _payment_post(plan=locked, amount=amount, received_on=received_on, channel=channel,
                                    key=idempotency_key, fingerprint=fingerprint, by=by, reference=reference,
                                    overpayment=overpayment, today=as_of)
    except IntegrityError:
        # Only reachable without the plan lock (it serialises posts); the unique key is the last guard.
        existing = Payment.objects.filter(plan_id=plan.pk, idempotency_key=idempotency_key).first()
        if existing is None:
            raise
        return _replay(existing, fingerprint)
    payment.replayed = False
    if channel != Payment.Channel.CREDIT:
        from collections_app.servicing.receipts import receipt_queue_on_commit

        receipt_queue_on_commit(payment)
    return payment


def _authorise_payment(*, plan: Plan, channel: str, by, intent=None, amount: Decimal | None = None) -> None:
    if channel == Payment.Channel.SELF_SERVICE:
        from collections_app.models import PaymentIntent

        # A customer's money comes only through the payment provider: an authorised, unposted intent.
        allowed = (getattr(by, "pk", None) == plan.customer_id and isinstance(intent, PaymentIntent)
                   and intent.plan_id == plan.pk and intent.status == PaymentIntent.Status.AUTHORISED
                   and intent.payment_id is None and intent.amount == amount)
    elif channel == Payment.Channel.CREDIT:
        allowed = by is None or _has_role(by, *STAFF_PAYMENT_ROLES)
    else:
        allowed = _has_role(by, *STAFF_PAYMENT_ROLES)
    if not allowed:
        raise DomainError("You cannot post this payment.", field="plan", code="forbidden")


def _payment_post(*, plan: Plan, amount: Decimal, received_on: date, channel: str, key: str, fingerprint: str, by,
                  reference: str, overpayment: str, today: date, approved: bool = False) -> Payment:
    if not plan_takes_payment(plan, channel):
        raise DomainError(f"The plan is {plan.get_state_display().lower()}; it takes no more payments.",
                          field="plan", code="plan_closed")
    if (channel == Payment.Channel.OFFICER and received_on < today and not approved
            and amount > policy_for(plan.product).money_approval_threshold):
        raise DomainError(
            f"A back-dated posting above {policy_for(plan.product).money_approval_threshold} needs a second "
            "person: ask for it to be confirmed.", field="received_on", code="needs_approval")
    recovery = plan.state == Plan.State.WRITTEN_OFF
    if recovery and overpayment != Payment.Overpayment.CREDIT:
        raise DomainError("A written-off plan cannot be prepaid; post the recovery as a plain payment.",
                          field="overpayment")
    if received_on > today:
        raise DomainError("The payment date cannot be in the future.", field="received_on")
    if received_on < plan.disbursement_date:
        raise DomainError("The payment date is before the plan started.", field="received_on")
    if channel == Payment.Channel.CREDIT and amount > plan.credit_balance:
        raise DomainError("The credit balance is smaller than the amount.", field="amount")
    rows = _live_open_rows(plan, lock=True)
    prepaying = overpayment != Payment.Overpayment.CREDIT
    position = None
    if prepaying:
        position = plan_position(plan, received_on)
        if position is None:
            raise DomainError("This plan is settling; a prepayment is not possible now.", field="overpayment")
        ahead = {r.pk for r in position.ahead}
        scope = [r for r in rows if r.pk not in ahead]  # the arrears; the rest is prepaid
    elif recovery:  # everything a written-off plan still owes is due
        scope = rows
    else:
        upcoming = [r.due_date for r in rows if r.due_date > received_on]
        next_due = min(upcoming) if upcoming else None
        scope = [r for r in rows if r.due_date <= received_on or r.due_date == next_due]
    policy = policy_for(plan.product)
    if received_on < today:
        _charges_before_value_date_waive(plan=plan, rows=scope, received_on=received_on,
                                         grace_days=policy.late_fee_grace_days, by=by)
    result = allocation.allocate(
        amount, [allocation.Due(r.pk, r.due_date, r.number, outstanding_parts(r)) for r in scope],
        order=policy.allocation_order, mode=policy.allocation_mode,
    )
    by_id = {r.pk: r for r in scope}
    now = timezone.now()
    for part in result.allocations:
        row = by_id[part.installment_id]
        setattr(row, f"{part.component}_paid", getattr(row, f"{part.component}_paid") + part.amount)
    touched = {by_id[a.installment_id] for a in result.allocations}
    # The customer's repayment record reads paid and overdue installments only (repayment_record_refresh):
    # it changes when this payment goes to an overdue one or pays one off, or the plan is re-planned.
    record_changes = any(row.status == Installment.Status.OVERDUE for row in touched)
    for row in touched:
        if row.amount_outstanding <= 0:
            row.status, row.paid_at, row.paid_on = Installment.Status.PAID, now, received_on
            row.days_past_due = max((received_on - row.due_date).days, 0)
            record_changes = True
    Installment.objects.bulk_update(
        list(touched), ["principal_paid", "interest_paid", "fee_paid", "penalty_paid", "status", "paid_at",
                        "paid_on", "days_past_due"])
    credited = prepaid = ZERO
    version = None
    remainder = result.remainder
    if remainder and prepaying:
        try:
            new_schedule = prepay(position.schedule, position.engine_date, remainder, mode=overpayment)
        except ScheduleError as error:
            raise DomainError(f"The prepayment cannot be applied: {error}. For a full repayment ask for an "
                              "early payoff quote.", field="amount", code="prepayment")
        carry = Carry()
        carry.credit(plan, [r for r in rows if r.pk in ahead and r.status in OPEN_STATUSES])
        prepaid_principal = _principal_behind(position.schedule, position.count) - _principal_rows(new_schedule)
        version = _version_create(plan=plan, schedule=new_schedule, by=by, on_date=today,
                                  disclosure={"carried": carry.as_json(), "prepaid_principal": str(prepaid_principal),
                                              "prepaid_interest": str(remainder - prepaid_principal)},
                                  reason=f"prepayment of {remainder} ({overpayment.replace('_', ' ')})")
        prepaid = remainder
    elif remainder:
        credited += remainder
    credit_change = credited - (amount if channel == Payment.Channel.CREDIT else ZERO)
    if credit_change:
        plan.credit_balance += credit_change
        plan.save(update_fields=["credit_balance"])
    payment = Payment.objects.create(
        plan=plan, amount=amount, currency=plan.currency, received_on=received_on, channel=channel,
        idempotency_key=key, request_fingerprint=fingerprint, reference=reference[:100], overpayment=overpayment,
        allocated_amount=result.allocated, credited_amount=amount - result.allocated - prepaid, prepaid_amount=prepaid,
        schedule_version=version, created_by=by if getattr(by, "pk", None) else None,
    )
    allocations = PaymentAllocation.objects.bulk_create([
        PaymentAllocation(payment=payment, installment=by_id[a.installment_id], component=a.component,
                          amount=a.amount)
        for a in result.allocations
    ])
    _allocations_in_hand(payment, allocations)
    plan_event_post(plan=plan, event_type=EventType.RECOVERY if recovery else EventType.REPAYMENT,
                    value_date=posting_date(received_on, today), by=by, source=payment,
                    memo=f"payment {payment.pk} ({channel})", channel=channel,
                    cash=ZERO if channel == Payment.Channel.CREDIT else amount,
                    allocated=_by_component(allocations))
    _promises_settle(plan=plan)
    plan_refresh(plan=plan, by=by, on_date=today, reason=f"payment {payment.pk}")
    if record_changes or version is not None:
        repayment_record_refresh(customer_ids=[plan.customer_id])
    audit_record(actor=by, action="payment.post", target=plan, data={
        "payment": payment.pk, "amount": str(amount), "channel": channel, "received_on": received_on.isoformat(),
        "allocated": str(result.allocated), "credited": str(payment.credited_amount), "prepaid": str(prepaid),
        "reference": reference[:100],
    })
    return payment


def _by_component(allocations: list[PaymentAllocation]) -> dict[str, Decimal]:
    """What a payment put on each component (principal, interest, fee, penalty)."""
    totals: dict[str, Decimal] = {}
    for part in allocations:
        totals[part.component] = totals.get(part.component, ZERO) + part.amount
    return totals


def _charges_before_value_date_waive(*, plan: Plan, rows: list[Installment], received_on: date, grace_days: int,
                                     by) -> None:
    """A payment whose value date is before the installment was late (within its grace days) owes no late
    charges on it: the charges the close of business booked meanwhile are waived by an explicit line."""
    from collections_app.models import ChargeWaiver

    for row in rows:
        unpaid = row.penalty_due - row.penalty_paid
        if unpaid <= 0 or (received_on - row.due_date).days > grace_days:
            continue
        row.penalty_due -= unpaid
        row.save(update_fields=["penalty_due"])
        InstallmentCharge.objects.filter(installment=row).update(waived=F("waived") + unpaid)
        ChargeWaiver.objects.create(plan=plan, installment=row, amount=unpaid,
                                    reason=f"money received on {received_on.isoformat()}, before the charges were due",
                                    by=by if getattr(by, "pk", None) else None)


def _allocations_in_hand(payment: Payment, allocations: list[PaymentAllocation]) -> None:
    """Let `payment.allocations.all()` answer from the rows just written, as prefetch_related would
    have left them (a queryset with its result cache filled), so the caller can show the payment
    without reading it back; any further filtering or ordering still queries the database."""
    queryset = payment.allocations.get_queryset()
    queryset._result_cache, queryset._prefetch_done = allocations, True
    payment._prefetched_objects_cache = {"allocations": queryset}


def _promises_settle(*, plan: Plan) -> None:
    """Mark the plan's open promises kept once posted payments made since the promise reach its amount."""
    for promise in PromiseToPay.objects.filter(plan=plan, state=PromiseToPay.State.OPEN):
        paid = Payment.objects.filter(
            plan=plan, state=Payment.State.POSTED, received_on__gte=promise.created_on,
            received_on__lte=promise.promised_date,
        ).exclude(channel=Payment.Channel.CREDIT).aggregate(s=Sum("amount"))["s"] or ZERO
        if paid >= promise.amount:
            promise.state, promise.resolved_on = PromiseToPay.State.KEPT, business_date()
            promise.save(update_fields=["state", "resolved_on"])


def _payment_reversible(*, plan: Plan, payment: Payment) -> None:
    if payment.state != Payment.State.POSTED:
        raise DomainError("This payment is already reversed.", field="payment", code="already_reversed")
    if plan.state not in REVERSIBLE_STATES:
        raise DomainError(f"The plan is {plan.get_state_display().lower()}; its payments cannot be reversed.",
                          field="payment", code="plan_closed")


def _payment_reverse_apply(*, plan: Plan, payment_id: int, by, reason: str) -> Payment:
    """Reverse the payment; the caller holds the plan's lock (see payment_reverse)."""
    today = business_date()
    payment = Payment.objects.select_for_update().get(pk=payment_id)
    _payment_reversible(plan=plan, payment=payment)
    allocations = list(payment.allocations.all())
    rows = {r.pk: r for r in Installment.objects.select_for_update().filter(
        pk__in=[a.installment_id for a in allocations]).order_by("pk")}
    if any(r.status == Installment.Status.SUPERSEDED for r in rows.values()) and not payment.schedule_version_id:
        raise DomainError("The schedule has changed since this payment; reverse the change first.",
                          field="payment", code="schedule_changed")
    if payment.schedule_version_id:
        _prepayment_undo(plan=plan, payment=payment, by=by, today=today)
    if payment.credited_amount:
        if plan.credit_balance < payment.credited_amount:
            raise DomainError("The credit from this payment has already been used; reverse the credit "
                              "application first.", field="payment", code="credit_used")
        plan.credit_balance -= payment.credited_amount
    if payment.channel == Payment.Channel.CREDIT:
        plan.credit_balance += payment.amount
    plan.save(update_fields=["credit_balance"])
    for part in allocations:
        row = rows[part.installment_id]
        name = f"{part.component}_paid"
        setattr(row, name, getattr(row, name) - part.amount)
        if row.status != Installment.Status.SUPERSEDED:
            _reopen(row, today)
    Installment.objects.bulk_update(
        list(rows.values()), ["principal_paid", "interest_paid", "fee_paid", "penalty_paid", "status",
                              "paid_at", "paid_on", "days_past_due"])
    payment.state, payment.reversal_reason = Payment.State.REVERSED, reason
    payment.reversed_by, payment.reversed_at = by, timezone.now()
    payment.save(update_fields=["state", "reversal_reason", "reversed_by", "reversed_at"])
    plan_event_post(plan=plan, event_type=EventType.REVERSAL, value_date=posting_date(today, today), by=by,
                    source=payment, memo=f"payment {payment.pk} reversed: {reason}"[:255], channel=payment.channel,
                    cash=ZERO if payment.channel == Payment.Channel.CREDIT else -payment.amount,
                    allocated={name: -amount for name, amount in _by_component(allocations).items()})
    PromiseToPay.objects.filter(plan=plan, state=PromiseToPay.State.KEPT).update(
        state=PromiseToPay.State.OPEN, resolved_on=None)
    _promises_settle(plan=plan)
    plan_refresh(plan=plan, by=by, on_date=today, reason=f"payment {payment.pk} reversed")
    repayment_record_refresh(customer_ids=[plan.customer_id])
    audit_record(actor=by, action="payment.reverse", target=plan, reason=reason, data={
        "payment": payment.pk, "amount": str(payment.amount)})
    return payment


def _prepayment_undo(*, plan: Plan, payment: Payment, by, today: date) -> None:
    """Restore the schedule a prepayment replaced: a new version copying the rows it superseded."""
    created = payment.schedule_version
    if plan.current_version != created.version:
        raise DomainError("The schedule has changed since this prepayment; reverse the later change first.",
                          field="payment", code="schedule_changed")
    if PaymentAllocation.objects.filter(installment__version=created, payment__state=Payment.State.POSTED).exists():
        raise DomainError("Later payments were made on the new schedule; reverse them first.", field="payment",
                          code="later_payments")
    previous = plan.schedule_versions.get(version=created.version - 1)
    restored = list(previous.installments.filter(status=Installment.Status.SUPERSEDED))
    paid_back = sum((r.amount_paid for r in restored), ZERO)
    if paid_back:
        if plan.credit_balance < paid_back:
            raise DomainError("The credit from this prepayment has already been used.", field="payment",
                              code="credit_used")
        plan.credit_balance -= paid_back  # the restored rows keep what was paid on them
    _supersede(list(created.installments.filter(status__in=OPEN_STATUSES)))
    # The paid parts credited when the prepayment replaced these rows come back off the credit and
    # are netted from the restored rows; the principal the prepayment repaid is owed again.
    netted = {name: sum((getattr(r, f"{name}_paid") for r in restored), ZERO) for name in PARTS}
    undone = created.disclosure or {}
    disclosure = {k: v for k, v in (previous.disclosure or {}).items()
                  if k not in ("carried", "capitalised", "prepaid_principal", "prepaid_interest", "carried_charges")}
    disclosure.update({
        "carried": {"credited": str(-paid_back), "netted": {k: str(v) for k, v in netted.items()},
                    "waived_charges": "0"},
        "prepaid_principal": str(-Decimal(undone.get("prepaid_principal", "0"))),
        "prepaid_interest": str(-Decimal(undone.get("prepaid_interest", "0"))),
    })
    _version_create(
        plan=plan, schedule=None, by=by, on_date=today, reason=f"payment {payment.pk} reversed: prepayment undone",
        terms=previous.terms, disclosure=disclosure,
        rows=[{"number": r.number, "due_date": r.due_date, "principal_due": r.principal_due - r.principal_paid,
               "interest_due": r.interest_due - r.interest_paid, "fee_due": r.fee_due - r.fee_paid,
               "penalty_due": r.penalty_due - r.penalty_paid} for r in restored],
    )


def plan_apply_credit(*, plan: Plan, on_date: date, by=None) -> Payment | None:
    """Use the plan's credit balance for what is due by `on_date` (the close of business does this
    before marking anything overdue). Idempotent per plan and day."""
    key = f"credit:{on_date.isoformat()}"
    done = Payment.objects.filter(plan=plan, idempotency_key=key).first()
    if done is not None:
        return done
    rows = [r for r in _live_open_rows(plan) if r.due_date <= on_date]
    owed = sum((r.amount_outstanding for r in rows), ZERO)
    amount = min(plan.credit_balance, owed)
    if amount <= 0:
        return None
    return payment_record(plan=plan, amount=amount, received_on=on_date, channel=Payment.Channel.CREDIT,
                          idempotency_key=key, by=by, reference="credit balance applied", as_of=on_date)


def backdated_post_limit(plan: Plan) -> Decimal:
    """Back-dated staff postings above this amount need a second person (the policy's money threshold)."""
    return policy_for(plan.product).money_approval_threshold


def _backdated_post_apply(*, plan: Plan, request: ServicingRequest) -> Payment:
    params = request.params
    return _payment_post(
        plan=plan, amount=Decimal(params["amount"]), received_on=date.fromisoformat(params["received_on"]),
        channel=Payment.Channel.OFFICER, key=params["idempotency_key"],
        fingerprint=_fingerprint(amount=Decimal(params["amount"]), received_on=date.fromisoformat(params["received_on"]),
                                 channel=Payment.Channel.OFFICER, overpayment=params["overpayment"]),
        by=request.requested_by, reference=params["reference"], overpayment=params["overpayment"],
        today=business_date(), approved=True)
