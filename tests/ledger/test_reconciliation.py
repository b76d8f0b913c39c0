"""The close of business reconciles the general ledger with the plans every day, to the cent: a break
stops the day, is recorded on its run, shown to managers, and nothing is adjusted."""

from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from collections_app.collections import cob
from collections_app.ledger.models import JournalEntry
from collections_app.ledger.posting import ReconciliationBreak
from collections_app.models import CobRun, Payment
from customers.roles import Role
from installments.models import Installment
from tests.collections_app.factories import books_follow, plan_by_hand, product_make
from tests.conftest import verify_two_factor

pytestmark = pytest.mark.django_db
D = Decimal
DAY = date(2025, 3, 10)


@pytest.fixture
def plan():
    product = product_make(late_fee_flat=D("0"), penalty_rate=D("0"))
    return plan_by_hand(product=product, disbursed=date(2025, 1, 1),
                        rows=[(date(2025, 2, 1), "500.00", "10.00"), (date(2025, 4, 1), "500.00", "10.00")])


def test_a_day_whose_books_agree_records_the_reconciliation(plan):
    (run,) = cob.run_cob(DAY)
    assert run.status == CobRun.Status.DONE and run.reconciliation["ok"] is True
    rows = {row["account"]: row for row in run.reconciliation["accounts"]}
    # 1,000.00 disbursed, nothing paid; #1's interest is due (10.00), #2's earned for 37 of 59 days:
    # 10.00 x 37 / 59 = 6.27 (half up).
    assert (rows["1101"]["ledger"], rows["1101"]["subledger"]) == ("1000.00", "1000.00")
    assert (rows["1102"]["ledger"], rows["1102"]["subledger"]) == ("16.27", "16.27")
    assert rows["1203"]["difference"] == "0.00"


def test_money_changed_without_the_books_stops_the_day_and_nothing_is_adjusted(plan, client, make_user):
    cob.run_cob(DAY)
    # A payment written straight into the tables, not through the payment service: the books never heard.
    Installment.objects.filter(plan=plan, number=1).update(principal_paid=D("500.00"), interest_paid=D("10.00"),
                                                           status="paid")
    entries = JournalEntry.objects.count()
    with pytest.raises(ReconciliationBreak) as stopped:
        cob.run_cob(date(2025, 3, 11))
    assert stopped.value.field == "reconciliation"
    run = CobRun.objects.get(business_date=date(2025, 3, 11))
    assert run.status == CobRun.Status.FAILED and "1101" in run.error
    report = run.reconciliation
    assert report["ok"] is False and report["plans"] == [plan.number]
    differences = {row["account"]: row["difference"] for row in report["accounts"] if row["difference"] != "0.00"}
    # The ledger still holds the 500.00 of principal and the 10.00 of interest the tables say were paid.
    assert differences == {"1101": "500.00", "1102": "10.00"}
    assert JournalEntry.objects.count() == entries  # the day rolled back: nothing posted, nothing adjusted

    manager = make_user(Role.MANAGER)
    client.force_login(manager)
    verify_two_factor(client, manager)
    page = client.get(reverse("dashboard:overview")).content.decode()
    assert "stopped: the books do not agree with the plans" in page and "1101" in page and plan.number in page

    # Once the money is posted (here by hand, into suspense for finance to clear), the day closes.
    books_follow(plan)
    (run,) = cob.run_cob(date(2025, 3, 11))
    assert run.status == CobRun.Status.DONE and run.reconciliation["ok"]
    page = client.get(reverse("dashboard:overview")).content.decode()
    assert "The books agreed with the plans at the close of business of 2025-03-11" in page


def test_a_clearing_account_that_does_not_match_the_payments_posted_stops_the_day(plan):
    Payment.objects.create(plan=plan, amount=D("50.00"), received_on=date(2025, 3, 1), channel="officer",
                           idempotency_key="raw", allocated_amount=D("0"), credited_amount=D("50.00"))
    with pytest.raises(ReconciliationBreak):
        cob.run_cob(DAY)
    report = CobRun.objects.get(business_date=DAY).reconciliation
    assert {r["account"]: r["difference"] for r in report["accounts"]}["1203"] == "-50.00"


def test_a_customer_payment_through_the_provider_posts_to_the_card_clearing_account(plan):
    from tests.collections_app.factories import pay_through_provider

    intent = pay_through_provider(plan, D("200.00"), "card-1")
    assert intent.payment is not None  # settled money only: the simulated provider authorised it
    entry = JournalEntry.objects.get(event_type="repayment", source_id=str(intent.payment.pk))
    lines = {line.account.code: (line.debit, line.credit) for line in entry.lines.select_related("account")}
    assert lines["1201"] == (D("200.00"), D("0.00"))  # the card provider's clearing account
    assert sum(credit for _debit, credit in lines.values()) == D("200.00")
    (run,) = cob.run_cob(DAY)
    assert run.reconciliation["ok"]
    clearing = next(r for r in run.reconciliation["accounts"] if r["account"] == "1201")
    assert (clearing["ledger"], clearing["subledger"]) == ("200.00", "200.00")
