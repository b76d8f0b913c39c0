"""Payments come from money: a customer pays only through the payment provider (a payment intent),
an authorised intent posts exactly one payment, and the provider's signed callback settles a
pending one once; every refused callback names its field and stores nothing."""

import time
import uuid
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from collections_app.models import Payment, PaymentIntent, ProviderCallbackNonce
from collections_app.servicing import intents, payments, providers
from config.errors import DomainError
from customers.models import AuditEvent
from tests.collections_app.factories import customer_make, days_ago, pay_through_provider, plan_active

pytestmark = pytest.mark.django_db
D = Decimal
GOOD_CARD = "4111 1111 1111 1111"
PENDING_CARD = "4000 0000 0000 0077"
DECLINED_CARD = "4000 0000 0000 0002"
TIMEOUT_CARD = "4000 0000 0000 0119"
CALLBACK = "/api/v1/payments/provider-callback/"


@pytest.fixture
def plan(officer_user):
    return plan_active(disbursed=days_ago(40), amount="6000", term=6, by=officer_user)


def _intent_post(api_client, plan, key=None, **body):
    api_client.force_authenticate(plan.customer)
    return api_client.post(reverse("api-plan-payment-intents", args=[plan.pk]),
                           {"amount": "120.00", "overpayment": "credit", "card_number": GOOD_CARD, **body},
                           format="json", HTTP_IDEMPOTENCY_KEY=key or str(uuid.uuid4()))


def _callback(intent, *, signature=None, **fields):
    """POST the provider's callback for `intent` from a client with no login and CSRF checks on."""
    values = {"transaction_id": intent.provider_transaction_id, "status": "authorised", "amount": intent.amount,
              "currency": intent.currency}
    values.update(fields)
    body = providers.callback_body(**values)
    return body, _send(body, signature)


def _send(body: bytes, signature=None):
    return Client(enforce_csrf_checks=True).post(
        CALLBACK, data=body, content_type="application/json",
        HTTP_X_SIGNATURE=providers.callback_signature(body) if signature is None else signature)


def _nothing_stored(plan) -> bool:
    return not Payment.objects.filter(plan=plan).exists() and not ProviderCallbackNonce.objects.exists()


# --- Customers cannot post money that did not come through the provider ------------------------------

def test_a_customer_api_payment_is_refused_with_403_and_nothing_is_stored(api_client, plan):
    api_client.force_authenticate(plan.customer)
    response = api_client.post(reverse("api-plan-payments", args=[plan.pk]), {"amount": "120.00"}, format="json",
                               HTTP_IDEMPOTENCY_KEY="k-1")
    assert response.status_code == 403
    assert "payment intent" in response.json()["detail"]
    assert response.json()["payment_intents"] == reverse("api-plan-payment-intents", args=[plan.pk])
    assert not Payment.objects.exists() and not PaymentIntent.objects.exists()


def test_payment_record_refuses_self_service_without_an_authorised_intent_of_that_plan_and_amount(plan):
    other = plan_active(disbursed=days_ago(40), amount="6000", term=6)
    other_intent = pay_through_provider(other, "100.00", "o-1")
    pending = pay_through_provider(plan, "100.00", "p-1", card=PENDING_CARD)
    assert pending.status == "pending"
    for intent in (None, pending, other_intent):
        with pytest.raises(DomainError) as error:
            payments.payment_record(plan=plan, amount=D("100.00"), channel=Payment.Channel.SELF_SERVICE,
                                    idempotency_key="direct", by=plan.customer, intent=intent)
        assert error.value.code == "forbidden"
    posted = pay_through_provider(plan, "100.00", "a-1")
    unposted = PaymentIntent.objects.create(plan=plan, customer=plan.customer, amount=D("100.00"),
                                            currency=plan.currency, idempotency_key="u-1", provider="simulated",
                                            status="authorised")
    for intent, amount, by in ((posted, D("100.00"), plan.customer),  # it posted its payment already
                               (unposted, D("99.00"), plan.customer),  # not the amount the provider took
                               (unposted, D("100.00"), customer_make())):  # not the plan's customer
        with pytest.raises(DomainError) as error:
            payments.payment_record(plan=plan, amount=amount, channel=Payment.Channel.SELF_SERVICE,
                                    idempotency_key="again", by=by, intent=intent)
        assert error.value.code == "forbidden"
    assert list(Payment.objects.filter(plan=plan)) == [posted.payment]


def test_the_servicing_pay_form_cannot_pay_without_the_provider(client_for, plan):
    client = client_for(plan.customer)
    response = client.post(reverse("collections:my_plan_pay", args=[plan.pk]), {
        "amount": "100.00", "overpayment": "credit", "idempotency_key": "form-1"})
    assert response.status_code == 400 and "card_number" in response.context["pay_form"].errors
    declined = client.post(reverse("collections:my_plan_pay", args=[plan.pk]), {
        "amount": "100.00", "overpayment": "credit", "idempotency_key": "form-2", "card_number": DECLINED_CARD})
    assert declined.status_code == 400 and "declined" in str(declined.context["pay_form"].errors["card_number"])
    # A fresh key to try again with another card, and the card number is not echoed back.
    assert declined.context["pay_form"].data["idempotency_key"] != "form-2"
    assert f'value="{DECLINED_CARD}"' not in declined.content.decode()
    assert 'name="card_number"' in declined.content.decode()
    assert not Payment.objects.filter(plan=plan).exists()
    assert PaymentIntent.objects.get(plan=plan).status == "declined"


# --- Intents ----------------------------------------------------------------------------------------

def test_an_authorised_intent_posts_one_payment_and_a_double_submit_replays_it(api_client, plan):
    first = _intent_post(api_client, plan, key="pay-1")
    assert first.status_code == 201 and first["Idempotent-Replayed"] == "false"
    body = first.json()
    assert body["status"] == "authorised" and body["test_mode"] is True and body["provider"] == "simulated"
    assert body["payment"]["channel"] == "self_service" and D(body["payment"]["amount"]) == D("120.00")
    assert body["payment"]["reference"] == f"simulated:{body['provider_transaction_id']}"
    again = _intent_post(api_client, plan, key="pay-1")
    assert again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    assert again.json()["payment"]["id"] == body["payment"]["id"]
    assert Payment.objects.filter(plan=plan).count() == 1 and PaymentIntent.objects.count() == 1
    conflict = _intent_post(api_client, plan, key="pay-1", amount="99.00")
    assert conflict.status_code == 400 and "idempotency_key" in conflict.json()
    detail = api_client.get(reverse("api-payment-intent", args=[body["id"]]))
    assert detail.status_code == 200 and detail.json()["payment"]["id"] == body["payment"]["id"]
    api_client.force_authenticate(customer_make())
    assert api_client.get(reverse("api-payment-intent", args=[body["id"]])).status_code == 404
    moves = AuditEvent.objects.filter(action="paymentintent.status", target_id=str(body["id"]))
    assert [(m.from_state, m.to_state) for m in moves.order_by("pk")] == [("created", "authorised")]
    assert moves.get().actor_id == plan.customer_id and moves.get().reason == "provider answered"


def test_a_declined_card_answers_400_naming_card_number_and_posts_nothing(api_client, plan):
    response = _intent_post(api_client, plan, card_number=DECLINED_CARD)
    assert response.status_code == 400 and "declined" in response.json()["card_number"][0]
    assert not Payment.objects.exists()
    assert PaymentIntent.objects.get().status == "declined"


@pytest.mark.parametrize("amount", ["-5.00", "0", "100000000000000", "1.234", "5999999.00"])
def test_a_negative_or_absurd_amount_answers_400_naming_amount_and_stores_nothing(api_client, plan, amount):
    response = _intent_post(api_client, plan, amount=amount)
    assert response.status_code == 400 and "amount" in response.json()
    assert not PaymentIntent.objects.exists() and not Payment.objects.exists()


def test_staff_cannot_make_a_customers_intent(api_client, plan, officer_user):
    api_client.force_authenticate(officer_user)
    response = api_client.post(reverse("api-plan-payment-intents", args=[plan.pk]),
                               {"amount": "10.00", "card_number": GOOD_CARD}, format="json", HTTP_IDEMPOTENCY_KEY="s")
    assert response.status_code == 403 and not PaymentIntent.objects.exists()


def test_a_provider_timeout_leaves_the_intent_pending_with_a_message_and_posts_nothing(api_client, plan):
    response = _intent_post(api_client, plan, card_number=TIMEOUT_CARD)
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "pending" and body["payment"] is None and "did not answer in time" in body["message"]
    assert not Payment.objects.exists()
    # Its confirmation still finds it: the transaction id was known before the answer.
    intent = PaymentIntent.objects.get()
    assert intent.provider_transaction_id
    _, confirmed = _callback(intent)
    assert confirmed.status_code == 200 and Payment.objects.filter(plan=plan).count() == 1


def test_a_timeout_of_another_adapter_without_a_transaction_id_stays_pending(plan, settings):
    settings.PAYMENT_PROVIDER = "tests.collections_app.test_provider_payments.SilentProvider"
    intent = pay_through_provider(plan, "50.00", "silent-1")
    assert intent.status == "pending" and intent.provider == "silent" and intent.payment is None
    assert "did not answer in time" in intent.message and not Payment.objects.exists()


class SilentProvider(providers.SimulatedPaymentProvider):
    """A provider adapter that never answers (the network timed out before it said anything)."""

    name = "silent"

    def authorise(self, intent, *, card_number):
        raise TimeoutError("read timed out")


# --- The signed callback ------------------------------------------------------------------------------

def test_a_pending_intent_is_posted_once_by_the_signed_callback_and_a_replay_adds_nothing(api_client, plan):
    created = _intent_post(api_client, plan, card_number=PENDING_CARD)
    assert created.status_code == 201 and created.json()["status"] == "pending"
    assert created.json()["payment"] is None and not Payment.objects.exists()
    intent = PaymentIntent.objects.get()
    body, confirmed = _callback(intent)
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "authorised"
    intent.refresh_from_db()
    assert intent.status == "authorised" and confirmed.json()["payment"] == intent.payment_id
    payment = Payment.objects.get(plan=plan)
    assert payment.amount == D("120.00") and payment.reference == f"simulated:{intent.provider_transaction_id}"
    replayed = _send(body)  # the very same callback again
    assert replayed.status_code == 400 and "nonce" in replayed.json()
    _, fresh = _callback(intent)  # the provider confirming again with a new nonce
    assert fresh.status_code == 200 and fresh.json()["payment"] == payment.pk
    assert Payment.objects.filter(plan=plan).count() == 1
    moves = AuditEvent.objects.filter(action="paymentintent.status", target_id=str(intent.pk)).order_by("pk")
    assert [(m.from_state, m.to_state, m.actor_id, m.reason) for m in moves] == [
        ("created", "pending", plan.customer_id, "provider answered"),
        ("pending", "authorised", None, "provider callback")]


def test_a_declining_callback_leaves_nothing_posted(plan):
    intent = pay_through_provider(plan, "80.00", "p-1", card=PENDING_CARD)
    _, response = _callback(intent, status="declined")
    assert response.status_code == 200 and response.json()["status"] == "declined"
    assert not Payment.objects.exists()
    _, late = _callback(intent, status="authorised")  # a declined payment is not taken later
    assert late.status_code == 400 and "status" in late.json() and not Payment.objects.exists()


@pytest.mark.parametrize(("change", "field", "status"), [
    ({"signature": "0" * 64}, "signature", 401),
    ({"timestamp": -6 * 60}, "timestamp", 400),  # seconds from now, when the test runs
    ({"timestamp": 6 * 60}, "timestamp", 400),
    ({"amount": "80.01"}, "amount", 400),
    ({"currency": "USD"}, "currency", 400),
    ({"transaction_id": "SIM-NOSUCHTHING"}, "transaction_id", 400),
])
def test_a_refused_callback_names_the_field_and_stores_nothing(plan, change, field, status):
    intent = pay_through_provider(plan, "80.00", "p-1", card=PENDING_CARD)
    if "timestamp" in change:
        change = {"timestamp": int(time.time()) + change["timestamp"]}
    _, response = _callback(intent, **change)
    assert response.status_code == status and field in response.json(), response.json()
    intent.refresh_from_db()
    assert intent.status == "pending" and _nothing_stored(plan)


def test_a_callback_signed_over_another_body_is_refused(plan):
    intent = pay_through_provider(plan, "80.00", "p-1", card=PENDING_CARD)
    honest = providers.callback_body(transaction_id=intent.provider_transaction_id, status="declined",
                                     amount=intent.amount, currency=intent.currency)
    forged = honest.replace(b'"declined"', b'"authorised"')
    response = _send(forged, providers.callback_signature(honest))
    assert response.status_code == 401 and "signature" in response.json() and _nothing_stored(plan)


def test_a_replayed_nonce_is_refused_and_stores_nothing_more(plan):
    intent = pay_through_provider(plan, "80.00", "p-1", card=PENDING_CARD)
    body, first = _callback(intent, status="pending", nonce="n-1")  # still pending: changes nothing
    assert first.status_code == 200 and ProviderCallbackNonce.objects.count() == 1
    replayed = _send(providers.callback_body(transaction_id=intent.provider_transaction_id, status="authorised",
                                             amount=intent.amount, currency=intent.currency, nonce="n-1"))
    assert replayed.status_code == 400 and "nonce" in replayed.json()
    assert ProviderCallbackNonce.objects.count() == 1 and not Payment.objects.exists()


def test_an_authorised_intent_whose_plan_closed_is_failed_on_record_and_posts_nothing(plan, officer_user):
    from installments.models import Plan

    intent = pay_through_provider(plan, "80.00", "p-1", card=PENDING_CARD)
    Plan.objects.filter(pk=plan.pk).update(state=Plan.State.WRITTEN_OFF)
    _, response = _callback(intent)
    assert response.status_code == 200 and response.json()["status"] == "failed"
    intent.refresh_from_db()
    assert intent.payment is None and "refunded" in intent.message and not Payment.objects.exists()


# --- The pay pages show test mode -------------------------------------------------------------------

def test_test_mode_is_shown_wherever_a_customer_pays(client_for, plan):
    client = client_for(plan.customer)
    for name in ("collections:my_plan", "portal:plan_checkout"):
        content = client.get(reverse(name, args=[plan.pk])).content.decode()
        assert 'id="test-mode-notice"' in content and "4000 0000 0000 0077" in content, name
    assert intents.provider_test_mode()


def test_the_portal_pay_page_goes_through_the_same_intents(client_for, plan):
    response = client_for(plan.customer).post(reverse("portal:plan_checkout", args=[plan.pk]), {
        "amount": "60.00", "overpayment": "credit", "card_number": PENDING_CARD, "idempotency_key": "portal-1"})
    assert response.status_code == 302
    intent = PaymentIntent.objects.get(plan=plan)
    assert intent.idempotency_key == "portal-1" and intent.status == "pending" and not Payment.objects.exists()
