"""Servicing requests and hardship measures with maker-checker: create a request (applied at once within
the policy's threshold, else waiting for a second person), confirm or reject it, preview what
confirming does; and the money requests, reversing a payment and a back-dated posting, that may wait
for a second person the same way.
"""

from __future__ import annotations

import secrets
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.utils import timezone

from collections_app.collections.delinquency import plan_refresh
from collections_app.ledger.models import EventType
from collections_app.ledger.posting import plan_event_post
from collections_app.ledger.services import posting_date
from collections_app.models import CollectionCase, Payment, ServicingRequest
from collections_app.servicing.changes import (
    _charges_waive,
    _extension_apply,
    _extension_check,
    _holiday_apply,
    _payoff_version,
    _reinstallment_apply,
    _restructured,
    _write_off,
)
from collections_app.servicing.payments import _backdated_post_apply, _payment_reverse_apply, _payment_reversible
from collections_app.servicing.policy import (
    APPROVER_ROLES,
    CUSTOMER_REQUEST_DECIDERS,
    MEASURE_ROLES,
    PAYABLE_STATES,
    REVERSAL_ROLES,
    STAFF_PAYMENT_ROLES,
    ZERO,
    _clean_amount,
    _has_role,
    _unit,
    business_date,
    money,
    plan_takes_payment,
    policy_for,
)
from collections_app.servicing.position import _arrears, _outstanding, plan_terms_summary
from collections_app.servicing.quotes import plan_payoff_quote
from collections_app.servicing.versions import _live_open_rows
from config.errors import DomainError
from customers.audit import audit_record, transition
from installments.models import Plan, ScheduleVersion

SCHEDULE_KINDS = (ServicingRequest.Kind.PAYMENT_HOLIDAY, ServicingRequest.Kind.EARLY_PAYOFF,
                  ServicingRequest.Kind.EXTENSION, ServicingRequest.Kind.REINSTALLMENT,
                  ServicingRequest.Kind.SETTLEMENT)


def _int_param(params: dict, name: str, low: int, high: int, label: str) -> int:
    try:
        value = int(params.get(name))
    except (TypeError, ValueError):
        raise DomainError(f"Enter the {label}.", field=name)
    if not low <= value <= high:
        raise DomainError(f"The {label} must be between {low} and {high}.", field=name)
    return value


def _date_param(params: dict, name: str, label: str) -> date:
    value = params.get(name)
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except (TypeError, ValueError):
        raise DomainError(f"Enter the {label} as YYYY-MM-DD.", field=name)


def _request_validate(*, plan: Plan, kind: str, params: dict) -> tuple[dict, Decimal, date | None, date | None]:
    """Check a request's parameters; returns (clean params, amount at stake, starts_on, ends_on)."""
    today = business_date()
    policy = policy_for(plan.product)
    kinds = ServicingRequest.Kind
    starts = ends = None
    if kind == kinds.PAYMENT_HOLIDAY:
        periods = _int_param(params, "periods", 1, 6, "number of installments to pause")
        interest = params.get("interest") or "capitalise"
        if interest not in ("capitalise", "waive"):
            raise DomainError("Choose whether the interest is capitalised or waived.", field="interest")
        if _arrears(plan, today - timedelta(days=1)):
            raise DomainError("A payment holiday needs the arrears paid first; ask collections about an "
                              "extension or re-installment.", field="kind", code="arrears")
        upcoming = [r for r in _live_open_rows(plan) if r.due_date > today][:periods]
        return {"periods": periods, "interest": interest}, sum((r.amount_outstanding for r in upcoming), ZERO), None, None
    if kind == kinds.EARLY_PAYOFF:
        on_date = _date_param(params, "on_date", "payoff date")
        quote = plan_payoff_quote(plan=plan, on_date=on_date)
        return {"on_date": on_date.isoformat(), "quoted_total": str(quote.total)}, quote.total, None, None
    if kind == kinds.EXTENSION:
        days = _int_param(params, "days", 1, policy.max_extension_days, "extension in days")
        arrears = _arrears(plan, today)
        if not arrears:
            raise DomainError("Nothing is due, so there is nothing to extend.", field="kind", code="no_arrears")
        _extension_check(plan, today, days)
        return {"days": days}, arrears, None, None
    if kind == kinds.REINSTALLMENT:
        months = _int_param(params, "months", 1, policy.max_reinstallment_months, "number of months")
        return {"months": months}, _outstanding(plan), None, None
    if kind == kinds.INTEREST_FREEZE:
        starts = _date_param(params, "starts_on", "first day")
        ends = _date_param(params, "ends_on", "last day")
        if starts < today - timedelta(days=1) or ends < starts or (ends - starts).days > 366:
            raise DomainError("Choose a period from today of at most a year.", field="ends_on")
        return {"starts_on": starts.isoformat(), "ends_on": ends.isoformat()}, _arrears(plan, today), starts, ends
    if kind == kinds.SETTLEMENT:
        on_date = _date_param(params, "on_date", "settlement date")
        outstanding = plan_payoff_quote(plan=plan, on_date=on_date)
        try:
            discount = Decimal(str(params.get("discount")))
        except (InvalidOperation, ValueError):
            raise DomainError("Enter the discount.", field="discount")
        if not ZERO < discount < outstanding.total:
            raise DomainError(f"The discount must be more than 0 and less than {outstanding.total}.", field="discount")
        return {"on_date": on_date.isoformat(), "discount": str(money(discount)),
                "settlement_amount": str(outstanding.total - money(discount))}, money(discount), None, None
    if kind == kinds.CHARGE_WAIVER:
        unpaid = sum((r.penalty_due - r.penalty_paid for r in _live_open_rows(plan)), ZERO)
        if not unpaid:
            raise DomainError("No late charges are unpaid on this plan.", field="amount", code="no_charges")
        raw = params.get("amount")
        amount = unpaid if raw in (None, "") else _clean_amount(raw, _unit(plan))
        if amount > unpaid:
            raise DomainError(f"At most {unpaid} of late charges is unpaid.", field="amount")
        return {"amount": str(amount)}, amount, None, None
    if kind in (kinds.LEGAL, kinds.WRITE_OFF):
        if plan.state not in (Plan.State.OVERDUE, Plan.State.RESTRUCTURED, Plan.State.IN_LEGAL):
            raise DomainError("Only an overdue plan can be escalated or written off.", field="kind",
                              code="invalid_state")
        clean = {"legal_reference": str(params.get("legal_reference") or "")[:100]} if kind == kinds.LEGAL else {}
        return clean, _outstanding(plan), None, None
    if kind == kinds.CREDIT_REFUND:
        if plan.credit_balance <= 0:
            raise DomainError("The plan holds no credit balance to refund.", field="amount", code="no_credit")
        raw = params.get("amount")
        amount = plan.credit_balance if raw in (None, "") else _clean_amount(raw, _unit(plan))
        if amount > plan.credit_balance:
            raise DomainError(f"At most {plan.credit_balance} of credit balance can be refunded.", field="amount")
        reference = str(params.get("reference") or "").strip()[:100]
        if not reference:
            raise DomainError("Give the refund's bank reference.", field="reference")
        return {"amount": str(amount), "reference": reference}, amount, None, None
    raise DomainError("Unknown measure.", field="kind")


def request_create(*, plan: Plan, kind: str, by, reason: str, params: dict | None = None,
                   case: CollectionCase | None = None) -> ServicingRequest:
    """Ask for a change to `plan`. Customers may ask for a payment holiday or early payoff on their own
    plan (always confirmed by staff). Staff measures up to the policy's threshold apply at once; above
    it, and always for settlement, legal escalation and write-off, they wait for an approver who is not
    the requester."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("Say why.", field="reason")
    is_customer = getattr(by, "pk", None) == plan.customer_id
    if is_customer:
        if kind not in ServicingRequest.CUSTOMER_KINDS:
            raise DomainError("Ask the collections team about this measure.", field="kind", code="forbidden")
        origin = ServicingRequest.Origin.CUSTOMER
    elif _has_role(by, *MEASURE_ROLES):
        origin = ServicingRequest.Origin.STAFF
    else:
        raise DomainError("Your role cannot ask for this.", field="kind", code="forbidden")
    with transaction.atomic():
        plan = Plan.objects.select_for_update().select_related("product", "application").get(pk=plan.pk)
        # A closed plan's credit balance is still the customer's money: it can be refunded.
        if plan.state not in PAYABLE_STATES and kind != ServicingRequest.Kind.CREDIT_REFUND:
            raise DomainError("The plan is closed.", field="plan", code="plan_closed")
        clean, amount, starts, ends = _request_validate(plan=plan, kind=kind, params=params or {})
        policy = policy_for(plan.product)
        threshold = (policy.money_approval_threshold if kind in ServicingRequest.MONEY_KINDS
                     else policy.approval_threshold)
        needs_approval = (origin == ServicingRequest.Origin.CUSTOMER or kind in ServicingRequest.ALWAYS_FOUR_EYES
                          or amount > threshold)
        if case is None:
            case = CollectionCase.objects.filter(plan=plan, status=CollectionCase.Status.OPEN).first()
        try:
            with transaction.atomic():
                request = ServicingRequest.objects.create(
                    plan=plan, case=case, kind=kind, origin=origin, params=clean, amount=amount,
                    needs_approval=needs_approval, starts_on=starts, ends_on=ends, reason=reason, requested_by=by,
                )
        except IntegrityError:
            raise DomainError("The same request is already waiting for a decision.", field="kind",
                              code="duplicate_request")
        audit_record(actor=by, action="servicing_request.create", target=plan, reason=reason, data={
            "request": request.pk, "kind": kind, "params": clean, "amount": str(amount),
            "needs_approval": needs_approval})
        if needs_approval and kind in SCHEDULE_KINDS:
            # A change that confirming would refuse (a re-installment that would not lower the payment,
            # ...) is refused now, saying why, rather than left waiting for an approver.
            preview = request_preview(request=request)
            if preview and "error" in preview:
                raise DomainError(preview["error"], field=preview.get("field"), code=preview.get("code") or "refused")
        if not needs_approval:
            _request_apply(request=request, plan=plan, by=by, note="within the collector's authority")
    return request


def request_decide(*, request: ServicingRequest, by, approve: bool, note: str = "",
                   params: dict | None = None) -> ServicingRequest:
    """Confirm (apply) or reject a pending request. The requester can never decide their own request
    (four eyes). Changed `params` make a counter-offer: the change applied is the one confirmed."""
    with transaction.atomic():
        plan = Plan.objects.select_for_update().select_related("product", "application").get(pk=request.plan_id)
        request = ServicingRequest.objects.select_for_update().get(pk=request.pk)
        if request.status != ServicingRequest.Status.PENDING:
            raise DomainError("This request has already been decided.", field="request", code="already_decided")
        if getattr(by, "pk", None) == request.requested_by_id:
            raise DomainError("A second person must confirm this request.", field="request", code="four_eyes")
        allowed = (CUSTOMER_REQUEST_DECIDERS if request.origin == ServicingRequest.Origin.CUSTOMER
                   else APPROVER_ROLES)
        if not _has_role(by, *allowed):
            raise DomainError("Your role cannot decide this request.", field="request", code="forbidden")
        if not approve:
            if not note.strip():
                raise DomainError("Say why the request is rejected.", field="note")
            request.status, request.decided_by, request.decided_at = (ServicingRequest.Status.REJECTED, by,
                                                                       timezone.now())
            request.decision_note = note
            request.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
            audit_record(actor=by, action="servicing_request.reject", target=plan, reason=note,
                         data={"request": request.pk, "kind": request.kind})
            return request
        if params is not None and params != request.params:
            clean, amount, starts, ends = _request_validate(plan=plan, kind=request.kind, params=params)
            request.params = {**clean, "counter_offer": True, "asked": request.params}
            request.amount, request.starts_on, request.ends_on = amount, starts, ends
            request.save(update_fields=["params", "amount", "starts_on", "ends_on"])
        _request_apply(request=request, plan=plan, by=by, note=note)
    return request


def _request_version(*, request: ServicingRequest, plan: Plan, by, today: date) -> ScheduleVersion:
    """The schedule version a holiday, payoff, settlement, extension or re-installment makes."""
    kinds = ServicingRequest.Kind
    kind, params = request.kind, request.params
    counter = " (counter-offer)" if params.get("counter_offer") else ""
    if kind == kinds.PAYMENT_HOLIDAY:
        return _holiday_apply(plan=plan, request=request, by=by, today=today, counter=counter)
    if kind == kinds.EARLY_PAYOFF:
        return _payoff_version(plan=plan, on_date=date.fromisoformat(params["on_date"]), by=by,
                               today=today, reason=f"early payoff on {params['on_date']}{counter}")
    if kind == kinds.SETTLEMENT:
        return _payoff_version(plan=plan, on_date=date.fromisoformat(params["on_date"]), by=by,
                               today=today, discount=Decimal(params["discount"]), settle_all=True,
                               reason=f"settlement with a discount of {params['discount']}{counter}")
    if kind == kinds.EXTENSION:
        version = _extension_apply(plan=plan, days=int(params["days"]), by=by, today=today, counter=counter)
        _restructured(plan=plan, by=by, reason=f"due-date extension{counter}")
        return version
    version = _reinstallment_apply(plan=plan, months=int(params["months"]), by=by, today=today, counter=counter)
    _restructured(plan=plan, by=by, reason=f"re-installment over {params['months']} months{counter}")
    return version


def _credit_refund(*, plan: Plan, request: ServicingRequest, by, today: date) -> None:
    """Pay the customer back (part of) the plan's credit balance: the balance goes down and the money
    leaves the bank account (customer credit against cash at bank)."""
    amount = Decimal(request.params["amount"])
    if amount > plan.credit_balance:
        raise DomainError(f"At most {plan.credit_balance} of credit balance can be refunded now.", field="amount",
                          code="credit_used")
    plan.credit_balance -= amount
    plan.save(update_fields=["credit_balance"])
    plan_event_post(plan=plan, event_type=EventType.CREDIT_REFUND, value_date=posting_date(today, today), by=by,
                    source=request, memo=f"credit balance refunded, reference {request.params['reference']}"[:255],
                    cash=-amount)


# The event a request's posting carries (other kinds that change money: a schedule change).
REQUEST_EVENTS = {
    ServicingRequest.Kind.CHARGE_WAIVER: EventType.WAIVER,
    ServicingRequest.Kind.WRITE_OFF: EventType.WRITE_OFF,
    ServicingRequest.Kind.SETTLEMENT: EventType.SETTLEMENT_DISCOUNT,
    ServicingRequest.Kind.INTEREST_FREEZE: EventType.INTEREST_FREEZE,
    ServicingRequest.Kind.PAYMENT_REVERSAL: EventType.REVERSAL,
    ServicingRequest.Kind.BACKDATED_POST: EventType.REPAYMENT,
}


def _request_apply(*, request: ServicingRequest, plan: Plan, by, note: str) -> None:
    kinds = ServicingRequest.Kind
    today = business_date()
    version = None
    kind = request.kind
    if kind in SCHEDULE_KINDS:
        version = _request_version(request=request, plan=plan, by=by, today=today)
    elif kind == kinds.INTEREST_FREEZE:
        pass  # the close of business reads applied freezes: no late charges accrue in the period
    elif kind == kinds.LEGAL:
        if plan.state != Plan.State.IN_LEGAL:
            transition(plan, to=Plan.State.IN_LEGAL, by=by, reason=request.reason, allowed=Plan.TRANSITIONS,
                       data={"request": request.pk})
        reference = request.params.get("legal_reference", "")
        if reference:
            CollectionCase.objects.filter(plan=plan, status=CollectionCase.Status.OPEN).update(
                legal_reference=reference)
    elif kind == kinds.WRITE_OFF:
        _write_off(plan=plan, by=by, request=request, today=today)
    elif kind == kinds.PAYMENT_REVERSAL:
        _payment_reverse_apply(plan=plan, payment_id=int(request.params["payment"]), by=by, reason=request.reason)
    elif kind == kinds.BACKDATED_POST:
        _backdated_post_apply(plan=plan, request=request)
    elif kind == kinds.CHARGE_WAIVER:
        _charges_waive(plan=plan, request=request, by=by, today=today)
    elif kind == kinds.CREDIT_REFUND:
        _credit_refund(plan=plan, request=request, by=by, today=today)
    plan.refresh_from_db(fields=["state", "credit_balance"])
    plan_event_post(plan=plan, event_type=REQUEST_EVENTS.get(kind, EventType.RESCHEDULE),
                    value_date=posting_date(today, today), by=by, source=request,
                    memo=f"{kind} (request {request.pk})")
    request.status = ServicingRequest.Status.APPLIED
    request.decided_by = by if request.needs_approval else request.requested_by
    request.decided_at, request.decision_note, request.schedule_version = timezone.now(), note, version
    request.save(update_fields=["status", "decided_by", "decided_at", "decision_note", "schedule_version"])
    audit_record(actor=by, action="servicing_request.apply", target=plan, reason=request.reason, data={
        "request": request.pk, "kind": kind, "params": request.params,
        "schedule_version": version.version if version else None})
    if plan.state in PAYABLE_STATES:
        plan_refresh(plan=plan, by=by, on_date=today, reason=f"{request.get_kind_display()} applied")


class _PreviewDone(Exception):
    def __init__(self, result: dict):
        super().__init__("preview")
        self.result = result


def request_preview(*, request: ServicingRequest, params: dict | None = None) -> dict | None:
    """What confirming `request` would do, before anyone confirms it: the plan's terms before and
    after (next payment, installments left, last due date, left to pay, cost left, APR) and the new
    schedule's rows. Computed by applying the change in a transaction that is always rolled back, so
    the preview is exactly what confirming does. None for a measure that does not change the
    schedule; {"error": ...} when the change would be refused."""
    if request.kind not in SCHEDULE_KINDS or request.status != ServicingRequest.Status.PENDING:
        return None
    today = business_date()
    try:
        with transaction.atomic():
            plan = Plan.objects.select_for_update().select_related("product", "application").get(pk=request.plan_id)
            before = plan_terms_summary(plan, today)
            trial = ServicingRequest.objects.get(pk=request.pk)
            if params is not None and params != trial.params:
                clean, *_ = _request_validate(plan=plan, kind=trial.kind, params=params)
                trial.params = clean
            version = _request_version(request=trial, plan=plan, by=None, today=today)
            plan.refresh_from_db()
            after = plan_terms_summary(plan, today)
            rows = [{"number": r.number, "due_date": r.due_date, "principal": r.principal_due,
                     "interest": r.interest_due, "fee": r.fee_due, "penalty": r.penalty_due,
                     "amount": r.amount_outstanding, "status": r.get_status_display()}
                    for r in version.installments.order_by("due_date", "number")] if version else []
            raise _PreviewDone({"before": before, "after": after, "rows": rows,
                                "carried_charges": Decimal((version.disclosure or {}).get("carried_charges", "0"))
                                if version else ZERO})
    except _PreviewDone as done:
        return done.result
    except DomainError as error:
        return {"error": error.message, "field": error.field, "code": getattr(error, "code", None)}


def payment_reverse(*, payment: Payment, by, reason: str) -> Payment:
    """Reverse a posted payment (a bounced transfer, a mistake): what it paid is owed again, its credit
    is taken back, a prepayment's schedule version is undone by restoring the previous one.

    Maker-checker: a payment above the servicing policy's `money_approval_threshold` is not reversed
    at once; a pending `payment_reversal` request waits for a second person (an approver other than
    the requester, `request_decide`). Returns the payment (still posted while the request waits;
    `payment.reversal_request` is that request). Refused for a closed plan, after a later schedule
    change, and when its credit has been used.
    """
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("Say why the payment is reversed.", field="reason")
    if not _has_role(by, *REVERSAL_ROLES):
        raise DomainError("Your role cannot reverse payments.", field="payment", code="forbidden")
    with transaction.atomic():
        plan = Plan.objects.select_for_update().select_related("product", "application").get(pk=payment.plan_id)
        payment = Payment.objects.select_for_update().get(pk=payment.pk)
        _payment_reversible(plan=plan, payment=payment)
        needs_approval = payment.amount > policy_for(plan.product).money_approval_threshold
        request = _money_request_create(plan=plan, kind=ServicingRequest.Kind.PAYMENT_REVERSAL, by=by, reason=reason,
                                        params={"payment": payment.pk}, amount=payment.amount,
                                        needs_approval=needs_approval)
        if not needs_approval:
            _request_apply(request=request, plan=plan, by=by, note="within the officer's authority")
        payment.refresh_from_db()
    payment.reversal_request = request
    return payment


def _money_request_create(*, plan: Plan, kind: str, by, reason: str, params: dict, amount: Decimal,
                          needs_approval: bool) -> ServicingRequest:
    """A staff request on money (reversal, back-dated posting) recorded before it applies or waits."""
    case = CollectionCase.objects.filter(plan=plan, status=CollectionCase.Status.OPEN).first()
    try:
        with transaction.atomic():
            request = ServicingRequest.objects.create(
                plan=plan, case=case, kind=kind, origin=ServicingRequest.Origin.STAFF, params=params, amount=amount,
                needs_approval=needs_approval, reason=reason, requested_by=by)
    except IntegrityError:
        raise DomainError("The same request is already waiting for a decision.", field="kind",
                          code="duplicate_request")
    audit_record(actor=by, action="servicing_request.create", target=plan, reason=reason, data={
        "request": request.pk, "kind": kind, "params": params, "amount": str(amount),
        "needs_approval": needs_approval})
    return request


def backdated_post_request(*, plan: Plan, amount, received_on: date, by, reason: str, reference: str,
                           overpayment: str = Payment.Overpayment.CREDIT) -> ServicingRequest:
    """Ask a second person to confirm a back-dated staff posting above the money threshold; confirming
    posts it (`payment_record`, channel officer, the requester as poster) with its value date."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("Say why the payment is posted with an earlier date.", field="reason")
    if not _has_role(by, *STAFF_PAYMENT_ROLES):
        raise DomainError("Your role cannot post payments.", field="plan", code="forbidden")
    if not (reference or "").strip():
        raise DomainError("Give the bank or receipt reference of the money.", field="reference")
    amount = _clean_amount(amount, _unit(plan))
    if overpayment not in Payment.Overpayment.values:
        raise DomainError("Choose what to do with any overpayment.", field="overpayment")
    with transaction.atomic():
        locked = Plan.objects.select_for_update().select_related("product").get(pk=plan.pk)
        if not plan_takes_payment(locked, Payment.Channel.OFFICER):
            raise DomainError("The plan takes no more payments.", field="plan", code="plan_closed")
        if received_on >= business_date():
            raise DomainError("This posting is not back-dated; post it directly.", field="received_on")
        if received_on < locked.disbursement_date:
            raise DomainError("The payment date is before the plan started.", field="received_on")
        return _money_request_create(
            plan=locked, kind=ServicingRequest.Kind.BACKDATED_POST, by=by, reason=reason, amount=amount,
            params={"amount": str(amount), "received_on": received_on.isoformat(), "reference": reference.strip()[:90],
                    "overpayment": overpayment, "idempotency_key": f"backdated:{secrets.token_hex(8)}"},
            needs_approval=True)
