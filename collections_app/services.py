"""Verbs of servicing and collections: activate a plan, post and reverse payments (bank receipts
are reconciled in bank_import.py), change the schedule (prepayment, holiday, extension,
re-installment, payoff, settlement), move the loan along its states, and work collection cases.

Every verb is one transaction. Rows are locked in one order: the plan, then its payments, then its
installments (`order_by("pk")`). Idempotency lives in unique constraints: a payment's
(plan, idempotency key), a reminder's (installment, rule, day), a snapshot's (plan, day).
"""

from __future__ import annotations

import calendar
import hashlib
import logging
import secrets
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.apps import apps
from django.db import IntegrityError, transaction
from django.db.models import Count, DecimalField, ExpressionWrapper, F, Max, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from collections_app import allocation, engine
from collections_app.buckets import bucket_for, buckets
from collections_app.models import (
    CaseNote,
    CollectionCase,
    ContactLog,
    InstallmentCharge,
    Payment,
    PaymentAllocation,
    PromiseToPay,
    ServicingPolicy,
    ServicingRequest,
)
from config.errors import DomainError
from customers.audit import audit_record, transition
from customers.roles import Role
from installments.engine.schedules import (
    ScheduleError,
    build_schedule,
    payment_holiday,
    payoff_quote,
    prepay,
    reamortise,
    schedule_to_dict,
)
from installments.models import Application, Contract, Installment, Plan, ScheduleVersion

logger = logging.getLogger(__name__)

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


def policy_for(product) -> ServicingPolicy:
    """The product's servicing policy, else the default row, else the built-in defaults (unsaved)."""
    policies = {p.product_id: p for p in ServicingPolicy.objects.filter(Q(product=product) | Q(product__isnull=True))}
    return policies.get(getattr(product, "pk", None)) or policies.get(None) or ServicingPolicy()


def _has_role(user, *roles) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False) and user.has_role(*roles))


# --- Installment helpers ---------------------------------------------------------------------------

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


def current_version(plan: Plan) -> ScheduleVersion:
    return plan.schedule_versions.get(version=plan.current_version)


def current_schedule(plan: Plan):
    """The engine schedule of the plan's current version (None for a payoff or settlement version)."""
    try:
        return engine.version_schedule(current_version(plan))
    except ScheduleError as error:
        raise _schedule_error(error)


def _engine_due_count(schedule, on_date: date) -> int:
    return sum(1 for r in schedule.installments if r.due_date <= on_date)


# --- Activation ----------------------------------------------------------------------------------

def terms_for_activation(*, contract: Contract, disbursement_date: date):
    """The engine terms of the accepted offer with the actual disbursement date.

    The offer's stored terms (`Offer.terms`, PlanTerms field names) are used as they were shown;
    the disbursement date is the real one and the first due date is recomputed from it (a customer's
    chosen due day is kept). Missing keys fall back to the offer's own columns.
    """
    offer = contract.offer
    product = contract.application.product
    stored = dict(offer.terms or {})
    stored.pop("first_due_date", None)
    stored.setdefault("amount", str(offer.amount))
    stored.setdefault("annual_rate", str(offer.annual_rate))
    stored.setdefault("term", offer.term_months)
    stored.setdefault("method", offer.method)
    stored.setdefault("currency_decimals", product.currency_decimals)
    return engine.terms_from_json(stored, disbursement_date=disbursement_date)


def plan_activate(*, contract: Contract, by, disbursement_date: date) -> Plan:
    """Turn an accepted contract into an active plan: the schedule rebuilt from the offer's terms with
    the actual disbursement date as version 1 and its installments; the application becomes active.

    Refuses (DomainError) a contract that is not accepted or not the latest version, an application
    not in `contracted`, a second activation, and a disbursement date before acceptance or in the future.
    """
    from installments.origination.applications import application_transition

    with transaction.atomic():
        application = Application.objects.select_for_update().get(pk=contract.application_id)
        contract = Contract.objects.select_related("offer", "application__product").get(pk=contract.pk)
        if Plan.objects.filter(application=application).exists():
            raise DomainError("This application already has an active plan.", field="contract", code="already_active")
        if application.state != Application.State.CONTRACTED:
            raise DomainError(f"The application is '{application.state}', not 'contracted'.", field="contract",
                              code="invalid_state")
        if contract.accepted_at is None:
            raise DomainError("The customer has not accepted this contract yet.", field="contract",
                              code="not_accepted")
        latest = application.contracts.order_by("-version").values_list("pk", flat=True).first()
        if latest != contract.pk:
            raise DomainError("A newer version of the contract exists.", field="contract", code="stale_contract")
        if disbursement_date > business_date():
            raise DomainError("The disbursement date cannot be in the future.", field="disbursement_date")
        if disbursement_date < timezone.localtime(contract.accepted_at).date():
            raise DomainError("The money cannot be paid out before the contract was accepted.",
                              field="disbursement_date")
        product = application.product
        try:
            terms = terms_for_activation(contract=contract, disbursement_date=disbursement_date)
            schedule = build_schedule(terms)
        except ScheduleError as error:
            raise _schedule_error(error)
        plan = Plan.objects.create(
            number=_plan_number(), application=application, contract=contract, customer=application.customer,
            product=product, currency=product.currency, method=terms.method, principal=schedule.amount_financed,
            annual_rate=terms.annual_rate, disbursement_date=disbursement_date, state=Plan.State.ACTIVE,
            current_version=0,
        )
        _version_create(plan=plan, schedule=schedule, reason="activation", by=by,
                        disclosure={"contract": contract.disclosure, "contract_version": contract.version},
                        on_date=business_date())
        application_transition(application=application, to=Application.State.ACTIVE, by=by,
                               reason=f"plan {plan.number} activated")
        audit_record(actor=by, action="plan.activate", target=plan, to_state=plan.state, data={
            "contract": contract.pk, "disbursement_date": disbursement_date.isoformat(),
            "principal": str(plan.principal), "installments": len(schedule.installments),
        })
    return plan


# --- Delinquency of one plan (the COB does the same for the whole book) ------------------------------

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


# --- Payments ------------------------------------------------------------------------------------

def _fingerprint(*, amount: Decimal, received_on: date, channel: str, overpayment: str) -> str:
    return hashlib.sha256(f"{amount:.2f}|{received_on.isoformat()}|{channel}|{overpayment}".encode()).hexdigest()


def _replay(existing: Payment, fingerprint: str) -> Payment:
    if existing.request_fingerprint != fingerprint:
        raise DomainError("This idempotency key was already used for a different payment.",
                          field="idempotency_key", code="idempotency_conflict")
    existing.replayed = True
    return existing


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
    PaymentIntent of this plan and amount not yet posted (collections_app.intents: the money came
    through the payment provider); staff (`officer`, `bank_import`); the system (`credit`, by=None).
    `as_of` is the business date the plan's state is judged on (default today; the close of
    business passes its own date). Every posted payment but `credit` queues the customer's receipt
    once the transaction commits (collections_app.receipts).
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
        from collections_app.receipts import receipt_queue_on_commit

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


def _payment_reversible(*, plan: Plan, payment: Payment) -> None:
    if payment.state != Payment.State.POSTED:
        raise DomainError("This payment is already reversed.", field="payment", code="already_reversed")
    if plan.state not in REVERSIBLE_STATES:
        raise DomainError(f"The plan is {plan.get_state_display().lower()}; its payments cannot be reversed.",
                          field="payment", code="plan_closed")


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


# --- Quotes --------------------------------------------------------------------------------------

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


# --- Servicing requests and hardship measures ----------------------------------------------------------

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


def _arrears(plan: Plan, on_date: date) -> Decimal:
    return sum((r.amount_outstanding for r in _live_open_rows(plan) if r.due_date <= on_date), ZERO)


def _outstanding(plan: Plan) -> Decimal:
    return sum((r.amount_outstanding for r in _live_open_rows(plan)), ZERO)


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
        if plan.state not in PAYABLE_STATES:
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
    request.status = ServicingRequest.Status.APPLIED
    request.decided_by = by if request.needs_approval else request.requested_by
    request.decided_at, request.decision_note, request.schedule_version = timezone.now(), note, version
    request.save(update_fields=["status", "decided_by", "decided_at", "decision_note", "schedule_version"])
    audit_record(actor=by, action="servicing_request.apply", target=plan, reason=request.reason, data={
        "request": request.pk, "kind": kind, "params": request.params,
        "schedule_version": version.version if version else None})
    if plan.state in PAYABLE_STATES:
        plan_refresh(plan=plan, by=by, on_date=today, reason=f"{request.get_kind_display()} applied")


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


def backdated_post_limit(plan: Plan) -> Decimal:
    """Back-dated staff postings above this amount need a second person (the policy's money threshold)."""
    return policy_for(plan.product).money_approval_threshold


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


def _backdated_post_apply(*, plan: Plan, request: ServicingRequest) -> Payment:
    params = request.params
    return _payment_post(
        plan=plan, amount=Decimal(params["amount"]), received_on=date.fromisoformat(params["received_on"]),
        channel=Payment.Channel.OFFICER, key=params["idempotency_key"],
        fingerprint=_fingerprint(amount=Decimal(params["amount"]), received_on=date.fromisoformat(params["received_on"]),
                                 channel=Payment.Channel.OFFICER, overpayment=params["overpayment"]),
        by=request.requested_by, reference=params["reference"], overpayment=params["overpayment"],
        today=business_date(), approved=True)


SCHEDULE_KINDS = (ServicingRequest.Kind.PAYMENT_HOLIDAY, ServicingRequest.Kind.EARLY_PAYOFF,
                  ServicingRequest.Kind.EXTENSION, ServicingRequest.Kind.REINSTALLMENT,
                  ServicingRequest.Kind.SETTLEMENT)


class _PreviewDone(Exception):
    def __init__(self, result: dict):
        super().__init__("preview")
        self.result = result


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


def _restructured(*, plan: Plan, by, reason: str) -> None:
    if plan.state in (Plan.State.ACTIVE, Plan.State.OVERDUE):
        transition(plan, to=Plan.State.RESTRUCTURED, by=by, reason=reason, allowed=Plan.TRANSITIONS)


def _credit(plan: Plan, amount: Decimal) -> None:
    if amount:
        plan.credit_balance += amount
        plan.save(update_fields=["credit_balance"])


def _principal_rows(schedule) -> Decimal:
    """The principal the installment rows of an engine schedule owe (see engine.due_parts)."""
    return sum((engine.due_parts(r)["principal_due"] for r in schedule.installments), ZERO)


def _principal_behind(schedule, count: int) -> Decimal:
    """The principal the schedule still carries after its first `count` installments."""
    return sum((engine.due_parts(r)["principal_due"] for r in schedule.installments[count:]), ZERO)


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


def _write_off(*, plan: Plan, by, request: ServicingRequest, today: date) -> None:
    from installments.origination.applications import application_transition

    plan.closed_at = timezone.now()
    transition(plan, to=Plan.State.WRITTEN_OFF, by=by, reason=request.reason, allowed=Plan.TRANSITIONS,
               extra_update_fields=("closed_at",), data={"request": request.pk, "outstanding": str(request.amount)})
    if plan.application.state == Application.State.ACTIVE:
        application_transition(application=plan.application, to=Application.State.CLOSED, by=by,
                               reason=f"plan {plan.number} written off")
    _cases_close(plan=plan, on_date=today, reason="written_off")


# --- Collection cases ------------------------------------------------------------------------------

def case_assign(*, case: CollectionCase, collector, by) -> CollectionCase:
    """Assign a case by hand (managers and approvers); assignment rules then leave it alone."""
    if not _has_role(by, *APPROVER_ROLES):
        raise DomainError("Only a manager or approver can reassign cases.", field="assigned_to", code="forbidden")
    if collector is not None and not collector.has_role(Role.COLLECTOR):
        raise DomainError("Choose a collector.", field="assigned_to")
    with transaction.atomic():
        case = CollectionCase.objects.select_for_update().get(pk=case.pk)
        before = case.assigned_to_id
        case.assigned_to, case.assignment_locked = collector, collector is not None
        case.save(update_fields=["assigned_to", "assignment_locked"])
        audit_record(actor=by, action="collection_case.assign", target=case,
                     data={"from": before, "to": getattr(collector, "pk", None)})
    return case


def contact_log_add(*, case: CollectionCase, by, channel: str, outcome: str,
                    reason_category: str = ContactLog.Reason.UNKNOWN, employed: bool | None = None,
                    notes: str = "") -> ContactLog:
    if channel not in ContactLog.ContactChannel.values:
        raise DomainError("Choose how you contacted the customer.", field="channel")
    if outcome not in ContactLog.Outcome.values:
        raise DomainError("Choose the outcome.", field="outcome")
    if reason_category not in ContactLog.Reason.values:
        raise DomainError("Choose the cause.", field="reason_category")
    with transaction.atomic():
        contact = ContactLog.objects.create(case=case, by=by, channel=channel, outcome=outcome,
                                            reason_category=reason_category, employed=employed, notes=notes.strip())
        CollectionCase.objects.filter(pk=case.pk).update(last_contact_at=contact.contacted_at)
        audit_record(actor=by, action="collection_case.contact", target=case,
                     data={"channel": channel, "outcome": outcome, "reason": reason_category})
    return contact


def promise_create(*, case: CollectionCase, by, amount, promised_date: date) -> PromiseToPay:
    """Record a promise to pay `amount` by `promised_date` (today to 60 days ahead); an open promise
    on the case is replaced. The close of business breaks it if the date passes unpaid."""
    today = business_date()
    plan = case.plan
    amount = _clean_amount(amount, _unit(plan))
    if not today <= promised_date <= today + timedelta(days=60):
        raise DomainError("Choose a date from today to 60 days ahead.", field="promised_date")
    with transaction.atomic():
        PromiseToPay.objects.filter(case=case, state=PromiseToPay.State.OPEN).update(
            state=PromiseToPay.State.CANCELLED, resolved_on=today)
        promise = PromiseToPay.objects.create(case=case, plan=plan, amount=amount, promised_date=promised_date,
                                              created_on=today, created_by=by)
        audit_record(actor=by, action="collection_case.promise", target=case,
                     data={"amount": str(amount), "promised_date": promised_date.isoformat()})
    return promise


def case_note_add(*, case: CollectionCase, by, text: str) -> CaseNote:
    text = (text or "").strip()
    if not text:
        raise DomainError("Write the note.", field="text")
    return CaseNote.objects.create(case=case, author=by, text=text)


# --- The customer's repayment record (reward / penalty feed for the offer engine) ---------------------

RECORD_FIELDS = ("on_time_payments", "late_payments", "max_days_past_due", "current_overdue")


def _profile_model():
    try:
        model = apps.get_model("customers", "CustomerProfile")
    except LookupError:
        return None, ()
    names = {f.name for f in model._meta.get_fields()}
    return model, tuple(f for f in RECORD_FIELDS if f in names)


def repayment_record_refresh(*, customer_ids=None, delinquent_only: bool = False) -> int:
    """Recompute customers' repayment record on their profile in one UPDATE: installments paid on
    time / late, the worst days past due ever, the amount overdue now. Only the fields the profile
    has are written. `customer_ids` (user ids, or a queryset of them) limits it; `delinquent_only`
    (the close of business) limits it to customers with an overdue plan or an amount overdue on
    record; neither means every customer with a plan. Returns the number of profiles updated."""
    model, present = _profile_model()
    if model is None or not present:
        return 0
    per_customer = Installment.objects.filter(plan__customer=OuterRef("user_id")).order_by().values("plan__customer")
    outstanding = ExpressionWrapper(
        F("principal_due") - F("principal_paid") + F("interest_due") - F("interest_paid") + F("fee_due")
        - F("fee_paid") + F("penalty_due") - F("penalty_paid"), output_field=DecimalField(max_digits=14,
                                                                                         decimal_places=2))
    values = {}
    if "on_time_payments" in present:
        values["on_time_payments"] = Coalesce(Subquery(per_customer.filter(
            status=Installment.Status.PAID, days_past_due=0).annotate(n=Count("pk")).values("n")), 0)
    if "late_payments" in present:
        values["late_payments"] = Coalesce(Subquery(per_customer.filter(
            status=Installment.Status.PAID, days_past_due__gt=0).annotate(n=Count("pk")).values("n")), 0)
    if "max_days_past_due" in present:
        values["max_days_past_due"] = Greatest(F("max_days_past_due"), Coalesce(Subquery(per_customer.filter(
            status__in=[Installment.Status.PAID, Installment.Status.OVERDUE]).annotate(
            m=Max("days_past_due")).values("m")), 0))
    if "current_overdue" in present:
        values["current_overdue"] = Coalesce(Subquery(per_customer.filter(
            status=Installment.Status.OVERDUE).annotate(s=Sum(outstanding)).values("s")),
            Value(ZERO), output_field=DecimalField(max_digits=14, decimal_places=2))
    profiles = model.objects.all()
    if customer_ids is not None:
        profiles = profiles.filter(user_id__in=customer_ids)
    elif delinquent_only:
        overdue = Q(user_id__in=Plan.objects.filter(state__in=PAYABLE_STATES, days_past_due__gt=0).values(
            "customer_id"))
        profiles = profiles.filter(overdue | Q(current_overdue__gt=0) if "current_overdue" in present else overdue)
    else:
        profiles = profiles.filter(user_id__in=Plan.objects.values("customer_id"))
    return profiles.update(**values)


def charges_ledger_for(installment: Installment) -> InstallmentCharge | None:
    return InstallmentCharge.objects.filter(installment=installment).first()


def default_buckets():
    return buckets()
