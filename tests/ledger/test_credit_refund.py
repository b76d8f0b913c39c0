"""Refund of a credit balance: asked on the staff plan page, confirmed by a second person, posted to
the books (customer credit against cash at bank); bad input changes nothing."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.urls import reverse

from collections_app.collections import cob
from collections_app.ledger import posting
from collections_app.ledger.models import JournalEntry
from collections_app.models import Payment, ServicingRequest
from collections_app.servicing import payments, requests
from config.errors import DomainError
from customers.roles import Role
from tests.collections_app.factories import plan_by_hand, product_make, staff_make
from tests.conftest import verify_two_factor

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def plan_with_credit():
    """A plan paid in full with 120.00 too much, kept as credit: the plan is paid off."""
    plan = plan_by_hand(product=product_make(), disbursed=date(2025, 1, 1),
                        rows=[(date(2025, 2, 1), "500.00", "10.00")])
    officer = staff_make(Role.LOAN_OFFICER)
    payments.payment_record(plan=plan, amount=D("630.00"), received_on=date(2025, 1, 25), channel="bank_import",
                            idempotency_key="over", by=officer, overpayment=Payment.Overpayment.CREDIT)
    plan.refresh_from_db()
    assert plan.credit_balance == D("120.00")
    return plan


def _staff_client(client, role):
    user = staff_make(role)
    client.force_login(user)
    verify_two_factor(client, user)
    return user


def test_a_refund_is_asked_confirmed_and_posted(plan_with_credit, client):
    plan = plan_with_credit
    officer = _staff_client(client, Role.LOAN_OFFICER)
    page = client.get(reverse("collections:staff_plan", args=[plan.pk])).content.decode()
    assert 'id="credit-refund"' in page
    response = client.post(reverse("collections:staff_credit_refund", args=[plan.pk]),
                           {"amount": "100.00", "reference": "BOC-REF-7781", "reason": "customer asked"})
    assert response.status_code == 302
    refund = ServicingRequest.objects.get(plan=plan, kind=ServicingRequest.Kind.CREDIT_REFUND)
    assert refund.status == ServicingRequest.Status.PENDING and refund.requested_by == officer
    plan.refresh_from_db()
    assert plan.credit_balance == D("120.00")  # nothing moves before the second person
    with pytest.raises(DomainError, match="second person"):
        requests.request_decide(request=refund, by=officer, approve=True)  # never the requester

    manager = staff_make(Role.MANAGER)
    requests.request_decide(request=refund, by=manager, approve=True, note="bank details checked")
    plan.refresh_from_db()
    assert plan.credit_balance == D("20.00")
    entry = JournalEntry.objects.get(event_type="credit_refund")
    assert sorted((line.account.code, line.debit, line.credit) for line in entry.lines.all()) == [
        ("1001", D("0.00"), D("100.00")), ("2101", D("100.00"), D("0.00"))]
    assert entry.actor == manager and entry.source_id == str(refund.pk) and "BOC-REF-7781" in entry.memo
    report = posting.reconcile(date(2025, 3, 1), cob._Dialect(connection.vendor), cob.T)
    assert report["ok"], report
    credit = next(row for row in report["accounts"] if row["account"] == "2101")
    assert credit["ledger"] == "-20.00"  # a liability: 20.00 still owed to the customer


@pytest.mark.parametrize("data, field, message", [
    ({"amount": "120.01", "reference": "R1", "reason": "asked"}, "amount", "At most 120.00"),
    ({"amount": "10.00", "reference": "", "reason": "asked"}, "reference", "required"),
    ({"amount": "-5", "reference": "R1", "reason": "asked"}, "amount", "greater than or equal to 0.01"),
])
def test_bad_refunds_are_refused_naming_the_field_and_change_nothing(plan_with_credit, client, data, field,
                                                                    message):
    _staff_client(client, Role.LOAN_OFFICER)
    response = client.post(reverse("collections:staff_credit_refund", args=[plan_with_credit.pk]), data)
    assert response.status_code == 400
    errors = response.context["refund_form"].errors
    assert field in errors and message in " ".join(errors[field])
    assert not ServicingRequest.objects.filter(kind=ServicingRequest.Kind.CREDIT_REFUND).exists()


def test_no_credit_no_refund(client):
    plan = plan_by_hand(product=product_make(), disbursed=date(2025, 1, 1),
                        rows=[(date(2025, 2, 1), "500.00", "10.00")])
    officer = staff_make(Role.LOAN_OFFICER)
    with pytest.raises(DomainError) as refused:
        requests.request_create(plan=plan, kind=ServicingRequest.Kind.CREDIT_REFUND, by=officer, reason="asked",
                                params={"reference": "R1"})
    assert refused.value.field == "amount"
    _staff_client(client, Role.LOAN_OFFICER)
    assert 'id="credit-refund"' not in client.get(reverse("collections:staff_plan", args=[plan.pk])).content.decode()


def test_a_customer_cannot_ask_for_a_refund_through_the_staff_page(plan_with_credit, client):
    client.force_login(plan_with_credit.customer)
    response = client.post(reverse("collections:staff_credit_refund", args=[plan_with_credit.pk]),
                           {"amount": "10.00", "reference": "R1", "reason": "asked"})
    assert response.status_code in (302, 403)
    assert not ServicingRequest.objects.filter(kind=ServicingRequest.Kind.CREDIT_REFUND).exists()
