"""Customers pay through the payment provider: payment intents.

`payment_intent_create` is the one way a customer pays (the API, the plan page and the portal's pay
page all call it): it checks the request, stores the intent once per (plan, Idempotency-Key), asks
the provider (collections_app.servicing.providers) outside any transaction, and records the answer. Only an
authorised intent posts a Payment, through payments.payment_record(channel=self_service,
reference="<provider>:<transaction id>", intent=...), in the same transaction that marks it
authorised, so an intent posts at most once.

`payment_intent_callback` takes the provider's signed, asynchronous answer for a pending intent:
signature, freshness (5 minutes), a never-seen nonce, a known transaction and the same amount and
currency are required; a refused callback stores nothing.

Every state change goes through customers.audit.transition along INTENT_TRANSITIONS (who, when, why).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from collections_app import selectors
from collections_app.models import Payment, PaymentIntent, ProviderCallbackNonce
from collections_app.servicing import providers
from collections_app.servicing.payments import payment_record
from collections_app.servicing.policy import business_date, plan_takes_payment
from config.errors import DomainError
from customers.audit import audit_record, transition
from installments.models import Plan

logger = logging.getLogger(__name__)

Status = PaymentIntent.Status
INTENT_TRANSITIONS = {
    Status.CREATED: {Status.PENDING, Status.AUTHORISED, Status.DECLINED, Status.FAILED, Status.EXPIRED},
    Status.PENDING: {Status.AUTHORISED, Status.DECLINED, Status.FAILED, Status.EXPIRED},
    # The money was taken but the plan refused the payment (closed meanwhile): staff refund it.
    Status.AUTHORISED: {Status.FAILED},
}
CALLBACK_MAX_AGE = timedelta(minutes=5)
# Provider errors that leave it unknown whether the money was taken: the intent waits for the callback.
NO_ANSWER = (providers.ProviderTimeout, TimeoutError, ConnectionError)


class PaymentDeclined(DomainError):
    """The provider declined: shown next to the card number; the declined intent stays on record."""

    def __init__(self, intent: PaymentIntent):
        super().__init__(intent.message or gettext("Your bank declined the payment."), field="card_number",
                         code="declined")
        self.intent = intent


def provider_test_mode() -> bool:
    """Whether customers pay through a simulated provider now (the pages and API say "test mode")."""
    return bool(getattr(providers.payment_provider(), "test_mode", False))


def _amount_clean(plan: Plan, amount) -> Decimal:
    """The amount as Decimal in the plan's minor unit, more than zero and no more than the plan owes."""
    try:
        value = Decimal(str(amount).strip().replace(",", ""))
    except (InvalidOperation, ValueError):
        raise DomainError(gettext("Enter an amount such as 530.73."), field="amount")
    if not value.is_finite() or value <= 0:
        raise DomainError(gettext("Enter an amount greater than zero."), field="amount")
    unit = Decimal(1).scaleb(-plan.product.currency_decimals)
    if value != value.quantize(unit):
        raise DomainError(gettext("Use at most %(places)s decimals.") % {"places": plan.product.currency_decimals},
                          field="amount")
    owed = selectors.plan_summary(plan).outstanding
    if value > owed:
        raise DomainError(gettext("You owe %(owed)s %(currency)s on this plan; you cannot pay more than that.")
                          % {"owed": f"{owed:,.2f}", "currency": plan.currency}, field="amount", code="too_much")
    return value


def _key_clean(idempotency_key: str) -> str:
    key = (idempotency_key or "").strip()
    if not key or len(key) > 100 or not key.isprintable():
        raise DomainError(gettext("Send an Idempotency-Key of 1 to 100 printable characters."),
                          field="idempotency_key")
    return key


def _replay(existing: PaymentIntent, *, amount, overpayment: str) -> PaymentIntent:
    """The first answer for a key used again; a different request under the same key is refused."""
    try:
        same = Decimal(str(amount).strip().replace(",", "")) == existing.amount
    except (InvalidOperation, ValueError):
        same = False
    if not same or overpayment != existing.overpayment:
        raise DomainError(gettext("This idempotency key was already used for a different payment."),
                          field="idempotency_key", code="idempotency_conflict")
    if existing.status == Status.DECLINED:
        raise PaymentDeclined(existing)
    existing.replayed = True
    return existing


def payment_intent_create(*, plan: Plan, by, amount, overpayment: str, idempotency_key: str,
                          card_number: str) -> PaymentIntent:
    """The customer pays `amount` on their own plan through the payment provider.

    Refused before anything is stored (DomainError naming the field): someone else's plan
    (PermissionDenied), a bad key, an amount that is not positive, has too many decimals or exceeds
    what the plan owes, a plan that takes no payments, no card number. Then the intent is stored,
    the provider asked, and its answer recorded:
      authorised -> the payment is posted (intent.payment);
      pending (or no answer in time) -> nothing posted; the signed callback settles it later;
      declined -> PaymentDeclined (field card_number); the declined intent stays on record.
    The same key with the same request returns the first intent (`intent.replayed` True) and never
    asks the provider again.
    """
    if getattr(by, "pk", None) != plan.customer_id:
        raise PermissionDenied("Only the plan's customer pays through the payment provider.")
    key = _key_clean(idempotency_key)
    if overpayment not in Payment.Overpayment.values:
        raise DomainError(gettext("Choose what to do with any overpayment."), field="overpayment")
    existing = PaymentIntent.objects.filter(plan=plan, idempotency_key=key).select_related("payment").first()
    if existing is not None:
        return _replay(existing, amount=amount, overpayment=overpayment)
    value = _amount_clean(plan, amount)
    if not plan_takes_payment(plan, Payment.Channel.SELF_SERVICE):
        raise DomainError(gettext("This plan takes no more payments."), field="plan", code="plan_closed")
    card = providers.card_digits(card_number)
    if not card:
        raise DomainError(gettext("Enter your bank card number."), field="card_number")
    if Payment.objects.filter(plan=plan, idempotency_key=key).exists():
        raise DomainError(gettext("This idempotency key was already used for a different payment."),
                          field="idempotency_key", code="idempotency_conflict")
    provider = providers.payment_provider()
    try:
        with transaction.atomic():
            intent = PaymentIntent.objects.create(
                plan=plan, customer=by, amount=value, currency=plan.currency, overpayment=overpayment,
                idempotency_key=key, provider=provider.name, test_mode=bool(getattr(provider, "test_mode", False)))
            audit_record(actor=by, action="payment_intent.status", target=intent, to_state=Status.CREATED,
                         reason="customer asked to pay", data={"amount": str(value), "provider": provider.name})
    except IntegrityError:  # the same key at the same moment (a double click): the first one answers
        existing = PaymentIntent.objects.filter(plan=plan, idempotency_key=key).first()
        if existing is None:
            raise
        return _replay(existing, amount=amount, overpayment=overpayment)
    try:
        answer = provider.authorise(intent, card_number=card)
        reason = "provider answered"
    except NO_ANSWER as error:
        logger.warning("Payment provider %s gave no answer for intent %s: %s", provider.name, intent.pk, error)
        answer = providers.ProviderAnswer(providers.PENDING, getattr(error, "transaction_id", ""), gettext(
            "The payment provider did not answer in time. We post your payment as soon as it confirms; you are "
            "not charged twice."))
        reason = f"provider gave no answer: {type(error).__name__}"
    if answer.status not in providers.ANSWER_STATUSES:
        raise ValueError(f"provider {provider.name} answered with unknown status {answer.status!r}")
    with transaction.atomic():
        intent = PaymentIntent.objects.select_for_update().select_related("plan", "customer").get(pk=intent.pk)
        _settle(intent, to=answer.status, by=by, reason=reason, transaction_id=answer.transaction_id,
                message=answer.message)
    if intent.status == Status.DECLINED:
        raise PaymentDeclined(intent)
    intent.replayed = False
    return intent


def _settle(intent: PaymentIntent, *, to: str, by, reason: str, transaction_id: str = "", message: str = "",
            received_on: date | None = None) -> None:
    """Move a locked intent to `to` (no change when it is there already) and post its payment when
    it becomes authorised. The caller holds the transaction and the intent's row lock."""
    if transaction_id and not intent.provider_transaction_id:
        intent.provider_transaction_id = transaction_id[:100]
    if intent.status == to:
        return
    intent.message, intent.updated_at = (message or "")[:300], timezone.now()
    transition(intent, to=to, by=by, reason=reason, allowed=INTENT_TRANSITIONS, field="status",
               data={"provider": intent.provider, "transaction": intent.provider_transaction_id},
               extra_update_fields=("provider_transaction_id", "message", "updated_at"))
    if to == Status.AUTHORISED:
        _post(intent, received_on=received_on)


def _post(intent: PaymentIntent, *, received_on: date | None) -> None:
    """Post the authorised intent's payment (once: the intent is locked and has none yet)."""
    try:
        payment = payment_record(
            plan=intent.plan, amount=intent.amount, received_on=received_on, channel=Payment.Channel.SELF_SERVICE,
            idempotency_key=intent.idempotency_key, by=intent.customer, overpayment=intent.overpayment,
            reference=f"{intent.provider}:{intent.provider_transaction_id}"[:100], intent=intent)
    except DomainError as error:
        # The money was taken, the plan refused it: on record for staff to apply or refund.
        logger.error("Authorised payment intent %s could not be posted: %s", intent.pk, error.message)
        intent.message, intent.updated_at = gettext(
            "We received your payment but could not apply it to the plan. We will contact you; if it cannot be "
            "applied it is refunded."), timezone.now()
        transition(intent, to=Status.FAILED, by=None, reason=f"posting refused: {error.message}",
                   allowed=INTENT_TRANSITIONS, field="status", extra_update_fields=("message", "updated_at"))
        return
    intent.payment = payment
    intent.save(update_fields=["payment"])


def payment_intent_callback(*, body: bytes, headers: Mapping[str, str]) -> PaymentIntent:
    """Apply the provider's signed callback to its intent; refused callbacks store nothing.

    Refusals (providers.CallbackRejected naming the field): a wrong signature (status 401), a
    timestamp more than 5 minutes away from now, a nonce seen before, an unknown transaction, an
    amount or currency other than the intent's, a status the intent cannot move to. A callback that
    confirms what the intent already says changes nothing (a payment is never posted twice).
    """
    provider = providers.payment_provider()
    event = provider.verify_callback(body, headers)
    now = timezone.now()
    if abs(now - event.timestamp) > CALLBACK_MAX_AGE:
        raise providers.CallbackRejected(gettext("The callback is more than 5 minutes old (or ahead of our clock)."),
                                         field="timestamp", code="stale")
    with transaction.atomic():
        try:
            with transaction.atomic():
                ProviderCallbackNonce.objects.create(provider=provider.name, nonce=event.nonce, received_at=now)
        except IntegrityError:
            raise providers.CallbackRejected(gettext("This callback was received before (the nonce was seen)."),
                                             field="nonce", code="replayed")
        intent = (PaymentIntent.objects.select_for_update().select_related("plan", "customer")
                  .filter(provider=provider.name, provider_transaction_id=event.transaction_id).first())
        if intent is None:
            raise providers.CallbackRejected(gettext("No payment has this transaction id."), field="transaction_id",
                                             code="unknown_transaction")
        if event.currency != intent.currency:
            raise providers.CallbackRejected(gettext("The currency differs from the payment's (%(currency)s).")
                                             % {"currency": intent.currency}, field="currency", code="mismatch")
        if event.amount != intent.amount:
            raise providers.CallbackRejected(gettext("The amount differs from the payment's (%(amount)s).")
                                             % {"amount": intent.amount}, field="amount", code="mismatch")
        if event.status != providers.PENDING and event.status != intent.status:
            if event.status not in INTENT_TRANSITIONS.get(intent.status, ()):
                raise providers.CallbackRejected(
                    gettext("The payment is %(status)s; it cannot become %(new)s.")
                    % {"status": intent.status, "new": event.status}, field="status", code="invalid_transition")
            message = "" if event.status == Status.AUTHORISED else gettext("Your bank did not confirm the payment.")
            received_on = min(timezone.localdate(event.timestamp), business_date())
            _settle(intent, to=event.status, by=None, reason="provider callback", message=message,
                    received_on=received_on)
        ProviderCallbackNonce.objects.filter(received_at__lt=now - timedelta(days=1)).delete()
    return intent
