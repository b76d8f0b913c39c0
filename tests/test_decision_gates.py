"""Affordability and arrears are gates, not hints (issue #18): an approval or counter-offer whose
installment the customer cannot afford now, or for a customer in arrears with us now, needs the
officer's written reason and a second approver; the recommendation never says "approve" for a
customer in arrears; a decision says which open document requests it closed.

Through the services and through the workbench pages (there is no decision API: config/api_urls.py
and installments/api_urls.py expose none)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from config.errors import DomainError
from customers.models import AuditEvent
from customers.roles import Role
from installments.models import Application, ApplicationNotice, Decision, DocumentRequest, Offer, Plan
from installments.origination import decisions, gates
from tests.collections_app.factories import monthly, plan_by_hand
from tests.conftest import verify_two_factor
from tests.factories import workbench_case

State = Application.State
pytestmark = pytest.mark.django_db

# 30,000 over 3 months at 10 %: about 10,170 a month. The customer shows 20,000 of income and 3,000 of
# expenses; the product allows 40 % payment-to-income and 60 % debt service: 8,000 a month at most.
# Under the 50,000 four-eyes amount, so affordability is the only reason for a second approval.
UNAFFORDABLE_COUNTER = {"amount": "30000", "term_months": "3", "annual_rate": "10", "method": "annuity"}


@pytest.fixture(autouse=True)
def _fast_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def staff_client(user) -> Client:
    client = Client()
    client.force_login(user)
    verify_two_factor(client, user)
    return client


def page(client, application) -> str:
    response = client.get(reverse("workbench_application", args=[application.pk]))
    assert response.status_code == 200
    return response.content.decode()


def in_arrears(customer, *, days: int = 20) -> Plan:
    """A live plan of `customer` with two installments due and unpaid, `days` past due."""
    start = timezone.localdate() - timedelta(days=days + 31)
    plan = plan_by_hand(customer=customer, disbursed=start - timedelta(days=30), rows=monthly(start, 6),
                        state=Plan.State.OVERDUE)
    Plan.objects.filter(pk=plan.pk).update(days_past_due=days)
    return plan


def counter_offers() -> int:
    return Offer.objects.filter(is_counter_offer=True).count()


# --- Affordability: the offer engine's rule, read now ----------------------------------------------------

def test_affordability_is_the_offer_engines_rule_on_the_customers_finances_now():
    case = workbench_case()
    assert gates.affordable_installment(case) == Decimal("8000.00")  # min(40 % x 20,000, 60 % x 20,000 - 3,000)
    chosen = decisions.chosen_offer(case)
    assert gates.offer_affordability(application=case, offer=chosen).affordable


def test_an_unaffordable_counter_offer_without_an_override_reason_is_refused_and_changes_nothing(officer):
    case = workbench_case()
    with pytest.raises(DomainError) as refusal:
        decisions.application_counter_offer(application=case, by=officer, amount=Decimal("30000"), term_months=3,
                                            annual_rate=Decimal("10"))
    assert refusal.value.field == "override_reason"
    assert "exceeds the affordable 8,000.00 CNY" in refusal.value.message
    case.refresh_from_db()
    assert case.state == State.SCORED and case.assigned_officer is None
    assert counter_offers() == 0 and not Decision.objects.exists()


def test_an_unaffordable_counter_offer_through_the_page_needs_a_reason_then_a_second_approver(make_user):
    officer, approver = make_user(Role.LOAN_OFFICER), make_user(Role.APPROVER)
    case = workbench_case()
    client = staff_client(officer)
    html = page(client, case)
    assert 'id="affordable-installment"' in html and "at most 8,000.00 a month" in html

    refused = client.post(reverse("workbench_counter_offer", args=[case.pk]), UNAFFORDABLE_COUNTER)
    assert refused.status_code == 400
    form = refused.context["counter_form"]
    assert "override_reason" in form.errors and "exceeds the affordable" in form.errors["override_reason"][0]
    case.refresh_from_db()
    assert case.state == State.SCORED and counter_offers() == 0 and not Decision.objects.exists()

    taken = client.post(reverse("workbench_counter_offer", args=[case.pk]),
                        {**UNAFFORDABLE_COUNTER, "override_reason": "Bonus due next month, payslip seen"})
    assert taken.status_code == 302
    case.refresh_from_db()
    decision = Decision.objects.get()
    assert case.state == State.AWAITING_APPROVAL and not case.contracts.exists()
    assert decision.status == Decision.Status.PENDING and not decision.is_override
    assert decision.four_eyes_reasons == [decisions.FOUR_EYES_UNAFFORDABLE]
    assert decision.override_reason == "Bonus due next month, payslip seen"
    event = AuditEvent.objects.get(action="decision.counter_offer")
    assert event.actor == officer and event.reason == "Bonus due next month, payslip seen"
    assert event.data["four_eyes"] == ["unaffordable"]
    assert event.data["gates"][0]["problem"] == "payment_to_income"
    assert event.data["gates"][0]["affordable_installment"] == "8000.00"

    approver_client = staff_client(approver)
    html = page(approver_client, case)
    assert "the installment is more than the customer can afford" in html
    assert "exceeds the affordable 8,000.00 CNY" in html and 'id="confirm-form"' in html

    confirmed = approver_client.post(reverse("workbench_confirm", args=[case.pk]), {"action": "confirm"})
    assert confirmed.status_code == 302
    case.refresh_from_db()
    decision.refresh_from_db()
    assert decision.status == Decision.Status.CONFIRMED and decision.confirmed_by == approver
    assert case.state == State.APPROVED and case.contracts.get().offer == decision.offer
    assert AuditEvent.objects.filter(action="decision.confirm", actor=approver).exists()


def test_the_officer_who_took_an_unaffordable_decision_cannot_confirm_it(make_user):
    officer_approver = make_user(Role.LOAN_OFFICER, Role.APPROVER)
    case = workbench_case()
    client = staff_client(officer_approver)
    client.post(reverse("workbench_counter_offer", args=[case.pk]),
                {**UNAFFORDABLE_COUNTER, "override_reason": "Long-standing customer"})
    assert Decision.objects.get().status == Decision.Status.PENDING

    html = page(client, case)
    assert 'id="confirm-form"' not in html
    response = client.post(reverse("workbench_confirm", args=[case.pk]), {"action": "confirm"})
    assert response.status_code == 400 and "someone else" in response.content.decode()
    case.refresh_from_db()
    assert case.state == State.AWAITING_APPROVAL and not case.contracts.exists()
    with pytest.raises(DomainError) as refusal:
        decisions.application_confirm(application=case, by=officer_approver)
    assert refusal.value.code == "four_eyes"


def test_approving_a_chosen_offer_the_customer_can_no_longer_afford_is_warned_and_gated(officer):
    case = workbench_case(income="3000")  # 1,200 a month at most; the chosen offer is about 1,760
    client = staff_client(officer)
    html = page(client, case)
    assert "affordability-warning" in html and "exceeds the affordable 0.00 CNY" in html

    refused = client.post(reverse("workbench_approve", args=[case.pk]), {"note": "ok"})
    assert refused.status_code == 400 and "override_reason" in refused.context["approve_form"].errors
    case.refresh_from_db()
    assert case.state == State.SCORED and not Decision.objects.exists()

    client.post(reverse("workbench_approve", args=[case.pk]), {"override_reason": "Guarantor income verified"})
    decision = Decision.objects.get()
    assert decision.status == Decision.Status.PENDING
    assert decision.four_eyes_reasons == [decisions.FOUR_EYES_UNAFFORDABLE]


def test_an_affordable_approval_still_takes_effect_at_once(officer):
    case = workbench_case()
    decision = decisions.application_approve(application=case, by=officer)
    assert decision.status == Decision.Status.FINAL and decision.four_eyes_reasons == []


# --- Arrears with us, read live ------------------------------------------------------------------------

def test_a_customer_in_arrears_is_not_recommended_for_approval_and_the_reason_is_read_live():
    case = workbench_case(grade="A")
    assert decisions.recommendation_for(case).code == Decision.Recommendation.APPROVE
    plan = in_arrears(case.customer, days=20)

    recommendation = decisions.recommendation_for(case)
    assert recommendation.code == Decision.Recommendation.REFER
    assert recommendation.reasons[0].startswith("The customer is 20 days past due with us,")
    assert "220.00 CNY overdue" in recommendation.reasons[0]  # two installments of 100 + 10
    assert not any("no knock-out rule" in reason for reason in recommendation.reasons)

    # Paid up: the same stored score recommends approval again.
    plan.installments.update(principal_paid=Decimal("100"), interest_paid=Decimal("10"), status="paid")
    Plan.objects.filter(pk=plan.pk).update(days_past_due=0, state=Plan.State.ACTIVE)
    assert decisions.recommendation_for(case).code == Decision.Recommendation.APPROVE


def test_arrears_on_a_closed_plan_do_not_count():
    case = workbench_case()
    plan = in_arrears(case.customer)
    Plan.objects.filter(pk=plan.pk).update(state=Plan.State.WRITTEN_OFF)
    assert not gates.customer_arrears(case.customer_id).in_arrears
    assert decisions.recommendation_for(case).code == Decision.Recommendation.APPROVE


def test_a_knocked_out_customer_in_arrears_stays_declined_with_both_reasons():
    case = workbench_case(knocked_out=True)
    in_arrears(case.customer, days=5)
    recommendation = decisions.recommendation_for(case)
    assert recommendation.code == Decision.Recommendation.DECLINE
    assert "5 days past due" in recommendation.reasons[0] and "Knock-out" in recommendation.reasons[1]


def test_approving_for_a_customer_in_arrears_needs_a_reason_and_four_eyes_through_the_page(make_user):
    officer, approver = make_user(Role.LOAN_OFFICER), make_user(Role.APPROVER)
    case = workbench_case()
    in_arrears(case.customer, days=20)
    client = staff_client(officer)
    html = page(client, case)
    assert "arrears-warning" in html and "The customer is 20 days past due with us" in html
    assert 'id="recommendation">Refer to the officer' in html

    refused = client.post(reverse("workbench_approve", args=[case.pk]), {"note": "fine"})
    assert refused.status_code == 400
    errors = refused.context["approve_form"].errors["override_reason"]
    assert "20 days past due" in errors[0]
    case.refresh_from_db()
    assert case.state == State.SCORED and not Decision.objects.exists()

    client.post(reverse("workbench_approve", args=[case.pk]), {"override_reason": "Arrears are a bank error"})
    decision = Decision.objects.get()
    assert decision.status == Decision.Status.PENDING and decision.recommendation == "refer"
    assert decision.four_eyes_reasons == [decisions.FOUR_EYES_ARREARS]
    assert AuditEvent.objects.get(action="decision.approve").data["gates"][0]["days_past_due"] == 20

    approvals = staff_client(approver).get(reverse("workbench_approvals")).content.decode()
    assert "the customer is in arrears with us" in approvals
    staff_client(approver).post(reverse("workbench_confirm", args=[case.pk]), {"action": "confirm"})
    case.refresh_from_db()
    assert case.state == State.APPROVED


def test_declining_a_customer_in_arrears_takes_effect_at_once(officer):
    case = workbench_case()
    in_arrears(case.customer)
    decision = decisions.application_decline(application=case, by=officer, reason_codes=["credit_history"])
    assert decision.status == Decision.Status.FINAL and decision.four_eyes_reasons == []


# --- Open document requests are closed by the decision, and it says so ---------------------------------

def test_a_decision_records_the_document_requests_it_closed(officer):
    case = workbench_case()
    request = decisions.application_request_documents(application=case, by=officer, message="Payslips please",
                                                      kinds=["income_proof"])
    client = staff_client(officer)
    html = page(client, case)
    assert "1 document request is open and will be closed by this decision" in html

    assert client.post(reverse("workbench_approve", args=[case.pk]), {"note": "enough as is"}).status_code == 302
    decision = Decision.objects.get()
    request.refresh_from_db()
    assert request.resolved_at is not None and request.resolved_by == officer
    assert request.closed_by_decision == decision
    assert list(decision.closed_document_requests.all()) == [request]
    assert AuditEvent.objects.get(action="decision.approve").data["document_requests_closed"] == [request.pk]
    resumed = AuditEvent.objects.filter(action="application.state", data__document_requests_closed=[request.pk])
    assert resumed.exists()
    assert "This decision closed 1 open document request." in page(client, case)
    notice = ApplicationNotice.objects.get(key=f"decision-{decision.pk}")
    assert "received" not in notice.body.lower()


def test_a_refused_decision_leaves_the_document_request_open(officer):
    case = workbench_case(income="3000")
    decisions.application_request_documents(application=case, by=officer, message="Payslips", kinds=["income_proof"])
    with pytest.raises(DomainError):
        decisions.application_approve(application=case, by=officer)
    assert DocumentRequest.objects.get().resolved_at is None
    case.refresh_from_db()
    assert case.state == State.DOCUMENTS_REQUESTED
