"""After a plan closes: reversing the payment that paid it off reopens it (and its application);
money collected on a written-off plan is posted as a recovery and can be reversed too."""

from decimal import Decimal

import pytest
from django.urls import reverse

from collections_app.collections import cob
from collections_app.models import Payment, ServicingRequest
from collections_app.servicing import payments, requests
from config.errors import DomainError
from customers.models import AuditEvent
from installments.models import Application, Installment, Plan
from tests.collections_app.factories import days_ago, pay_through_provider, plan_active

pytestmark = pytest.mark.django_db
D = Decimal


def _open_total(plan) -> Decimal:
    rows = plan.installments.exclude(status=Installment.Status.SUPERSEDED).exclude(status=Installment.Status.PAID)
    return sum((r.amount_outstanding for r in rows), D("0"))


@pytest.fixture
def paid_off(officer_user):
    """A two-installment plan paid off in one payment (the second installment as credit, then used)."""
    plan = plan_active(disbursed=days_ago(1), amount="1000", term=2, by=officer_user)
    payment = payments.payment_record(plan=plan, amount=_open_total(plan), idempotency_key="all",
                                      by=officer_user, channel=Payment.Channel.OFFICER,
                                      overpayment=Payment.Overpayment.CREDIT)
    plan.refresh_from_db()
    if plan.state != Plan.State.PAID_OFF:  # the rest sat as credit: use it
        payments.payment_record(plan=plan, amount=plan.credit_balance, idempotency_key="credit",
                                by=officer_user, channel=Payment.Channel.CREDIT)
        plan.refresh_from_db()
    assert plan.state == Plan.State.PAID_OFF
    return plan, payment


def test_reversing_the_payment_that_paid_off_a_plan_reopens_it_and_its_application(paid_off, approver_user,
                                                                                    manager_user):
    plan, _ = paid_off
    last = plan.payments.filter(state=Payment.State.POSTED).order_by("-pk").first()
    asked = requests.payment_reverse(payment=last, by=approver_user, reason="transfer bounced")
    assert asked.state == Payment.State.POSTED  # above the money threshold: a second person confirms
    assert asked.reversal_request.status == ServicingRequest.Status.PENDING
    with pytest.raises(DomainError) as refused:
        requests.request_decide(request=asked.reversal_request, by=approver_user, approve=True)
    assert refused.value.code == "four_eyes"
    requests.request_decide(request=asked.reversal_request, by=manager_user, approve=True)
    plan.refresh_from_db()
    assert plan.state == Plan.State.ACTIVE and plan.closed_at is None
    assert plan.application.state == Application.State.ACTIVE
    assert _open_total(plan) == last.amount
    reopened = AuditEvent.objects.filter(action="plan.state", to_state=Plan.State.ACTIVE,
                                         from_state=Plan.State.PAID_OFF).get()
    assert reopened.actor == manager_user
    # the plan takes payments again and can be paid off a second time
    payments.payment_record(plan=plan, amount=last.amount, idempotency_key="again", by=approver_user,
                            channel=Payment.Channel.OFFICER)
    plan.refresh_from_db()
    assert plan.state == Plan.State.PAID_OFF


@pytest.fixture
def written_off(officer_user, collector_user, approver_user):
    plan = plan_active(disbursed=days_ago(100), amount="6000", term=6, by=officer_user)
    cob.run_cob(days_ago(1))
    request = requests.request_create(plan=plan, kind=ServicingRequest.Kind.WRITE_OFF, by=collector_user,
                                      reason="no contact for 90 days")
    requests.request_decide(request=request, by=approver_user, approve=True)
    plan.refresh_from_db()
    assert plan.state == Plan.State.WRITTEN_OFF
    return plan


def test_a_recovery_on_a_written_off_plan_pays_what_is_owed_and_keeps_it_written_off(written_off, collector_user):
    owed = _open_total(written_off)
    payment = payments.payment_record(plan=written_off, amount=D("500.00"), idempotency_key="rec-1",
                                      by=collector_user, channel=Payment.Channel.OFFICER)
    written_off.refresh_from_db()
    assert written_off.state == Plan.State.WRITTEN_OFF
    assert sum(a.amount for a in payment.allocations.all()) == D("500.00")
    assert _open_total(written_off) == owed - D("500.00")
    # the whole balance can be recovered, including installments not yet due
    payments.payment_record(plan=written_off, amount=owed - D("500.00"), idempotency_key="rec-2",
                            by=collector_user, channel=Payment.Channel.OFFICER)
    written_off.refresh_from_db()
    assert _open_total(written_off) == 0 and written_off.state == Plan.State.WRITTEN_OFF
    assert written_off.credit_balance == 0


def test_a_recovery_is_refused_from_the_customer_and_as_a_prepayment(written_off, collector_user):
    with pytest.raises(DomainError) as error:
        pay_through_provider(written_off, D("10"), "self")
    assert error.value.code == "plan_closed" and not written_off.payment_intents.exists()
    with pytest.raises(DomainError) as error:
        payments.payment_record(plan=written_off, amount=D("10"), idempotency_key="pre", by=collector_user,
                                channel=Payment.Channel.OFFICER, overpayment=Payment.Overpayment.REDUCE_TERM)
    assert error.value.field == "overpayment"
    assert not written_off.payments.exists()


def test_a_recovery_can_be_reversed(written_off, collector_user, approver_user):
    owed = _open_total(written_off)
    payment = payments.payment_record(plan=written_off, amount=D("300.00"), idempotency_key="rec",
                                      by=collector_user, channel=Payment.Channel.OFFICER)
    requests.payment_reverse(payment=payment, by=approver_user, reason="cheque bounced")
    written_off.refresh_from_db()
    assert _open_total(written_off) == owed and written_off.state == Plan.State.WRITTEN_OFF


def test_the_staff_plan_page_offers_a_recovery_on_a_written_off_plan(written_off, client_for, officer_user):
    page = client_for(officer_user).get(reverse("collections:staff_plan", args=[written_off.pk]))
    content = page.content.decode()
    assert page.status_code == 200 and 'id="recovery-help"' in content
    response = client_for(officer_user).post(
        reverse("collections:staff_payment_take", args=[written_off.pk]),
        {"amount": "250.00", "received_on": days_ago(0).isoformat(), "reference": "field visit",
         "overpayment": "credit", "idempotency_key": "page-rec"})
    assert response.status_code == 302
    assert written_off.payments.get().amount == D("250.00")
