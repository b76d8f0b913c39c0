"""The eight findings of "Money that is real", each reproduced through the service, the pages or the
API as its user met it, and each now answered with the behaviour a lender needs."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from collections_app.collections import cob
from collections_app.models import ChargeWaiver, CollectionCase, Payment, ServicingRequest
from collections_app.servicing import changes, intents, payments, policy, quotes, requests
from collections_app.servicing.bank_import import payments_import_csv
from config.errors import DomainError
from installments.assessment.book import book_outcomes
from installments.models import Installment
from installments.origination.contracts import contract_disclosure, contract_render_html
from tests.collections_app.factories import days_ago, plan_active, product_make

D = Decimal
K = ServicingRequest.Kind
OPEN = ("pending", "due", "overdue")
CARD = "4242424242424242"


def live(plan):
    return list(Installment.objects.filter(plan=plan).exclude(status="superseded").order_by("due_date", "number"))


def left_to_pay(plan) -> D:
    plan.refresh_from_db()
    return sum((r.amount_outstanding for r in live(plan)), D(0)) - plan.credit_balance


@pytest.fixture
def paid_first(officer_user):
    """Finding 2/3's plan: 20,000 over 12 months activated today, the first installment paid by card today."""
    plan = plan_active(amount="20000", term=12, rate="12", by=officer_user)
    first = live(plan)[0]
    intent = intents.payment_intent_create(plan=plan, by=plan.customer, amount=first.amount_due,
                                           overpayment=Payment.Overpayment.CREDIT, idempotency_key="card-1",
                                           card_number=CARD)
    assert intent.payment is not None and intent.payment.amount == first.amount_due
    first.refresh_from_db()
    assert first.status == Installment.Status.PAID and first.paid_on == timezone.localdate()
    return plan, first


def test_2_the_payoff_quote_counts_the_installment_already_paid(paid_first, client_for):
    plan, first = paid_first
    quote = quotes.plan_payoff_quote(plan=plan, on_date=timezone.localdate())
    assert quote.outstanding_principal == D("20000") - first.principal_due
    assert quote.accrued_interest == 0 and quote.interest_rebate < sum(r.interest_due for r in live(plan))
    assert quote.total == D("20000") - first.principal_due
    page = client_for(plan.customer).get(reverse("collections:my_plan", args=[plan.pk]),
                                         {"on_date": timezone.localdate().isoformat()})
    assert f"{quote.total:,.2f}" in page.content.decode()


def test_3_a_holiday_after_a_payment_keeps_it_paid(paid_first, officer_user):
    plan, first = paid_first
    before = left_to_pay(plan)
    request = requests.request_create(plan=plan, kind=K.PAYMENT_HOLIDAY, by=plan.customer, reason="moving house",
                                      params={"periods": 2, "interest": "capitalise"})
    preview = requests.request_preview(request=request)
    # Two months later to the end; the paused months owe nothing (no fee on this product).
    assert preview["after"]["last_due_date"] > preview["before"]["last_due_date"] + timedelta(days=55)
    requests.request_decide(request=request, by=officer_user, approve=True)
    first.refresh_from_db()
    assert first.status == Installment.Status.PAID and first.amount_paid == first.amount_due  # still paid
    version = plan.schedule_versions.get(version=2)
    capitalised = D(version.disclosure["capitalised"])
    new_rows = list(version.installments.order_by("number"))
    assert new_rows[0].number == 2  # the holiday starts after the installment paid ahead
    assert sum(r.principal_due for r in new_rows) == D("20000") - first.principal_due + capitalised
    assert 0 < capitalised < D("500")
    # Left to pay grows by the interest of the paused months only, never by the money already paid.
    assert left_to_pay(plan) - before < D("600")
    assert preview["after"]["left_to_pay"] == left_to_pay(plan)


def test_4_reinstallment_lowers_the_payment_and_the_approver_sees_it_first(overdue_plan, collector_user,
                                                                          approver_user, client_for):
    regular = max(r.amount_due for r in live(overdue_plan) if r.due_date > timezone.localdate())
    charges = sum(r.penalty_due for r in live(overdue_plan))
    assert charges > 0
    request = requests.request_create(plan=overdue_plan, kind=K.REINSTALLMENT, by=collector_user,
                                      reason="illness", params={"months": 6})
    assert request.status == ServicingRequest.Status.PENDING
    page = client_for(approver_user).get(reverse("collections:staff_requests")).content.decode()
    assert "After the change" in page and "The new schedule" in page
    preview = requests.request_preview(request=request)
    assert preview["after"]["next_payment"] < preview["before"]["next_payment"] + charges
    requests.request_decide(request=request, by=approver_user, approve=True)
    new = [r for r in live(overdue_plan) if r.version.version == 2]
    assert max(r.principal_due + r.interest_due + r.fee_due for r in new) < regular
    assert sum(r.penalty_due for r in new) == charges  # carried, not dropped
    assert [r.due_date for r in new] == sorted(r.due_date for r in new)


def test_4_a_reinstallment_that_would_raise_the_payment_is_refused_saying_why(officer_user, collector_user):
    plan = plan_active(disbursed=days_ago(300), amount="12000", term=12, by=officer_user)
    cob.run_cob(days_ago(1))
    with pytest.raises(DomainError) as refused:
        requests.request_create(plan=plan, kind=K.REINSTALLMENT, by=collector_user, reason="x",
                                params={"months": 1})
    assert refused.value.field == "months" and "not lower" in refused.value.message


def test_5_an_extension_keeps_late_charges_and_due_dates_in_order(overdue_plan, collector_user, approver_user):
    charges = sum(r.penalty_due - r.penalty_paid for r in live(overdue_plan))
    owed = left_to_pay(overdue_plan)
    limit = changes.extension_limit(overdue_plan, timezone.localdate())
    with pytest.raises(DomainError) as refused:
        requests.request_create(plan=overdue_plan, kind=K.EXTENSION, by=collector_user, reason="x",
                                params={"days": limit + 1})
    assert refused.value.field == "days"
    request = requests.request_create(plan=overdue_plan, kind=K.EXTENSION, by=collector_user, reason="salary late",
                                      params={"days": limit})
    if request.status == ServicingRequest.Status.PENDING:
        requests.request_decide(request=request, by=approver_user, approve=True)
    rows = live(overdue_plan)
    assert sum(r.penalty_due - r.penalty_paid for r in rows) == charges
    assert left_to_pay(overdue_plan) == owed
    assert [r.number for r in rows] == sorted(r.number for r in rows)  # due-date order = installment order
    assert not ChargeWaiver.objects.filter(plan=overdue_plan).exists()


def test_6_the_collections_queue_reflects_a_measure_at_once(overdue_plan, collector_user, approver_user,
                                                           client_for):
    case = CollectionCase.objects.get(plan=overdue_plan, status="open")
    assert case.amount_overdue > 0
    limit = changes.extension_limit(overdue_plan, timezone.localdate())
    request = requests.request_create(plan=overdue_plan, kind=K.EXTENSION, by=collector_user, reason="ok",
                                      params={"days": limit})
    if request.status == ServicingRequest.Status.PENDING:
        requests.request_decide(request=request, by=approver_user, approve=True)
    case.refresh_from_db()
    # The plan is no longer overdue: the case is closed as cured, or (if still open) shows 0 overdue.
    assert case.status == "closed" or (case.days_past_due, case.amount_overdue) == (0, 0)
    page = client_for(approver_user).get(reverse("collections:queue")).content.decode()
    assert overdue_plan.number not in page


def test_7_lateness_counts_from_the_value_date_not_the_booking(officer_user):
    plan = plan_active(disbursed=days_ago(40), amount="6000", term=6, by=officer_user)
    first = live(plan)[0]
    assert first.due_date < timezone.localdate()
    cob.run_cob(days_ago(1))  # the book thought it late
    first.refresh_from_db()
    assert first.status == "overdue"
    # The bank's file arrives today: the money was received on the due date.
    line = f"{plan.number},{first.amount_outstanding},{first.due_date.isoformat()},TRX-77"
    payments_import_csv(text="plan_number,amount,date,reference\n" + line + "\n", by=officer_user)
    first.refresh_from_db()
    assert first.status == "paid" and first.paid_on == first.due_date and first.days_past_due == 0
    assert first.paid_at.date() >= timezone.localdate() - timedelta(days=1)  # booked today
    assert book_outcomes([{"pk": plan.pk, "disbursement_date": plan.disbursement_date}], days=1)[plan.pk] == 0


def test_8_one_officer_alone_cannot_reverse_or_back_date_big_money(officer_user, approver_user, client_for):
    plan = plan_active(disbursed=days_ago(40), amount="6000", term=6, by=officer_user)
    amount = live(plan)[0].amount_outstanding
    assert amount > payments.backdated_post_limit(plan)
    with pytest.raises(DomainError) as refused:
        payments.payment_record(plan=plan, amount=amount, received_on=days_ago(5), channel=Payment.Channel.OFFICER,
                                idempotency_key="late-1", by=officer_user, reference="SLIP-1")
    assert refused.value.code == "needs_approval" and not plan.payments.exists()
    # Through the staff page: the posting becomes a request for a second person.
    response = client_for(officer_user).post(reverse("collections:staff_payment_take", args=[plan.pk]), {
        "amount": str(amount), "received_on": days_ago(5).isoformat(), "reference": "SLIP-1",
        "overpayment": "credit", "idempotency_key": "form-1", "reason": "cash slip found"})
    assert response.status_code == 302 and not plan.payments.exists()
    request = ServicingRequest.objects.get(plan=plan, kind=K.BACKDATED_POST, status="pending")
    with pytest.raises(DomainError):
        requests.request_decide(request=request, by=officer_user, approve=True)
    requests.request_decide(request=request, by=approver_user, approve=True)
    payment = plan.payments.get()
    assert payment.received_on == days_ago(5) and payment.created_by == officer_user
    # Reversal of it: asked by the officer, done only when the approver confirms.
    asked = requests.payment_reverse(payment=payment, by=officer_user, reason="slip was a copy")
    assert asked.state == Payment.State.POSTED and asked.reversal_request.status == "pending"
    requests.request_decide(request=asked.reversal_request, by=approver_user, approve=True)
    payment.refresh_from_db()
    assert payment.state == Payment.State.REVERSED and payment.reversed_by == approver_user


def test_a_waiver_of_charges_is_an_explicit_line_above_the_threshold_confirmed(overdue_plan, collector_user,
                                                                               approver_user, client_for):
    charges = sum(r.penalty_due - r.penalty_paid for r in live(overdue_plan))
    policy.policy_for(overdue_plan.product)  # the default policy: threshold 500
    small = requests.request_create(plan=overdue_plan, kind=K.CHARGE_WAIVER, by=collector_user, reason="goodwill",
                                    params={"amount": "1.00"})
    assert small.status == "applied" and ChargeWaiver.objects.get(request=small).amount == D("1.00")
    assert sum(r.penalty_due - r.penalty_paid for r in live(overdue_plan)) == charges - D("1.00")
    page = client_for(overdue_plan.customer).get(reverse("collections:my_plan", args=[overdue_plan.pk]))
    assert "Late charges waived" in page.content.decode()
    # The close of business never charges the waived cent again.
    cob.run_cob(timezone.localdate())
    assert sum(r.penalty_due - r.penalty_paid for r in live(overdue_plan)) >= charges - D("1.00")
    waived = ChargeWaiver.objects.filter(plan=overdue_plan)
    assert sum(w.amount for w in waived) == D("1.00")


def test_the_product_early_payoff_discount_shows_on_the_quote(officer_user):
    product = product_make(early_payoff_rebate=False, early_payoff_discount_rate=D("50"),
                           early_payoff_discount_months=6)
    plan = plan_active(disbursed=days_ago(40), amount="6000", term=6, product=product, by=officer_user)
    quote = quotes.plan_payoff_quote(plan=plan, on_date=timezone.localdate())
    assert quote.early_payoff_discount > 0
    assert quote.early_payoff_discount == (quote.accrued_interest * D("0.5")).quantize(D("0.01"))
    late = plan_active(disbursed=days_ago(250), amount="6000", term=12, product=product, by=officer_user)
    assert quotes.plan_payoff_quote(plan=late, on_date=timezone.localdate()).early_payoff_discount == 0
    # The contract discloses the offer, in both languages.
    offer = plan.contract.offer
    offer.schedule = {"installments": offer.schedule}  # the offer engine's shape (the factory keeps the rows)
    for language, text in (("en", "One-time early payoff offer: 50.00%"), ("zh-hans", "一次性提前结清优惠")):
        disclosure = contract_disclosure(application=plan.application, offer=offer, language=language)
        assert text in contract_render_html(disclosure=disclosure, language=language)
