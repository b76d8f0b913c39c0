"""Payments: allocation order, idempotency, overpayment, prepayment, reversal, bank import."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from collections_app.collections import cases
from collections_app.models import Payment, PromiseToPay, ServicingPolicy
from collections_app.servicing import bank_import, payments, record, requests
from config.errors import DomainError
from customers.models import AuditEvent
from customers.roles import Role
from installments.models import Application, Installment, Plan
from tests.collections_app.factories import (
    customer_make,
    days_ago,
    pay_through_provider,
    plan_active,
    plan_by_hand,
    staff_make,
)

pytestmark = pytest.mark.django_db
D = Decimal


def _post(plan, amount, key, by, **kwargs):
    kwargs.setdefault("channel", Payment.Channel.OFFICER)
    return payments.payment_record(plan=plan, amount=D(amount), idempotency_key=key, by=by, **kwargs)


def _rows(plan):
    return list(plan.installments.exclude(status=Installment.Status.SUPERSEDED).order_by("due_date", "number"))


@pytest.fixture
def late_plan(product):
    """Two installments overdue with late charges, one pending."""
    plan = plan_by_hand(product=product, disbursed=days_ago(90), rows=[
        (days_ago(60), "100.00", "10.00", "2.00"), (days_ago(30), "100.00", "9.00", "2.00"),
        (days_ago(-1), "100.00", "8.00", "2.00"), (days_ago(-31), "100.00", "7.00", "2.00")])
    Installment.objects.filter(plan=plan, due_date__lt=days_ago(0)).update(status="overdue")
    first, second, *_ = _rows(plan)
    Installment.objects.filter(pk=first.pk).update(penalty_due=D("5.00"))
    Installment.objects.filter(pk=second.pk).update(penalty_due=D("3.00"))
    return plan


def test_a_payment_pays_penalties_fees_interest_principal_oldest_installment_first(late_plan, officer_user):
    payment = _post(late_plan, "130.00", "k-1", officer_user)
    parts = [(a.installment.number, a.component, a.amount) for a in payment.allocations.order_by("id")]
    assert parts == [(1, "penalty", D("5")), (1, "fee", D("2")), (1, "interest", D("10")), (1, "principal", D("100")),
                     (2, "penalty", D("3")), (2, "fee", D("2")), (2, "interest", D("8"))]
    first, second, *_ = _rows(late_plan)
    assert first.status == Installment.Status.PAID and first.days_past_due == 60
    assert second.interest_paid == D("8") and second.status == Installment.Status.OVERDUE
    assert AuditEvent.objects.filter(action="payment.post", target_id=str(late_plan.pk)).exists()


def test_a_product_can_allocate_component_first(late_plan, officer_user):
    ServicingPolicy.objects.create(product=late_plan.product, allocation_mode="by_component")
    payment = _post(late_plan, "15.00", "k-1", officer_user)
    # In scope: the two overdue installments and the next one (credit mode pays the next one ahead).
    assert [(a.installment.number, a.component) for a in payment.allocations.order_by("id")] == [
        (1, "penalty"), (2, "penalty"), (1, "fee"), (2, "fee"), (3, "fee"), (1, "interest")]


def test_the_same_key_twice_posts_once_and_a_different_request_is_refused(late_plan, officer_user):
    first = _post(late_plan, "50.00", "same", officer_user)
    again = _post(late_plan, "50.00", "same", officer_user)
    assert again.pk == first.pk and again.replayed and not first.replayed
    assert Payment.objects.filter(plan=late_plan).count() == 1
    assert sum(r.amount_paid for r in _rows(late_plan)) == D("50.00")
    with pytest.raises(DomainError) as error:
        _post(late_plan, "60.00", "same", officer_user)
    assert error.value.code == "idempotency_conflict"


def test_overpayment_kept_as_credit_pays_the_next_installment_when_it_falls_due(product, officer_user):
    from collections_app.collections import cob

    plan = plan_by_hand(product=product, disbursed=days_ago(40), rows=[
        (days_ago(5), "100.00", "10.00"), (days_ago(-2), "100.00", "10.00"), (days_ago(-32), "100.00", "10.00")])
    payment = _post(plan, "300.00", "k-1", officer_user)
    plan.refresh_from_db()
    assert payment.allocated_amount == D("220.00") and payment.credited_amount == D("80.00")
    assert plan.credit_balance == D("80.00")
    assert [r.status for r in _rows(plan)] == ["paid", "paid", "pending"]
    # The credit is used when the third installment falls due (COB first applies credit balances).
    Installment.objects.filter(plan=plan, number=3).update(due_date=days_ago(1))
    cob.run_cob(days_ago(1))
    plan.refresh_from_db()
    third = plan.installments.get(number=3)
    assert plan.credit_balance == 0 and third.amount_paid == D("80.00") and third.status == "due"
    assert plan.payments.filter(channel=Payment.Channel.CREDIT, amount=D("80.00")).exists()


def test_overpayment_as_prepayment_shortens_the_term_and_keeps_the_old_version(officer_user):
    plan = plan_active(disbursed=days_ago(35), amount="12000", term=12)
    before = _rows(plan)
    due_now = before[0].amount_due
    payment = _post(plan, str(due_now + D("3000")), "k-1", officer_user, overpayment="reduce_term")
    plan.refresh_from_db()
    assert payment.prepaid_amount == D("3000.00") and payment.schedule_version.version == 2
    assert plan.current_version == 2
    old = plan.schedule_versions.get(version=1).installments.order_by("number")
    assert [r.status for r in old][:1] == ["paid"] and {r.status for r in old[1:]} == {"superseded"}
    live = _rows(plan)
    assert len(live) < len(before)
    assert live[1].amount_due == before[1].amount_due  # same installment, fewer of them
    assert sum(r.principal_due for r in live[1:]) < sum(r.principal_due for r in before[1:])


def test_overpayment_as_prepayment_can_lower_the_installment_instead(officer_user):
    plan = plan_active(disbursed=days_ago(35), amount="12000", term=12)
    before = _rows(plan)
    _post(plan, str(before[0].amount_due + D("3000")), "k-1", officer_user, overpayment="reduce_installment")
    live = _rows(plan)
    assert len(live) == len(before) and live[1].amount_due < before[1].amount_due


def test_a_prepayment_that_would_settle_the_plan_is_refused_with_the_field(officer_user):
    plan = plan_active(disbursed=days_ago(5), amount="2000", term=3)
    with pytest.raises(DomainError) as error:
        _post(plan, "5000.00", "k-1", officer_user, overpayment="reduce_term")
    assert error.value.field == "amount"
    assert not Payment.objects.exists() and plan.installments.filter(principal_paid__gt=0).count() == 0


def test_reversal_reopens_what_the_payment_paid_and_takes_back_its_credit(late_plan, officer_user):
    payment = _post(late_plan, "400.00", "k-1", officer_user)
    late_plan.refresh_from_db()
    assert late_plan.credit_balance == D("59.00") and late_plan.state == Plan.State.ACTIVE
    requests.payment_reverse(payment=payment, by=officer_user, reason="cheque bounced")
    late_plan.refresh_from_db()
    payment.refresh_from_db()
    assert payment.state == Payment.State.REVERSED and payment.reversal_reason == "cheque bounced"
    assert late_plan.credit_balance == 0
    rows = _rows(late_plan)
    assert all(r.amount_paid == 0 for r in rows)
    assert [r.status for r in rows] == ["overdue", "overdue", "pending", "pending"]
    assert late_plan.state == Plan.State.OVERDUE and late_plan.days_past_due == 60
    with pytest.raises(DomainError) as error:
        requests.payment_reverse(payment=payment, by=officer_user, reason="again")
    assert error.value.code == "already_reversed"


def test_reversal_needs_a_reason_and_a_staff_role(late_plan, officer_user):
    payment = _post(late_plan, "50.00", "k-1", officer_user)
    with pytest.raises(DomainError):
        requests.payment_reverse(payment=payment, by=officer_user, reason="  ")
    with pytest.raises(DomainError) as error:
        requests.payment_reverse(payment=payment, by=late_plan.customer, reason="mine")
    assert error.value.code == "forbidden"


def test_reversing_a_prepayment_restores_the_schedule_it_replaced(officer_user, approver_user):
    plan = plan_active(disbursed=days_ago(35), amount="12000", term=12)
    before = [(r.number, r.due_date, r.amount_due) for r in _rows(plan)]
    payment = _post(plan, str(_rows(plan)[0].amount_due + D("2500")), "k-1", officer_user, overpayment="reduce_term")
    asked = requests.payment_reverse(payment=payment, by=officer_user, reason="entered on the wrong plan")
    requests.request_decide(request=asked.reversal_request, by=approver_user, approve=True)  # above the threshold
    plan.refresh_from_db()
    assert plan.current_version == 3
    assert [(r.number, r.due_date, r.amount_due) for r in _rows(plan)] == before
    assert all(r.amount_paid == 0 for r in _rows(plan))
    assert plan.schedule_versions.count() == 3  # every version stays readable


def test_paying_everything_closes_the_plan_and_the_application(officer_user):
    plan = plan_active(disbursed=days_ago(1), amount="1000", term=2)
    total = sum(r.amount_due for r in _rows(plan))
    _post(plan, str(total), "k-1", officer_user)
    assert _rows(plan)[1].status == "pending"  # only the next installment is paid ahead; the rest is credit
    plan.refresh_from_db()
    assert plan.state == Plan.State.ACTIVE and plan.credit_balance > 0
    second = _rows(plan)[1]
    payments.payment_record(plan=plan, amount=second.amount_outstanding, idempotency_key="k-2", by=officer_user,
                            channel=Payment.Channel.OFFICER)
    plan.refresh_from_db()
    assert plan.state == Plan.State.PAID_OFF and plan.closed_at is not None
    assert plan.application.state == Application.State.CLOSED
    with pytest.raises(DomainError) as error:
        _post(plan, "1.00", "k-3", officer_user)
    assert error.value.code == "plan_closed"


def test_payments_check_amount_date_and_who_pays(late_plan, officer_user):
    with pytest.raises(DomainError) as error:
        _post(late_plan, "-5", "k", officer_user)
    assert error.value.field == "amount"
    with pytest.raises(DomainError) as error:
        _post(late_plan, "1.001", "k", officer_user)
    assert error.value.field == "amount"
    with pytest.raises(DomainError) as error:
        _post(late_plan, "10", "k", officer_user, received_on=days_ago(-1))
    assert error.value.field == "received_on"
    with pytest.raises(DomainError):
        _post(late_plan, "10", "k", customer_make(), channel=Payment.Channel.SELF_SERVICE)
    with pytest.raises(DomainError):
        _post(late_plan, "10", "", officer_user)
    with pytest.raises(DomainError) as error:  # the customer's own money comes only through the provider
        _post(late_plan, "10", "k", late_plan.customer, channel=Payment.Channel.SELF_SERVICE)
    assert error.value.code == "forbidden" and not late_plan.payments.exists()
    own = pay_through_provider(late_plan, "10", "k").payment
    assert own.channel == Payment.Channel.SELF_SERVICE


def test_a_payment_reaching_the_promise_keeps_it(late_plan, officer_user, collector_user):
    from collections_app.models import CollectionCase

    case = CollectionCase.objects.create(plan=late_plan, opened_on=days_ago(3), bucket="31-60")
    promise = cases.promise_create(case=case, by=collector_user, amount=D("100"), promised_date=days_ago(-3))
    _post(late_plan, "60.00", "k-1", officer_user)
    promise.refresh_from_db()
    assert promise.state == PromiseToPay.State.OPEN
    _post(late_plan, "40.00", "k-2", officer_user)
    promise.refresh_from_db()
    assert promise.state == PromiseToPay.State.KEPT


def test_repayment_record_is_updated_after_payments(late_plan, officer_user):
    from tests.factories import CustomerProfileFactory

    profile = CustomerProfileFactory(user=late_plan.customer)
    if not hasattr(profile, "on_time_payments"):
        pytest.skip("the customer profile has no repayment record fields")
    _post(late_plan, "500.00", "k-1", officer_user)
    profile.refresh_from_db()
    assert profile.late_payments == 2 and profile.on_time_payments == 1  # the third was paid ahead
    assert profile.max_days_past_due == 60 and profile.current_overdue == 0


def test_the_repayment_record_follows_every_payment_that_changes_what_it_reads(late_plan, officer_user, product):
    """A payment toward an overdue installment changes the amount overdue on record even when it pays
    nothing off; one that neither pays an installment off nor touches an overdue one leaves the
    record as it was (it is not recomputed), and the record always equals a full recompute."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories import CustomerProfileFactory

    profile = CustomerProfileFactory(user=late_plan.customer)
    if not hasattr(profile, "current_overdue"):
        pytest.skip("the customer profile has no repayment record fields")
    record.repayment_record_refresh(customer_ids=[late_plan.customer_id])
    profile.refresh_from_db()
    overdue_before = profile.current_overdue
    _post(late_plan, "10.00", "k-1", officer_user)  # the first overdue installment's penalty, partly
    profile.refresh_from_db()
    assert profile.current_overdue == overdue_before - D("10.00")

    current = plan_by_hand(product=product, disbursed=days_ago(10), customer=late_plan.customer, rows=[
        (days_ago(-20), "100.00", "8.00", "0.00"), (days_ago(-50), "100.00", "7.00", "0.00")])
    record_before = (profile.on_time_payments, profile.late_payments, profile.max_days_past_due, profile.current_overdue)
    with CaptureQueriesContext(connection) as captured:
        pay_through_provider(current, "1.00", "k-2")
    assert not [q for q in captured.captured_queries if q["sql"].startswith('UPDATE "customers_customerprofile"')]
    record.repayment_record_refresh(customer_ids=[late_plan.customer_id])
    profile.refresh_from_db()
    assert (profile.on_time_payments, profile.late_payments, profile.max_days_past_due,
            profile.current_overdue) == record_before


# --- Bank receipts -------------------------------------------------------------------------------

def _csv(*lines):
    return "plan_number,amount,date,reference\n" + "\n".join(lines) + "\n"


def test_bank_import_posts_every_line_once(late_plan, officer_user):
    other = plan_by_hand(disbursed=days_ago(40), rows=[(days_ago(10), "50.00", "5.00")], number="PLN-T-OTHER")
    text = _csv(f"{late_plan.number},120.00,{days_ago(1)},B-1", f"{other.number},55.00,{days_ago(1)},B-2")
    result = bank_import.payments_import_csv(text=text, by=officer_user)
    assert result.lines == 2 and len(result.posted) == 2 and not result.already_posted
    assert {p.channel for p in result.posted} == {Payment.Channel.BANK_IMPORT}
    again = bank_import.payments_import_csv(text=text, by=officer_user)
    assert len(again.already_posted) == 2 and not again.posted
    assert Payment.objects.count() == 2


def test_bank_import_posts_the_good_lines_and_lists_the_others_with_line_numbers(late_plan, officer_user):
    text = _csv(f"{late_plan.number},120.00,{days_ago(1)},B-1", "PLN-NOPE,10,2026-01-01,B-2",
                f"{late_plan.number},abc,{days_ago(1)},B-3", f"{late_plan.number},10.00,31/12/2026,B-4",
                f"{late_plan.number},10.00,{days_ago(1)},B-1", f"{late_plan.number},15.00,{days_ago(1)},B-5")
    result = bank_import.payments_import_csv(text=text, by=officer_user)
    errors = [str(e) for e in result.exceptions]
    assert any(e.startswith("line 3:") and "PLN-NOPE" in e for e in errors)
    assert any(e.startswith("line 4, amount:") for e in errors)
    assert any(e.startswith("line 5, date:") and "YYYY-MM-DD" in e for e in errors)
    assert any(e.startswith("line 2, reference:") and "line 6" in e for e in errors)
    assert any(e.startswith("line 6, reference:") and "line 2" in e for e in errors)
    assert [p.reference for p in Payment.objects.all()] == ["B-5"]
    with pytest.raises(bank_import.PaymentImportError) as error:
        bank_import.payments_import_csv(text="plan,amount\nx,1\n", by=officer_user)
    assert "missing column" in error.value.errors[0]


@pytest.mark.parametrize(("label", "text", "line"), [
    ("a header over csv's field limit", "x" * 200_000 + "\n", 1),
    ("a reference over csv's field limit", "plan_number,amount,date,reference\nP,1,2026-01-01,\"" + "y" * 200_000
     + "\"\n", 2),
])
def test_bank_import_refuses_a_cell_over_the_csv_field_limit_naming_the_line(officer_user, label, text, line):
    with pytest.raises(bank_import.PaymentImportError) as error:
        bank_import.payments_import_csv(text=text, by=officer_user)
    assert error.value.errors == [f"line {line}: a cell is longer than 131,072 characters; "
                                  "this is not a bank receipts CSV"], label
    assert not Payment.objects.exists()


def test_bank_import_command(tmp_path, late_plan, officer_user):
    path = tmp_path / "receipts.csv"
    path.write_text(_csv(f"{late_plan.number},20.00,{days_ago(2)},B-9"), encoding="utf-8")
    call_command("import_bank_payments", str(path), "--user", officer_user.email)
    assert Payment.objects.get().reference == "B-9"
    path.write_text(_csv(f"{late_plan.number},oops,{days_ago(2)},B-10"), encoding="utf-8")
    with pytest.raises(CommandError) as error:
        call_command("import_bank_payments", str(path), "--user", officer_user.email)
    assert error.value.returncode == 2 and Payment.objects.count() == 1


def test_a_customer_cannot_import(late_plan):
    with pytest.raises(DomainError):
        bank_import.payments_import_csv(text=_csv(f"{late_plan.number},1,{days_ago(1)},X"), by=late_plan.customer)


def test_collectors_take_payments_and_approvers_reverse_them(late_plan):
    collector = staff_make(Role.COLLECTOR)
    payment = _post(late_plan, "10.00", "k-1", collector)
    with pytest.raises(DomainError):
        requests.payment_reverse(payment=payment, by=collector, reason="no")
    requests.payment_reverse(payment=payment, by=staff_make(Role.APPROVER), reason="duplicate")
    assert Payment.objects.get().state == "reversed"
    assert days_ago(0) - timedelta(days=0) == days_ago(0)
