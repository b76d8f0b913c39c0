"""The account centre (applications with their stage, plans with what is due), the notifications
page, and self-service payments through the simulated payment provider (with the partial prepayment
choice), plus the hardship request."""


import pytest
from django.urls import reverse
from django.utils import timezone

from collections_app.models import Payment, Reminder, ReminderRule, ServicingRequest
from collections_app.selectors import plan_summary
from customers.roles import Role
from installments.origination import decisions
from tests.collections_app.factories import plan_active
from tests.factories import UserFactory, workbench_case

pytestmark = pytest.mark.django_db

GOOD_CARD = "4111 1111 1111 1111"


@pytest.fixture
def plan(customer):
    return plan_active(customer=customer, amount="12000", term=12)


def test_the_account_centre_shows_each_plan_with_next_due_date_amount_due_paid_and_remaining(
        customer_client, plan):
    summary = plan_summary(plan)
    content = customer_client.get(reverse("portal:account")).content.decode()
    card = content[content.index(f'id="plan-{plan.pk}"'):][:3000]
    assert summary.next_due_date.isoformat() in card
    assert f"{summary.next_due_amount:,.2f}" in card and f"{summary.outstanding:,.2f}" in card
    assert reverse("collections:my_plan", args=[plan.pk]) in card
    assert reverse("portal:plan_checkout", args=[plan.pk]) in card


def test_the_account_centre_lists_every_application_with_its_stage_and_what_to_do(client):
    application = workbench_case()
    officer = UserFactory(roles=["loan_officer"])
    decisions.application_request_documents(application=application, by=officer, message="Need a payslip",
                                            kinds=["income_proof"])
    client.force_login(application.customer, backend="customers.backends.ModelBackendWithRoles")
    content = client.get(reverse("portal:account")).content.decode()
    card = content[content.index(f'id="application-{application.pk}"'):][:4000]
    assert application.number in card and "needs more documents" in card
    assert 'aria-current="step"' in card and "More documents requested" in card


def test_notifications_list_reminders_and_officer_messages(customer_client, customer, plan):
    rule, _ = ReminderRule.objects.get_or_create(name="portal-test", defaults={
        "offset_days": -3, "channel": "sms", "template_key": "upcoming"})
    installment = plan.installments.order_by("number").first()
    Reminder.objects.create(installment=installment, rule=rule, scheduled_for=timezone.localdate(), plan=plan,
                            customer=customer, channel="sms", subject="Installment due soon",
                            body="Your installment of 1,066.19 is due on the 5th.", status="sent",
                            sent_at=timezone.now())
    application = workbench_case(customer=customer)
    decisions.application_request_documents(application=application, by=UserFactory(roles=["loan_officer"]),
                                            message="Please upload your payslip", kinds=["income_proof"])
    content = customer_client.get(reverse("portal:notifications")).content.decode()
    assert "Installment due soon" in content and "is due on the 5th" in content
    assert "Please upload your payslip" in content and application.number in content


def test_the_simulated_provider_approves_valid_cards_and_declines_the_test_card():
    from types import SimpleNamespace

    from collections_app.servicing import providers

    provider = providers.SimulatedPaymentProvider()
    ok = provider.authorise(SimpleNamespace(plan_id=1, idempotency_key="a"), card_number=GOOD_CARD)
    again = provider.authorise(SimpleNamespace(plan_id=1, idempotency_key="a"), card_number=GOOD_CARD)
    assert ok.status == "authorised" and ok.transaction_id == again.transaction_id
    assert provider.authorise(SimpleNamespace(plan_id=1, idempotency_key="b"),
                              card_number="4000 0000 0000 0002").status == "declined"
    assert provider.authorise(SimpleNamespace(plan_id=1, idempotency_key="c"),
                              card_number="1234 5678").status == "declined"
    assert providers.luhn_valid("4111111111111111") and not providers.luhn_valid("4111111111111112")


def _checkout(client, plan, **data):
    values = {"amount": "", "overpayment": "credit", "card_number": GOOD_CARD, "idempotency_key": "key-1"}
    values.update(data)
    return client.post(reverse("portal:plan_checkout", args=[plan.pk]), values)


def test_paying_the_installment_due_through_the_provider_posts_it_once(customer_client, plan):
    page = customer_client.get(reverse("portal:plan_checkout", args=[plan.pk])).content.decode()
    due = plan_summary(plan).next_due_amount
    assert f'value="{due}"' in page
    response = _checkout(customer_client, plan, amount=str(due))
    assert response.status_code == 302 and response.url == reverse("collections:my_plan", args=[plan.pk])
    payment = Payment.objects.get(plan=plan)
    assert payment.amount == due and payment.channel == "self_service" and payment.reference.startswith("simulated:SIM-")
    again = _checkout(customer_client, plan, amount=str(due))  # the same form posted twice
    assert again.status_code == 302 and Payment.objects.filter(plan=plan).count() == 1


def test_a_declined_card_is_refused_next_to_the_card_number_and_posts_nothing(customer_client, plan):
    response = _checkout(customer_client, plan, amount="100", card_number="4000 0000 0000 0002")
    assert response.status_code == 400
    assert 'id="id_card_number_errors" role="alert"' in response.content.decode()
    assert "declined" in response.content.decode()
    assert not Payment.objects.filter(plan=plan).exists()
    response = _checkout(customer_client, plan, amount="", card_number="")
    assert 'id="id_amount_errors" role="alert"' in response.content.decode()


def test_paying_more_than_due_prepays_part_of_the_plan_with_a_shorter_term(customer_client, plan):
    versions = plan.schedule_versions.count()
    response = _checkout(customer_client, plan, amount="5000", overpayment="reduce_term", idempotency_key="pre-1")
    assert response.status_code == 302
    payment = Payment.objects.get(plan=plan)
    assert payment.prepaid_amount > 0 and payment.overpayment == "reduce_term"
    assert plan.schedule_versions.count() == versions + 1


def test_a_hardship_request_goes_to_staff(customer_client, plan):
    response = customer_client.post(reverse("portal:plan_hardship", args=[plan.pk]),
                                    {"months": "6", "reason": "I lost my job"})
    assert response.status_code == 302
    request = ServicingRequest.objects.get(plan=plan)
    assert request.kind == "reinstallment" and request.origin == "customer" and request.status == "pending"


def test_a_hardship_request_needs_a_reason(customer_client, plan):
    response = customer_client.post(reverse("portal:plan_hardship", args=[plan.pk]), {"months": "6", "reason": ""})
    assert response.status_code == 400 and 'id="id_reason_errors" role="alert"' in response.content.decode()
    assert not ServicingRequest.objects.filter(plan=plan).exists()


def test_the_payment_page_offers_hardship_help_and_a_payment_holiday(customer_client, plan):
    content = customer_client.get(reverse("portal:plan_checkout", args=[plan.pk])).content.decode()
    assert 'id="hardship"' in content and 'id="hardship-help"' in content
    assert reverse("collections:my_plan", args=[plan.pk]) in content


def test_a_customer_cannot_ask_for_hardship_on_someone_elses_plan(client_for, make_user, plan):
    response = client_for(make_user(Role.CUSTOMER)).post(reverse("portal:plan_hardship", args=[plan.pk]),
                                           {"months": "6", "reason": "lost job"})
    assert response.status_code == 404
    assert not ServicingRequest.objects.filter(plan=plan).exists()
