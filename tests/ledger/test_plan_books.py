"""One plan through its life, with every journal line computed by hand.

The plan: 100,000.00 disbursed on 2025-01-01 in two installments, #1 due 2025-02-01 (500.00 principal
+ 10.00 interest) and #2 due 2025-03-01 (99,500.00 principal, no interest). The product charges a flat
late fee of 20.00 (no penalty interest, no grace days); the legal cap (24 % a year on the arrears)
allows it on the first day late (99,500 x 24 % / 365 = 65.42 >= 20).

1. Disbursement, 2025-01-01: loans receivable 100,000.00 against cash at bank.
2. Close of business 2025-01-16: interest of #1 earned for 15 of its 31 days,
   10.00 x 15 / 31 = 4.8387 -> 4.84 (half up).
3. Payment of 510.00 on 2025-01-20 (cash taken by staff): 500.00 principal and 10.00 interest of #1;
   4.84 of the interest was accrued (receivable), the other 5.16 is earned when paid.
4. Month-end 2025-01-31: the plan is normal (1.5 %): allowance 1.5 % x 99,500.00 = 1,492.50.
   (2025-02-28: nothing changes, nothing is posted.)
5. Close of business 2025-03-02: #2 is one day late: the late fee 20.00 is charged.
6. 2025-03-03: the late fee is waived (penalty income goes back).
7. Payment of 10,000.00 on 2025-03-05: principal of #2.
8. Write-off on 2025-03-06 of the 89,500.00 still owed: first against the 1,492.50 allowance held,
   the rest, 88,007.50, is write-off expense.
9. Recovery: 300.00 paid on 2025-03-10 on the written-off plan is recovery income.
"""

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum

from collections_app.collections import cases, cob, delinquency
from collections_app.ledger import posting
from collections_app.ledger.models import JournalEntry, JournalLine
from collections_app.models import Payment, ServicingPolicy, ServicingRequest
from collections_app.servicing import activation, payments, policy, quotes, requests
from customers.roles import Role
from tests.collections_app.factories import customer_make, plan_by_hand, product_make, staff_make

pytestmark = pytest.mark.django_db
D = Decimal
K = ServicingRequest.Kind


@pytest.fixture
def clock(monkeypatch):
    """The business date, set by the test (every servicing module reads it through its own import)."""
    today = {"day": date(2025, 1, 1)}
    for module in (policy, activation, delinquency, payments, quotes, requests, cases):
        monkeypatch.setattr(module, "business_date", lambda: today["day"])
    return today


def _lines(entry: JournalEntry) -> list[tuple[str, str, str, bool]]:
    """(account code, debit, credit, names the plan) of an entry, in a stable order."""
    return sorted((line.account.code, f"{line.debit:.2f}", f"{line.credit:.2f}", line.plan_id is not None)
                  for line in entry.lines.select_related("account"))


def _pay(plan, amount: str, on: date, officer, key: str) -> Payment:
    return payments.payment_record(plan=plan, amount=D(amount), received_on=on, channel=Payment.Channel.OFFICER,
                                   idempotency_key=key, by=officer, reference=key)


def _ask(plan, kind: str, by, approver) -> ServicingRequest:
    request = requests.request_create(plan=plan, kind=kind, by=by, reason="hand-computed example")
    if request.status == ServicingRequest.Status.PENDING:
        requests.request_decide(request=request, by=approver, approve=True, note="checked")
        request.refresh_from_db()
    assert request.status == ServicingRequest.Status.APPLIED
    return request


def test_one_plan_through_its_life_with_every_journal_line(clock):
    product = product_make(late_fee_flat=D("20"), penalty_rate=D("0"), max_apr=D("24"))
    ServicingPolicy.objects.update_or_create(product=product, defaults={"late_fee_grace_days": 0})
    officer, collector = staff_make(Role.LOAN_OFFICER), staff_make(Role.COLLECTOR)
    manager = staff_make(Role.MANAGER)
    plan = plan_by_hand(customer=customer_make(), product=product, disbursed=date(2025, 1, 1),
                        rows=[(date(2025, 2, 1), "500.00", "10.00"), (date(2025, 3, 1), "99500.00", "0")])

    clock["day"] = date(2025, 1, 16)
    cob.run_cob(date(2025, 1, 16))
    clock["day"] = date(2025, 1, 20)
    first = _pay(plan, "510.00", date(2025, 1, 20), officer, "pay-1")
    clock["day"] = date(2025, 3, 2)
    cob.run_cob(date(2025, 3, 2))
    clock["day"] = date(2025, 3, 3)
    waiver = _ask(plan, K.CHARGE_WAIVER, collector, manager)
    clock["day"] = date(2025, 3, 5)
    second = _pay(plan, "10000.00", date(2025, 3, 5), officer, "pay-2")
    clock["day"] = date(2025, 3, 6)
    plan.refresh_from_db()
    write_off = _ask(plan, K.WRITE_OFF, collector, manager)
    clock["day"] = date(2025, 3, 10)
    plan.refresh_from_db()
    recovery = _pay(plan, "300.00", date(2025, 3, 10), officer, "pay-3")

    entries = list(JournalEntry.objects.filter(lines__plan=plan).distinct().order_by("value_date", "pk"))
    entries += list(JournalEntry.objects.filter(event_type__in=["interest_accrual", "late_charge_accrual",
                                                                "provision"]).exclude(pk__in=[e.pk for e in entries]))
    entries.sort(key=lambda e: (e.value_date, e.pk))
    got = [(e.event_type, e.value_date, _lines(e)) for e in entries]
    assert got == [
        ("disbursement", date(2025, 1, 1), [("1001", "0.00", "100000.00", True),
                                            ("1101", "100000.00", "0.00", True)]),
        ("interest_accrual", date(2025, 1, 16), [("1102", "4.84", "0.00", True), ("4101", "0.00", "4.84", False)]),
        ("repayment", date(2025, 1, 20), [("1101", "0.00", "500.00", True), ("1102", "0.00", "4.84", True),
                                          ("1203", "510.00", "0.00", True), ("4101", "0.00", "5.16", True)]),
        ("provision", date(2025, 1, 31), [("1401", "0.00", "1492.50", True), ("5101", "1492.50", "0.00", False)]),
        ("late_charge_accrual", date(2025, 3, 2), [("1104", "20.00", "0.00", True),
                                                   ("4103", "0.00", "20.00", False)]),
        ("waiver", date(2025, 3, 3), [("1104", "0.00", "20.00", True), ("4103", "20.00", "0.00", True)]),
        ("repayment", date(2025, 3, 5), [("1101", "0.00", "10000.00", True), ("1203", "10000.00", "0.00", True)]),
        ("write_off", date(2025, 3, 6), [("1101", "0.00", "89500.00", True), ("1401", "1492.50", "0.00", True),
                                         ("5102", "88007.50", "0.00", True)]),
        ("recovery", date(2025, 3, 10), [("1203", "300.00", "0.00", True), ("4104", "0.00", "300.00", True)]),
    ]
    # Each entry names what caused it.
    by_event = {e.event_type: e for e in entries}
    assert (by_event["waiver"].source_type, by_event["waiver"].source_id) == (
        "collections_app.servicingrequest", str(waiver.pk))
    assert by_event["write_off"].source_id == str(write_off.pk) and by_event["write_off"].actor == manager
    assert [e.source_id for e in entries if e.event_type in ("repayment", "recovery")] == [
        str(first.pk), str(second.pk), str(recovery.pk)]

    # The books balance and agree with the plan, account by account.
    totals = JournalLine.objects.aggregate(d=Sum("debit"), c=Sum("credit"))
    assert D(totals["d"]).quantize(D("0.01")) == D(totals["c"]).quantize(D("0.01")) == D("201847.34")
    report = posting.reconcile(date(2025, 3, 2), cob._Dialect(connection.vendor), cob.T)
    assert report["ok"], report
    balances = {row["account"]: row["ledger"] for row in report["accounts"]}
    assert balances["1101"] == "0.00" and balances["1203"] == "10810.00"


def test_a_payment_refused_by_a_missing_account_stores_nothing(clock):
    """A product mapping that names an inactive account: the payment is refused, nothing is posted."""
    from collections_app.ledger.models import AccountMapping, AccountRole, LedgerAccount
    from config.errors import DomainError

    product = product_make()
    officer = staff_make(Role.LOAN_OFFICER)
    plan = plan_by_hand(product=product, disbursed=date(2025, 1, 1), rows=[(date(2025, 2, 1), "500.00", "10.00")])
    dormant = LedgerAccount.objects.create(code="4199", name="Old interest income", kind="income", is_active=False)
    AccountMapping.objects.create(product=product, role=AccountRole.INTEREST_INCOME, account=dormant)
    before = (JournalLine.objects.count(), Payment.objects.count())
    clock["day"] = date(2025, 1, 20)
    with pytest.raises(DomainError) as refused:
        _pay(plan, "510.00", date(2025, 1, 20), officer, "pay-x")
    assert refused.value.field == "account" and "4199" in refused.value.message
    assert (JournalLine.objects.count(), Payment.objects.count()) == before
