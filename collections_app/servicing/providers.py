"""Payment providers: the one door customers' money comes in through.

A provider adapter is one class named by settings.PAYMENT_PROVIDER (a dotted path; the simulator
below by default). A real acquirer (a bank card acquirer, UnionPay, Alipay, WeChat Pay) is one
more class with the same shape:

    class AcmePayProvider:
        name = "acmepay"            # stored on every intent; payment references read "acmepay:<txn>"
        test_mode = False           # True shows the "test mode" notice wherever a customer pays

        def authorise(self, intent, *, card_number: str) -> ProviderAnswer:
            '''Ask the provider to take `intent.amount` `intent.currency` for plan `intent.plan`.

            Idempotent by `intent.idempotency_key` (send it as the provider's idempotency key):
            asking again returns the first answer and never takes the money twice. `card_number`
            is what the customer typed (a card number, or a wallet's token); it is never stored.
            Answer ProviderAnswer(status, transaction_id, message) with status
              "authorised" - the money is taken: the intent posts its payment now;
              "declined"   - refused (message says why, in the customer's language);
              "pending"    - the provider confirms later through the signed callback.
            Raise ProviderTimeout(transaction_id=...) when the provider does not answer in time:
            the intent stays pending and the callback settles it; nothing is posted.'''

        def verify_callback(self, body: bytes, headers) -> ProviderEvent:
            '''Check the provider's signature over the raw `body` and parse it.

            Raise CallbackRejected(field="signature", status=401) when the signature is wrong and
            CallbackRejected(field=<name>) for a malformed field. Freshness (timestamp), replayed
            nonces, the transaction, amount and currency are checked by the caller
            (collections_app.servicing.intents.payment_intent_callback) for every provider alike.'''

The simulator's callback (and the one documented for integrators) is
`POST /api/v1/payments/provider-callback/` with the JSON body
`{"transaction_id", "status", "amount", "currency", "timestamp", "nonce"}` (amount a decimal
string, timestamp seconds since the epoch) and the header
`X-Signature: hex(HMAC-SHA256(settings.PAYMENT_PROVIDER_SECRET, raw body))`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Protocol

from django.conf import settings
from django.utils.module_loading import import_string
from django.utils.translation import gettext

from config.errors import DomainError

if TYPE_CHECKING:
    from collections_app.models import PaymentIntent

AUTHORISED, DECLINED, PENDING = "authorised", "declined", "pending"
ANSWER_STATUSES = (AUTHORISED, DECLINED, PENDING)
# What a callback may report: the answers above, or that the provider gave up.
EVENT_STATUSES = (*ANSWER_STATUSES, "failed", "expired")
SIGNATURE_HEADER = "X-Signature"


@dataclass(frozen=True)
class ProviderAnswer:
    """The provider's answer to `authorise`: status (authorised / declined / pending), its own
    transaction id (unique per provider) and a message for the customer."""

    status: str
    transaction_id: str
    message: str = ""


@dataclass(frozen=True)
class ProviderEvent:
    """A verified callback: what the provider now says about one of its transactions."""

    transaction_id: str
    status: str
    amount: Decimal
    currency: str
    timestamp: datetime
    nonce: str


class ProviderTimeout(Exception):
    """The provider did not answer in time; whether the money was taken is not known yet.
    `transaction_id`: the provider's id for the attempt when it is known before the answer (many
    acquirers take the merchant's order reference), so its callback can still find the intent."""

    def __init__(self, message: str = "", *, transaction_id: str = ""):
        super().__init__(message)
        self.transaction_id = transaction_id


class CallbackRejected(DomainError):
    """A callback refused before anything is stored; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, *, field: str, code: str = "callback_rejected", status: int = 400):
        super().__init__(message, field=field, code=code)
        self.status = status


class PaymentProvider(Protocol):
    name: str
    test_mode: bool

    def authorise(self, intent: PaymentIntent, *, card_number: str) -> ProviderAnswer: ...

    def verify_callback(self, body: bytes, headers: Mapping[str, str]) -> ProviderEvent: ...


def payment_provider() -> PaymentProvider:
    """The configured provider (settings.PAYMENT_PROVIDER, a dotted class path); the simulator by default."""
    path = getattr(settings, "PAYMENT_PROVIDER", "") or "collections_app.servicing.providers.SimulatedPaymentProvider"
    return import_string(path)()


def luhn_valid(number: str) -> bool:
    """The Luhn check every bank card number passes (12 to 19 digits)."""
    digits = [int(c) for c in number if c.isdigit()]
    if len(digits) != len(number) or not 12 <= len(digits) <= 19:
        return False
    total = 0
    for position, digit in enumerate(reversed(digits)):
        if position % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def card_digits(card_number: str) -> str:
    """The card number without the spaces and dashes people type."""
    return "".join(c for c in card_number or "" if not c.isspace() and c != "-")


# --- Signed callbacks ------------------------------------------------------------------------------

def callback_secret() -> bytes:
    """settings.PAYMENT_PROVIDER_SECRET; without one, a key derived from SECRET_KEY (so an unset
    secret never means a known one: callbacks simply fail to verify until it is set)."""
    secret = getattr(settings, "PAYMENT_PROVIDER_SECRET", "")
    if secret:
        return secret.encode()
    return hmac.new(settings.SECRET_KEY.encode(), b"payment-provider-callback", hashlib.sha256).digest()


def callback_signature(body: bytes) -> str:
    """hex(HMAC-SHA256(PAYMENT_PROVIDER_SECRET, body)): what X-Signature carries."""
    return hmac.new(callback_secret(), body, hashlib.sha256).hexdigest()


def callback_body(*, transaction_id: str, status: str, amount: Decimal | str, currency: str,
                  timestamp: int | None = None, nonce: str | None = None) -> bytes:
    """A callback body as the simulator (and the tests) send it."""
    return json.dumps({
        "transaction_id": transaction_id, "status": status, "amount": str(amount), "currency": currency,
        "timestamp": int(time.time()) if timestamp is None else timestamp, "nonce": nonce or secrets.token_hex(16),
    }, separators=(",", ":")).encode()


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None:  # a plain dict of headers: look the name up case-insensitively
        value = next((v for k, v in headers.items() if k.lower() == name.lower()), "")
    return (value or "").strip()


def verify_signed_json(body: bytes, headers: Mapping[str, str]) -> ProviderEvent:
    """Verify X-Signature over the raw body (constant time), then parse the fields; every refusal
    names the field at fault."""
    signature = _header(headers, SIGNATURE_HEADER).lower()
    if not signature or not hmac.compare_digest(signature, callback_signature(body)):
        raise CallbackRejected(gettext("The signature does not match the body."), field="signature",
                               code="bad_signature", status=401)
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise CallbackRejected(gettext("The body is not JSON."), field="body")
    if not isinstance(data, dict):
        raise CallbackRejected(gettext("The body is not a JSON object."), field="body")
    for name in ("transaction_id", "status", "amount", "currency", "timestamp", "nonce"):
        if data.get(name) in (None, ""):
            raise CallbackRejected(gettext("This field is required."), field=name)
    status = str(data["status"])
    if status not in EVENT_STATUSES:
        raise CallbackRejected(gettext("Unknown status."), field="status")
    try:
        amount = Decimal(str(data["amount"]))
        if not amount.is_finite():
            raise InvalidOperation
    except (InvalidOperation, ValueError):
        raise CallbackRejected(gettext("Not an amount."), field="amount")
    try:
        timestamp = datetime.fromtimestamp(int(data["timestamp"]), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        raise CallbackRejected(gettext("Send seconds since the epoch."), field="timestamp")
    nonce = str(data["nonce"])
    if len(nonce) > 64:
        raise CallbackRejected(gettext("At most 64 characters."), field="nonce")
    return ProviderEvent(transaction_id=str(data["transaction_id"])[:100], status=status, amount=amount,
                         currency=str(data["currency"])[:3].upper(), timestamp=timestamp, nonce=nonce)


# --- The simulator ---------------------------------------------------------------------------------

class SimulatedPaymentProvider:
    """A stand-in provider for development, demos and tests (test mode: no money moves).

    Any card number passing the Luhn check is authorised, except the test cards:
      4000 0000 0000 0002  declined (insufficient funds);
      4000 0000 0000 0077  pending: the confirmation arrives later by the signed callback;
      4000 0000 0000 0119  the provider does not answer (ProviderTimeout).
    The transaction id is derived from the plan and the intent's idempotency key, so asking again
    gives the same answer. Callbacks are verified as documented in this module.
    """

    name = "simulated"
    test_mode = True
    DECLINED_CARD = "4000000000000002"
    PENDING_CARD = "4000000000000077"
    TIMEOUT_CARD = "4000000000000119"

    def transaction_id(self, intent: PaymentIntent) -> str:
        return "SIM-" + hashlib.sha256(f"{intent.plan_id}:{intent.idempotency_key}".encode()).hexdigest()[:16].upper()

    def authorise(self, intent: PaymentIntent, *, card_number: str) -> ProviderAnswer:
        number = card_digits(card_number)
        transaction_id = self.transaction_id(intent)
        if not luhn_valid(number):
            return ProviderAnswer(DECLINED, transaction_id, gettext("This card number is not valid; please check it."))
        if number == self.DECLINED_CARD:
            return ProviderAnswer(DECLINED, transaction_id,
                                  gettext("Your bank declined the payment (insufficient funds)."))
        if number == self.TIMEOUT_CARD:
            raise ProviderTimeout("the simulated provider did not answer", transaction_id=transaction_id)
        if number == self.PENDING_CARD:
            return ProviderAnswer(PENDING, transaction_id,
                                  gettext("Your bank is confirming the payment; we post it when it does."))
        return ProviderAnswer(AUTHORISED, transaction_id)

    def verify_callback(self, body: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        return verify_signed_json(body, headers)
