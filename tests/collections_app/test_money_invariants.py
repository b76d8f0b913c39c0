"""Servicing never loses or invents a cent: a hypothesis state machine drives random plans of every
plan type through random sequences of servicing events and closes of business, and checks the
plan's money after every step.

Events: payments (on time, partial, large; kept as credit or prepaid to shorten the term or lower
the installment; back-dated, with a second person above the money threshold), reversals, payment
holidays, due-date extensions, re-installments, interest freezes, waivers of charges, early
payoffs, settlements, write-offs and recoveries, and days passing with the close of business.

Invariants (after every step):
1. Money: money received = paid on live installments + netted from replaced rows + prepaid
   + credit balance. (Nothing paid is lost, nothing is invented.)
2. Every cent paid on a superseded installment is accounted for on the version that replaced it,
   as credited or netted; no installment paid in full is ever superseded.
3. Principal: what the live installments owe + principal netted, prepaid or discounted equals the
   amount financed + interest capitalised (holidays, re-installments).
4. The payoff quote's principal equals the principal the installments still owe, net of what was
   paid ahead.
5. Installments stay in due-date order; the plan's days past due and bucket, and its open
   collection case, match the unpaid installments.
6. The books: every journal entry balances, the general ledger per plan and account
   (`PlanAccountBalance`) is the sum of its journal lines, and it equals the sub-ledger: loans
   receivable = principal outstanding, interest / fee / late-charge receivable = earned and unpaid,
   customer credit = the credit balance; the clearing account holds exactly the payments posted
   through it; the close of business's own reconciliation agrees (and each close of business in
   `days_pass` stops on a break, which fails the step).

The business date is the machine's clock (`business_date` patched in every servicing module); each example runs in
a savepoint that is rolled back, so examples do not see each other's plans or closed days. CI runs
it on PostgreSQL (DATABASE_URL) with MONEY_EXAMPLES examples (default 30).
"""

from __future__ import annotations

import os
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.models import F, Sum
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from collections_app.collections import cases, cob, delinquency
from collections_app.collections.buckets import bucket_for
from collections_app.ledger import accounts as ledger_accounts
from collections_app.ledger import posting
from collections_app.ledger.models import JournalLine
from collections_app.models import CollectionCase, Payment, ServicingRequest
from collections_app.servicing import activation, payments, policy, quotes, requests
from collections_app.servicing.position import plan_position
from config.errors import DomainError
from customers.roles import Role
from installments.models import Installment, Plan
from tests.collections_app.factories import plan_active, product_make, staff_make

K = ServicingRequest.Kind
ZERO = Decimal("0")
CENT = Decimal("0.01")
OPEN = (Installment.Status.PENDING, Installment.Status.DUE, Installment.Status.OVERDUE)
EXAMPLES = int(os.environ.get("MONEY_EXAMPLES", "30"))

PLAN_TYPES = {
    "annuity": {},
    "equal_principal": {},
    "flat": {"rate": "6"},
    "interest_only": {},
    "balloon": {"balloon_amount": Decimal("3000")},
    "step_up": {"step_count": 2, "step_ratio": Decimal("1.2")},
    "seasonal": {"seasonal_months": frozenset({2}), "seasonal_factor": Decimal("2")},
    "combination": {"lump_sum_share": Decimal("0.3")},
    "zero_interest": {"rate": "0"},
}


def _sum(queryset, field: str) -> Decimal:
    return queryset.aggregate(s=Sum(field))["s"] or ZERO


class ServicingMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.today = timezone.localdate() - timedelta(days=420)
        self.officer = staff_make(Role.LOAN_OFFICER)
        self.collector = staff_make(Role.COLLECTOR)
        self.approver = staff_make(Role.APPROVER)
        self.manager = staff_make(Role.MANAGER)
        self.plan: Plan | None = None
        self.keys = 0

    def teardown(self):
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # --- helpers -----------------------------------------------------------------------------

    def _key(self) -> str:
        self.keys += 1
        return f"k{self.keys}"

    def _reload(self) -> Plan:
        self.plan = Plan.objects.select_related("product", "application").get(pk=self.plan.pk)
        return self.plan

    def _live(self):
        return Installment.objects.filter(plan=self.plan).exclude(status=Installment.Status.SUPERSEDED)

    def _open(self):
        return self._live().filter(status__in=OPEN).order_by("due_date", "number")

    def _decide(self, request: ServicingRequest) -> None:
        """A second person confirms; a request the service then refuses is rejected (nothing changes)."""
        if request.status != ServicingRequest.Status.PENDING:
            return
        decider = self.manager if request.requested_by_id != self.manager.pk else self.approver
        try:
            requests.request_decide(request=request, by=decider, approve=True, note="checked")
        except DomainError:
            requests.request_decide(request=request, by=decider, approve=False, note="refused by the service")
            raise

    def _ask(self, kind: str, by, params: dict | None = None) -> None:
        try:
            request = requests.request_create(plan=self.plan, kind=kind, by=by, reason="hardship", params=params)
            self._decide(request)
        except DomainError:
            pass  # a refusal changes nothing; the invariants say so
        self._reload()

    def _pay(self, amount: Decimal, overpayment: str, received_on: date) -> None:
        try:
            payments.payment_record(plan=self.plan, amount=amount, received_on=received_on,
                                    channel=Payment.Channel.OFFICER, idempotency_key=self._key(), by=self.officer,
                                    reference=f"REF-{self.keys}", overpayment=overpayment)
        except DomainError as error:
            if error.code != "needs_approval":
                self._reload()
                return
            try:
                request = requests.backdated_post_request(plan=self.plan, amount=amount, received_on=received_on,
                                                          by=self.officer, reason="bank statement", reference="STMT",
                                                          overpayment=overpayment)
                self._decide(request)
            except DomainError:
                pass
        self._reload()

    # --- rules ---------------------------------------------------------------------------------

    @precondition(lambda self: self.plan is None)
    @rule(method=st.sampled_from(sorted(PLAN_TYPES)), amount=st.sampled_from(["6000", "12000", "20000"]),
          term=st.integers(3, 12), late_fee=st.sampled_from(["0", "30"]))
    def open_plan(self, method, amount, term, late_fee):
        extra = dict(PLAN_TYPES[method])
        rate = extra.pop("rate", "12")
        product = product_make(late_fee_flat=Decimal(late_fee), penalty_rate=Decimal("18"),
                               early_payoff_discount_rate=Decimal("10"))
        self.plan = plan_active(disbursed=self.today, by=self.officer, amount=amount, term=term, rate=rate,
                                method=method, product=product, **extra)
        first = self.plan.installments.aggregate(s=Sum("principal_due"))["s"]
        self.capitalised_at_start = first - self.plan.principal  # a plan type that capitalises by design
        self._reload()

    @precondition(lambda self: self.plan is not None)
    @rule(days=st.integers(1, 45))
    def days_pass(self, days):
        last = timezone.localdate() - timedelta(days=1)
        target = min(self.today + timedelta(days=days), last)
        if target <= self.today:
            return
        runs = cob.run_cob(target, start=self.today + timedelta(days=1))
        assert all(run.status == "done" for run in runs), [run.error for run in runs]
        self.today = target
        self._reload()

    @precondition(lambda self: self.plan is not None and self.plan.state in policy.PAYABLE_STATES)
    @rule(kind=st.sampled_from(["next", "part", "large", "arrears"]),
          overpayment=st.sampled_from(list(Payment.Overpayment.values)), back=st.integers(0, 6))
    def pay(self, kind, overpayment, back):
        rows = list(self._open())
        if not rows:
            return
        if kind == "next":
            amount = rows[0].amount_outstanding
        elif kind == "part":
            amount = (rows[0].amount_outstanding / 3).quantize(CENT)
        elif kind == "arrears":
            amount = sum((r.amount_outstanding for r in rows if r.due_date <= self.today), ZERO)
        else:
            amount = sum((r.amount_outstanding for r in rows[:3]), ZERO) + Decimal("123.45")
        received_on = max(self.today - timedelta(days=back), self.plan.disbursement_date)
        if amount > 0:
            self._pay(amount, overpayment, received_on)

    @precondition(lambda self: self.plan is not None and self.plan.state == Plan.State.WRITTEN_OFF)
    @rule(amount=st.sampled_from(["100", "999.99"]))
    def recover(self, amount):
        self._pay(Decimal(amount), Payment.Overpayment.CREDIT, self.today)

    @precondition(lambda self: self.plan is not None)
    @rule(pick=st.integers(0, 20))
    def reverse(self, pick):
        posted = list(self.plan.payments.filter(state=Payment.State.POSTED).exclude(
            channel=Payment.Channel.CREDIT).order_by("pk"))
        if not posted:
            return
        try:
            asked = requests.payment_reverse(payment=posted[pick % len(posted)], by=self.officer, reason="bounced")
            self._decide(asked.reversal_request)
        except DomainError:
            pass
        self._reload()

    @precondition(lambda self: self.plan is not None and self.plan.state in policy.PAYABLE_STATES)
    @rule(periods=st.integers(1, 3), interest=st.sampled_from(["capitalise", "waive"]))
    def holiday(self, periods, interest):
        self._ask(K.PAYMENT_HOLIDAY, self.plan.customer, {"periods": periods, "interest": interest})

    @precondition(lambda self: self.plan is not None and self.plan.state in policy.PAYABLE_STATES)
    @rule(days=st.integers(1, 30))
    def extension(self, days):
        self._ask(K.EXTENSION, self.collector, {"days": days})

    @precondition(lambda self: self.plan is not None and self.plan.state in policy.PAYABLE_STATES)
    @rule(months=st.integers(1, 12))
    def reinstallment(self, months):
        self._ask(K.REINSTALLMENT, self.collector, {"months": months})

    @precondition(lambda self: self.plan is not None and self.plan.state in policy.PAYABLE_STATES)
    @rule(days=st.integers(5, 60))
    def interest_freeze(self, days):
        self._ask(K.INTEREST_FREEZE, self.collector, {"starts_on": self.today.isoformat(),
                                                      "ends_on": (self.today + timedelta(days=days)).isoformat()})

    @precondition(lambda self: self.plan is not None and self.plan.state in policy.PAYABLE_STATES)
    @rule(share=st.sampled_from([None, "0.5"]))
    def waive_charges(self, share):
        unpaid = sum((r.penalty_due - r.penalty_paid for r in self._open()), ZERO)
        if unpaid <= 0:
            return
        amount = "" if share is None else str(max((unpaid * Decimal(share)).quantize(CENT), CENT))
        self._ask(K.CHARGE_WAIVER, self.collector, {"amount": amount})

    @precondition(lambda self: self.plan is not None and self.plan.state in policy.PAYABLE_STATES)
    @rule(ahead=st.integers(0, 20), pay=st.booleans())
    def early_payoff(self, ahead, pay):
        on_date = min(self.today + timedelta(days=ahead), timezone.localdate() - timedelta(days=1))
        on_date = max(on_date, self.today)
        self._ask(K.EARLY_PAYOFF, self.plan.customer, {"on_date": on_date.isoformat()})
        if pay and self.plan.state in policy.PAYABLE_STATES:
            owed = sum((r.amount_outstanding for r in self._open()), ZERO) - self.plan.credit_balance
            if owed > 0:
                self._pay(owed, Payment.Overpayment.CREDIT, self.today)

    @precondition(lambda self: self.plan is not None and self.plan.state in policy.PAYABLE_STATES)
    @rule(share=st.sampled_from(["0.05", "0.3"]))
    def settlement(self, share):
        try:
            quote = quotes.plan_payoff_quote(plan=self.plan, on_date=self.today)
        except DomainError:
            return
        discount = (quote.total * Decimal(share)).quantize(CENT)
        if discount > 0:
            self._ask(K.SETTLEMENT, self.collector, {"on_date": self.today.isoformat(), "discount": str(discount)})

    @precondition(lambda self: self.plan is not None and self.plan.state in (Plan.State.OVERDUE,
                                                                             Plan.State.RESTRUCTURED))
    @rule()
    def write_off(self):
        self._ask(K.WRITE_OFF, self.collector)

    # --- invariants ----------------------------------------------------------------------------

    def _disclosed(self, key: str, sub: str | None = None) -> Decimal:
        total = ZERO
        for version in self.plan.schedule_versions.all():
            value = (version.disclosure or {}).get(key)
            if value is None:
                continue
            if sub is not None:
                value = (value or {}).get(sub, "0")
                if isinstance(value, dict):
                    value = sum((Decimal(v) for v in value.values()), ZERO)
            total += Decimal(value)
        return total

    def _netted(self, part: str | None = None) -> Decimal:
        total = ZERO
        for version in self.plan.schedule_versions.all():
            netted = ((version.disclosure or {}).get("carried") or {}).get("netted") or {}
            total += sum((Decimal(v) for k, v in netted.items() if part in (None, k)), ZERO)
        return total

    @invariant()
    def money_is_conserved(self):
        if self.plan is None:
            return
        plan = self._reload()
        posted = plan.payments.filter(state=Payment.State.POSTED)
        received = _sum(posted.exclude(channel=Payment.Channel.CREDIT), "amount")
        live = self._live()
        paid_live = sum((r.amount_paid for r in live), ZERO)
        prepaid = _sum(posted, "prepaid_amount")
        assert plan.credit_balance >= 0
        assert received == paid_live + self._netted() + prepaid + plan.credit_balance, (
            received, paid_live, self._netted(), prepaid, plan.credit_balance)

    @invariant()
    def nothing_paid_is_lost_across_versions(self):
        if self.plan is None:
            return
        superseded = Installment.objects.filter(plan=self.plan, status=Installment.Status.SUPERSEDED)
        paid = sum((r.amount_paid for r in superseded), ZERO)
        assert paid == self._disclosed("carried", "credited") + self._netted()
        assert not any(r.amount_due > 0 and r.amount_paid >= r.amount_due for r in superseded)

    @invariant()
    def principal_is_conserved(self):
        if self.plan is None:
            return
        owed = sum((r.principal_due for r in self._live()), ZERO)
        discounted = ZERO
        for version in self.plan.schedule_versions.all():
            discounted += Decimal(((version.disclosure or {}).get("discounted") or {}).get("principal", "0"))
        assert owed + self._netted("principal") + self._disclosed("prepaid_principal") + discounted == (
            self.plan.principal + self.capitalised_at_start + self._disclosed("capitalised"))

    @invariant()
    def the_payoff_quote_is_the_outstanding_principal(self):
        if self.plan is None or self.plan.state not in policy.PAYABLE_STATES:
            return
        position = plan_position(self.plan, self.today)
        if position is None:
            return
        quote = quotes.plan_payoff_quote(plan=self.plan, on_date=self.today)
        kept = sum((r.principal_due - r.principal_paid for r in position.kept if r.status in OPEN), ZERO)
        live = sum((r.principal_due - r.principal_paid for r in self._live()), ZERO)
        ahead_paid = sum((r.principal_paid for r in position.ahead), ZERO)
        assert quote.outstanding_principal + kept == live + ahead_paid
        assert quote.total >= 0

    @invariant()
    def due_dates_stay_in_order_and_delinquency_matches(self):
        if self.plan is None:
            return
        plan = self.plan
        current = self._live().filter(version__version=plan.current_version).order_by("number")
        dates = [r.due_date for r in current]
        assert dates == sorted(dates), dates
        if plan.state not in policy.PAYABLE_STATES:
            return
        overdue = [r for r in self._open() if r.due_date < self.today]
        dpd = max(((self.today - r.due_date).days for r in overdue), default=0)
        assert (plan.days_past_due, plan.bucket) == (dpd, bucket_for(dpd).code)
        case = CollectionCase.objects.filter(plan=plan, status=CollectionCase.Status.OPEN).first()
        if case is not None:
            assert case.days_past_due == dpd
            assert case.amount_overdue == sum((r.amount_outstanding for r in overdue), ZERO)


    @invariant()
    def the_books_balance_and_equal_the_plans(self):
        if self.plan is None:
            return
        plan = self.plan
        for entry_id, debits, credits in JournalLine.objects.values("entry_id").annotate(
                d=Sum("debit"), c=Sum("credit")).values_list("entry_id", "d", "c"):
            assert Decimal(debits).quantize(CENT) == Decimal(credits).quantize(CENT), (entry_id, debits, credits)
        lines = dict(JournalLine.objects.filter(plan=plan).values("account_id").annotate(
            b=Sum(F("debit") - F("credit"))).values_list("account_id", "b"))
        held = posting.plan_ledger_balances(plan)
        # (SQLite adds decimals as floats: compare to the cent.)
        lines = {k: Decimal(v).quantize(CENT) for k, v in lines.items()}
        assert {k: v for k, v in lines.items() if v} == {k: v for k, v in held.items() if v}
        accounts = ledger_accounts.accounts_for(plan.product_id)
        expected = posting.plan_subledger(plan, posting.books_date()).by_role()
        assert {role: held.get(accounts[role].pk, ZERO) for role in expected} == expected
        report = posting.reconcile(posting.books_date() or date(1, 1, 1), cob._Dialect(connection.vendor), cob.T)
        assert report["ok"], report


@pytest.mark.django_db
def test_servicing_never_loses_or_invents_money(monkeypatch):
    clock = {}

    def business_date():
        machine = clock.get("machine")
        return machine.today if machine is not None else timezone.localdate()

    class Machine(ServicingMachine):
        def __init__(self):
            super().__init__()
            clock["machine"] = self

    # Every servicing module that reads the business date (each imported it from servicing.policy).
    for module in (policy, activation, delinquency, payments, quotes, requests, cases):
        monkeypatch.setattr(module, "business_date", business_date)
    run_state_machine_as_test(Machine, settings=settings(
        max_examples=EXAMPLES, stateful_step_count=25, deadline=None, derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
