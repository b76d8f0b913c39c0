"""Hardship measures and customer requests: four eyes above the threshold, each measure's effect,
every schedule change kept as a version."""

from datetime import timedelta
from decimal import Decimal

import pytest

from collections_app.collections import cob
from collections_app.models import CollectionCase, InstallmentCharge, Payment, ServicingRequest
from collections_app.servicing import payments, quotes, requests
from collections_app.servicing.engine import version_schedule
from config.errors import DomainError
from customers.roles import Role
from installments.models import Application, Installment, Plan
from tests.collections_app.factories import days_ago, pay_through_provider, plan_active, plan_by_hand, staff_make

pytestmark = pytest.mark.django_db
D = Decimal
K = ServicingRequest.Kind


def live(plan):
    return list(plan.installments.exclude(status="superseded").order_by("due_date", "number"))


def test_a_measure_within_the_threshold_applies_at_once(collector_user):
    plan = plan_by_hand(disbursed=days_ago(60), rows=[(days_ago(10), "300.00", "10.00"),
                                                      (days_ago(-20), "300.00", "8.00")], state="overdue")
    request = requests.request_create(plan=plan, kind=K.EXTENSION, by=collector_user, reason="salary late",
                                      params={"days": 14})
    assert request.status == "applied" and not request.needs_approval and request.decided_by == collector_user
    plan.refresh_from_db()
    assert plan.current_version == 2 and plan.state == Plan.State.RESTRUCTURED and plan.days_past_due == 0
    rows = live(plan)
    assert rows[0].due_date == days_ago(-14) and rows[0].amount_due == D("310.00") and rows[0].status == "pending"
    assert rows[1].due_date == days_ago(-20)
    assert plan.schedule_versions.get(version=1).installments.filter(status="superseded").count() == 2


def test_above_the_threshold_a_second_person_must_confirm(overdue_plan, collector_user, approver_user):
    request = requests.request_create(plan=overdue_plan, kind=K.REINSTALLMENT, by=collector_user,
                                      reason="lost job, new job from next month", params={"months": 12})
    assert request.status == "pending" and request.needs_approval
    with pytest.raises(DomainError) as error:
        requests.request_decide(request=request, by=collector_user, approve=True)
    assert error.value.code == "four_eyes"
    with pytest.raises(DomainError) as error:
        requests.request_decide(request=request, by=staff_make(Role.COLLECTOR), approve=True)
    assert error.value.code == "forbidden"
    requests.request_decide(request=request, by=approver_user, approve=True, note="ok")
    request.refresh_from_db()
    assert request.status == "applied" and request.decided_by == approver_user


def test_an_approver_cannot_confirm_their_own_request(overdue_plan, approver_user):
    request = requests.request_create(plan=overdue_plan, kind=K.WRITE_OFF, by=approver_user, reason="deceased")
    with pytest.raises(DomainError) as error:
        requests.request_decide(request=request, by=approver_user, approve=True)
    assert error.value.code == "four_eyes"
    overdue_plan.refresh_from_db()
    assert overdue_plan.state == Plan.State.OVERDUE


def test_reinstallment_reamortises_balance_and_arrears_and_keeps_the_old_version(overdue_plan, collector_user,
                                                                                 approver_user, officer_user):
    rows = live(overdue_plan)
    payments.payment_record(plan=overdue_plan, amount=D("400.00"), idempotency_key="part", by=officer_user,
                            channel=Payment.Channel.OFFICER)  # a partial payment on the oldest arrears
    rows = live(overdue_plan)
    due = [r for r in rows if r.due_date <= days_ago(0)]
    arrears = sum(r.principal_due - r.principal_paid + r.interest_due - r.interest_paid + r.fee_due - r.fee_paid
                  for r in due)
    balance = sum(r.principal_due for r in rows if r.due_date > days_ago(0))
    request = requests.request_create(plan=overdue_plan, kind=K.REINSTALLMENT, by=collector_user,
                                      reason="illness", params={"months": 18})
    requests.request_decide(request=request, by=approver_user, approve=True)
    overdue_plan.refresh_from_db()
    new = live(overdue_plan)
    new_rows = [r for r in new if r.version.version == 2]
    remaining = sum(1 for r in rows if r.due_date > days_ago(0))  # the arrears go over the remaining term + 18
    assert len(new_rows) == remaining + 18 and overdue_plan.current_version == 2
    assert sum(r.principal_due for r in new_rows) == arrears + balance
    assert overdue_plan.state == Plan.State.RESTRUCTURED and overdue_plan.days_past_due == 0
    assert all(r.due_date > days_ago(0) for r in new_rows)
    old = overdue_plan.schedule_versions.get(version=1)
    assert old.installments.filter(status="superseded").count() == 12 - sum(1 for r in new if r.version.version == 1)
    assert old.installments.filter(principal_paid__gt=0).exists()  # still readable with what was paid
    assert version_schedule(overdue_plan.schedule_versions.get(version=2)).terms.term == remaining + 18
    before = max(r.amount_due for r in rows if r.due_date > days_ago(0))
    assert max(r.amount_due for r in new_rows) < before  # the customer in hardship pays less, not more
    assert request.__class__.objects.get(pk=request.pk).schedule_version.version == 2


def test_interest_freeze_stops_late_charges(overdue_plan, collector_user, approver_user):
    before = {c.pk: c.penalty_interest for c in InstallmentCharge.objects.filter(plan=overdue_plan)}
    request = requests.request_create(plan=overdue_plan, kind=K.INTEREST_FREEZE, by=collector_user, reason="ill",
                                      params={"starts_on": days_ago(0).isoformat(),
                                              "ends_on": days_ago(-30).isoformat()})
    if request.status == "pending":
        requests.request_decide(request=request, by=approver_user, approve=True)
    cob.run_cob(days_ago(0))
    after = {c.pk: c.penalty_interest for c in InstallmentCharge.objects.filter(plan=overdue_plan)}
    assert after == before


def test_settlement_with_discount_then_payment_closes_the_plan(overdue_plan, collector_user, approver_user,
                                                                officer_user):
    quote = quotes.plan_payoff_quote(plan=overdue_plan, on_date=days_ago(-5))
    request = requests.request_create(plan=overdue_plan, kind=K.SETTLEMENT, by=collector_user, reason="lump sum",
                                      params={"on_date": days_ago(-5).isoformat(), "discount": "500"})
    assert request.status == "pending"  # settlement is always four-eyes
    requests.request_decide(request=request, by=approver_user, approve=True)
    rows = live(overdue_plan)
    assert len(rows) == sum(1 for r in rows if r.status == "paid") + 1
    settle = rows[-1]
    assert settle.due_date == days_ago(-5)
    assert settle.amount_due == quote.total + quote.credit - D("500")
    payments.payment_record(plan=overdue_plan, amount=settle.amount_outstanding, idempotency_key="settle",
                            by=officer_user, channel=Payment.Channel.OFFICER)
    overdue_plan.refresh_from_db()
    assert overdue_plan.state == Plan.State.PAID_OFF
    assert overdue_plan.application.state == Application.State.CLOSED


def test_legal_escalation_and_write_off(overdue_plan, collector_user, approver_user):
    cob.run_cob(days_ago(0))
    case = CollectionCase.objects.get(plan=overdue_plan, status="open")
    legal = requests.request_create(plan=overdue_plan, kind=K.LEGAL, by=collector_user, reason="no contact",
                                    params={"legal_reference": "(2026)京0101民初123号"})
    requests.request_decide(request=legal, by=approver_user, approve=True)
    overdue_plan.refresh_from_db()
    case.refresh_from_db()
    assert overdue_plan.state == Plan.State.IN_LEGAL and case.legal_reference.startswith("(2026)")
    write_off = requests.request_create(plan=overdue_plan, kind=K.WRITE_OFF, by=collector_user, reason="court: none")
    requests.request_decide(request=write_off, by=approver_user, approve=True)
    overdue_plan.refresh_from_db()
    case.refresh_from_db()
    assert overdue_plan.state == Plan.State.WRITTEN_OFF and overdue_plan.closed_at
    assert case.status == "closed" and case.close_reason == "written_off"
    assert overdue_plan.application.state == Application.State.CLOSED


def test_customer_asks_for_a_payment_holiday_an_officer_confirms(officer_user):
    plan = plan_active(disbursed=days_ago(5), amount="6000", term=6)
    before = live(plan)
    with pytest.raises(DomainError) as error:
        requests.request_create(plan=plan, kind=K.EXTENSION, by=plan.customer, reason="please", params={"days": 9})
    assert error.value.code == "forbidden"
    request = requests.request_create(plan=plan, kind=K.PAYMENT_HOLIDAY, by=plan.customer, reason="new baby",
                                      params={"periods": 2, "interest": "capitalise"})
    assert request.status == "pending" and request.origin == "customer"
    with pytest.raises(DomainError):
        requests.request_create(plan=plan, kind=K.PAYMENT_HOLIDAY, by=plan.customer, reason="again",
                                params={"periods": 1})
    requests.request_decide(request=request, by=officer_user, approve=True)
    plan.refresh_from_db()
    rows = live(plan)
    assert plan.current_version == 2 and len(rows) == len(before) + 2
    assert rows[0].amount_due == 0 or rows[0].status == "paid"  # the paused installments owe nothing
    assert plan.state == Plan.State.ACTIVE


def test_a_counter_offer_applies_what_the_approver_decided(overdue_plan, collector_user, approver_user):
    request = requests.request_create(plan=overdue_plan, kind=K.REINSTALLMENT, by=collector_user, reason="x",
                                      params={"months": 36})
    requests.request_decide(request=request, by=approver_user, approve=True, params={"months": 24})
    request.refresh_from_db()
    assert request.params["months"] == 24 and request.params["counter_offer"] is True
    version = overdue_plan.schedule_versions.get(version=request.schedule_version.version)
    assert "counter-offer" in version.reason and version.installments.count() == 24 + int(
        version.reason.split(" over ")[1].split(" + ")[0])


def test_early_payoff_request_then_payment_closes_the_plan(officer_user):
    plan = plan_active(disbursed=days_ago(40), amount="6000", term=6)
    first = live(plan)[0]
    payments.payment_record(plan=plan, amount=first.amount_due, idempotency_key="1", by=officer_user,
                            channel=Payment.Channel.OFFICER)
    on = days_ago(-3)
    quote = quotes.plan_payoff_quote(plan=plan, on_date=on)
    request = requests.request_create(plan=plan, kind=K.EARLY_PAYOFF, by=plan.customer, reason="bonus",
                                      params={"on_date": on.isoformat()})
    requests.request_decide(request=request, by=officer_user, approve=True)
    rows = [r for r in live(plan) if r.status != "paid"]
    assert len(rows) == 1 and rows[0].due_date == on and rows[0].amount_due == quote.total
    assert pay_through_provider(plan, quote.total, "2").payment.channel == Payment.Channel.SELF_SERVICE
    plan.refresh_from_db()
    assert plan.state == Plan.State.PAID_OFF
    assert quote.total < sum(r.amount_due for r in plan.schedule_versions.get(version=1).installments.all()
                             if r.status == "superseded")


def test_rejection_needs_a_note_and_changes_nothing(officer_user):
    plan = plan_active(disbursed=days_ago(5), amount="6000", term=6)
    request = requests.request_create(plan=plan, kind=K.PAYMENT_HOLIDAY, by=plan.customer, reason="x",
                                      params={"periods": 1})
    with pytest.raises(DomainError):
        requests.request_decide(request=request, by=officer_user, approve=False)
    requests.request_decide(request=request, by=officer_user, approve=False, note="plan too new")
    request.refresh_from_db()
    plan.refresh_from_db()
    assert request.status == "rejected" and plan.current_version == 1


def test_a_holiday_is_refused_while_in_arrears(overdue_plan):
    with pytest.raises(DomainError) as error:
        requests.request_create(plan=overdue_plan, kind=K.PAYMENT_HOLIDAY, by=overdue_plan.customer, reason="x",
                                params={"periods": 1})
    assert error.value.code == "arrears"
    assert Installment.objects.filter(plan=overdue_plan).count() == 12
    assert days_ago(0) - timedelta(days=1) == days_ago(1)
