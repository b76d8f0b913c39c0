"""Demo data for servicing and collections (called by `manage.py seed_demo`): a year of the book's
history, replayed through the real services; idempotent.

The replay. Over the last `HISTORY_MONTHS` months, each demo customer (users in the "customer"
group with a profile and no application yet: at most `MAX_CUSTOMERS`, or `customers`) applies
once, and one in four again later. Each application goes the way a real one does, at the times it
would: submitted (in office hours or, two times in five, in the evening), scored at once, an offer
chosen by the customer within the hour, decided by the loan officer in office hours (approve and
refer are approved; decline, or nothing affordable, is declined; an approval over the four-eyes
amount and a decline against an "approve" wait for the approver's confirmation), the contract
accepted within a day or so, the money paid out on the next working day. The close of business
runs through the history in order (`cob.run_cob`: every day of the last six weeks, Sundays and
month-ends before), so month-end snapshots, roll rates, vintages and collection cases are what the
book really did. Times come from `customers.demo.demo_clock`; amounts and terms from
`installments.demo.loan_request`; each replayed day is one transaction.

Repayment follows the plan's risk: most customers pay on the due date or a few days early, some
are now and then late and catch up, some repay early, and some (more the riskier their grade)
stop paying after a few installments; a part of those pay their arrears weeks later. A few story
lines are fixed so that even a small book shows every state: customer@example.com has one plan
paid on time and one 12 days overdue, and the first customers whose files pass the lending rules
get plans that are now 45, 75 and 120 days overdue and one paid off early. Collection cases opened
by the close of business get contact logs and promises to pay. Running it again finds the history
there and adds nothing.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import numpy as np
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from collections_app.collections import cases, cob
from collections_app.models import (
    AssignmentRule,
    CobRun,
    CollectionCase,
    ContactLog,
    Payment,
    PromiseToPay,
    ServicingRequest,
)
from collections_app.servicing import activation, payments, requests
from config.errors import DomainError
from customers.demo import demo_clock
from customers.models import CustomerProfile, User
from customers.roles import Role
from installments.models import Application, Contract, Decision, Installment, LoanProduct, Offer, Plan

logger = logging.getLogger(__name__)

DEMO_CUSTOMER = "customer@example.com"
HISTORY_TRIGGER = "demo history"  # CobRun.triggered_by of the replayed days: the history is there
HISTORY_MONTHS = 12
MAX_CUSTOMERS = 120  # without --customers: 120 customers get a history (keeps `make run` under two minutes)
SEED = 20_260_103
REPEAT_SHARE = 0.25  # customers who come back for a second plan
# Fixed story lines: (behaviour, days past due today of the first unpaid installment, installments
# paid before that). The demo login gets its two; the first customers whose files pass the lending
# rules get one each of the others, with an amount they can afford (`_affordable`).
DEMO_LOGIN_STORIES = [("on_time", 0, 3), ("stops", 12, 2)]
FIXED_STORIES = [("stops", 45, 1), ("early_payoff", 0, 3), ("stops", 75, 2), ("stops", 120, 1),
                 ("on_time", 0, 5), ("late", 0, 4)]
REASONS = [ContactLog.Reason.PERSONAL_FINANCIAL, ContactLog.Reason.UNEMPLOYMENT, ContactLog.Reason.ILLNESS,
           ContactLog.Reason.EXTERNAL_EVENT, ContactLog.Reason.DISPUTE]
OFFICE_OPENS, OFFICE_CLOSES = 9, 18


# --- Time -------------------------------------------------------------------------------------------

def _at(day: date, hours: float) -> datetime:
    """An aware time on `day`, `hours` after midnight (lender's time zone)."""
    return timezone.make_aware(datetime.combine(day, time(0)) + timedelta(hours=hours))


def _months_before(day: date, months: int) -> date:
    year, month0 = divmod(day.year * 12 + day.month - 1 - months, 12)
    return date(year, month0 + 1, min(day.day, 28))


def _working_day(day: date) -> date:
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def _office_time_after(moment: datetime, working_hours: float) -> datetime:
    """`moment` plus `working_hours` counted only on weekdays from 9:00 to 18:00 (staff time)."""
    local = timezone.localtime(moment)
    day, hour = local.date(), max(local.hour + local.minute / 60, OFFICE_OPENS)
    if hour >= OFFICE_CLOSES or day.weekday() >= 5:
        day = _working_day(day + timedelta(days=1) if hour >= OFFICE_CLOSES else day)
        hour = OFFICE_OPENS
    left = working_hours
    while hour + left > OFFICE_CLOSES:
        left -= OFFICE_CLOSES - hour
        day, hour = _working_day(day + timedelta(days=1)), OFFICE_OPENS
    return _at(day, hour + left)


def _submission_time(g: np.random.Generator, day: date) -> datetime:
    """When a customer submits on `day`: office hours or the evening, as people apply online."""
    hour = float(g.choice([g.uniform(9, 18), g.uniform(19, 23)], p=[0.6, 0.4]))
    return _at(day, hour)


# --- One application's story ----------------------------------------------------------------------------

@dataclass
class Story:
    """One application from submission to its last repayment in the history."""

    customer: User
    request: dict
    submitted_at: datetime
    behaviour: str | None = None  # on_time, late, early_payoff, stops (None: drawn from the grade)
    paid_before_stop: int = 0
    fixed: bool = False
    disburse_on: date | None = None
    application: Application | None = None
    plan: Plan | None = None
    rng: np.random.Generator | None = field(default=None, repr=False)


class Replay:
    """The event queue of the replayed history and the people in it."""

    def __init__(self, *, officer: User, approver: User | None, products: dict[str, LoanProduct],
                 today: date, start: date):
        self.officer, self.approver, self.products = officer, approver, products
        self.today, self.start = today, start
        self.clock = None  # the DemoClock while the replay runs
        self.queue: list = []
        self.order = itertools.count()
        self.counts = {"applications": 0, "knocked_out": 0, "declined": 0, "approved": 0, "plans": 0,
                       "payments": 0, "paid_off_early": 0}

    def at(self, moment: datetime, action, story: Story, *args) -> None:
        heapq.heappush(self.queue, (moment, next(self.order), action, story, args))

    # Each step runs at its time on the demo clock; the services it calls keep their own atomic blocks
    # (savepoints inside the replayed day's transaction).

    def submit(self, story: Story) -> None:
        from installments.assessment import online
        from installments.origination.applications import application_create, application_transition

        product = self.products[story.request["product"]]
        amount = min(max(story.request["amount"], product.min_amount), product.max_amount)
        term = min(max(story.request["term_months"], product.min_term_months), product.max_term_months)
        application = application_create(customer=story.customer, product=product, amount=amount, term_months=term,
                                         purpose=story.request["purpose"])
        application_transition(application=application, to=Application.State.SUBMITTED, by=story.customer)
        story.application = application
        self.counts["applications"] += 1
        result = online.application_score(application_id=application.pk)
        if result.outcome == result.Outcome.KNOCKED_OUT:
            self.counts["knocked_out"] += 1
            return
        g = story.rng
        self.at(story.submitted_at + timedelta(minutes=float(g.uniform(2, 50))), self.choose, story)

    def choose(self, story: Story) -> None:
        from installments.origination.applications import offer_choose

        offers = list(Offer.objects.filter(application=story.application, is_counter_offer=False).order_by("rank"))
        if offers:
            pick = offers[0] if story.rng.random() < 0.7 or len(offers) == 1 else offers[1]
            offer_choose(application=story.application, offer=pick, by=story.customer)
        delay = float(story.rng.lognormal(np.log(3.0), 0.8))  # officer's working hours to a decision
        self.at(_office_time_after(timezone.now(), delay), self.decide, story)

    def decide(self, story: Story) -> None:
        from installments.origination import decisions

        application = Application.objects.get(pk=story.application.pk)
        recommendation = decisions.recommendation_for(application)
        chosen = Offer.objects.filter(application=application, chosen_at__isnull=False).exists()
        decision = None
        if recommendation.code != Decision.Recommendation.DECLINE and chosen:
            try:
                decision = decisions.application_approve(application=application, by=self.officer,
                                                         note="Demo: income and purpose checked.")
                self.counts["approved"] += 1
            except DomainError as error:
                if error.code != "override_reason_required":
                    raise
                # A gate (not affordable now, arrears with us): the officer declines rather than override.
        if decision is None:
            codes = ["credit_score"] if recommendation.code == Decision.Recommendation.DECLINE else ["affordability"]
            against = recommendation.code == Decision.Recommendation.APPROVE
            decision = decisions.application_decline(
                application=application, by=self.officer, reason_codes=codes, note="Demo: decided on the file.",
                override_reason="No plan is affordable on the income shown." if against else "")
            self.counts["declined"] += 1
        if decision.status == Decision.Status.PENDING and self.approver is not None:
            delay = float(story.rng.lognormal(np.log(2.0), 0.7))
            self.at(_office_time_after(timezone.now(), delay), self.confirm, story)
        elif decision.kind != Decision.Kind.DECLINE:
            self._contract_next(story)

    def confirm(self, story: Story) -> None:
        from installments.origination import decisions

        decision = decisions.application_confirm(application=Application.objects.get(pk=story.application.pk),
                                                 by=self.approver, note="Demo: second look, agreed.")
        if decision.kind != Decision.Kind.DECLINE:
            self._contract_next(story)

    def _contract_next(self, story: Story) -> None:
        if story.rng.random() < 0.08 and not story.fixed:
            return  # changed their mind: the approval is never taken up
        self.at(timezone.now() + timedelta(hours=float(story.rng.uniform(0.5, 30))), self.accept, story)

    def accept(self, story: Story) -> None:
        from installments.origination.contracts import contract_accept

        contract = Contract.objects.filter(application=story.application).order_by("-version").first()
        contract_accept(contract=contract, by=story.customer, ip_address="203.0.113.10")
        accepted = timezone.localdate()
        disburse = max(story.disburse_on or accepted, accepted)
        disburse = _working_day(disburse + timedelta(days=0 if story.disburse_on else 1))
        self.at(_at(disburse, 10 + float(story.rng.uniform(0, 6))), self.disburse, story, contract)

    def disburse(self, story: Story, contract: Contract) -> None:
        plan = activation.plan_activate(contract=contract, by=self.officer, disbursement_date=timezone.localdate())
        story.plan = plan
        self.counts["plans"] += 1
        if story.behaviour is None:
            story.behaviour = _behaviour(story.rng, plan)
            story.paid_before_stop = int(story.rng.integers(1, 7))
        rows = list(plan.installments.order_by("number"))
        g = story.rng
        for k, row in enumerate(rows):
            if story.behaviour == "early_payoff" and k >= story.paid_before_stop:
                # Repays the rest a few days before an installment falls due (by yesterday at the latest).
                day = min(row.due_date - timedelta(days=int(g.integers(1, 10))), self.today - timedelta(days=1))
                if day > plan.disbursement_date:
                    self.at(_at(day, 10), self.pay_off, story)
                break
            if row.due_date > self.today:
                break
            if story.behaviour == "stops" and k >= story.paid_before_stop:
                if not story.fixed and g.random() < 0.3:  # pays the arrears weeks later
                    late = row.due_date + timedelta(days=int(g.integers(20, 75)))
                    if late <= self.today:
                        self.at(_at(late, 12), self.pay, story, row.number)
                break
            if story.behaviour == "late" and g.random() < 0.3:
                day = row.due_date + timedelta(days=int(g.integers(3, 25)))
            else:
                day = row.due_date - timedelta(days=int(g.choice([0, 0, 0, 1, 2, 3])))
            if day <= self.today:
                self.at(_at(max(day, plan.disbursement_date), 12), self.pay, story, row.number)

    def pay(self, story: Story, number: int) -> None:
        """Pay what is owed on the plan's installments up to `number` (late charges included)."""
        plan = Plan.objects.get(pk=story.plan.pk)
        if plan.state not in (Plan.State.ACTIVE, Plan.State.OVERDUE):
            return
        due_by = plan.installments.filter(number=number).exclude(status=Installment.Status.SUPERSEDED) \
            .values_list("due_date", flat=True).first()
        if due_by is None:
            return
        rows = plan.installments.exclude(status__in=(Installment.Status.SUPERSEDED, Installment.Status.PAID)) \
            .filter(due_date__lte=max(due_by, timezone.localdate()))
        owed = sum((row.amount_outstanding for row in rows), Decimal("0")) - plan.credit_balance
        if owed <= 0:
            return
        day = timezone.localdate()
        payments.payment_record(plan=plan, amount=owed, received_on=day, channel=Payment.Channel.BANK_IMPORT,
                                idempotency_key=f"bank:DEMO-{plan.number}-{number}-{day:%Y%m%d}", by=self.officer,
                                reference=f"DEMO-{plan.number}-{number}")
        self.counts["payments"] += 1

    def pay_off(self, story: Story) -> None:
        """The customer asks to repay early, the officer confirms the quote, the customer pays it."""
        plan = Plan.objects.get(pk=story.plan.pk)
        if plan.state not in (Plan.State.ACTIVE, Plan.State.OVERDUE):
            return
        day = timezone.localdate()
        request = requests.request_create(plan=plan, kind=ServicingRequest.Kind.EARLY_PAYOFF, by=story.customer,
                                          reason="Demo: I would like to repay the rest now.",
                                          params={"on_date": day.isoformat()})
        self.clock.set(timezone.now() + timedelta(hours=1))
        requests.request_decide(request=request, by=self.officer, approve=True, note="Demo: payoff quote confirmed.")
        self.clock.set(timezone.now() + timedelta(hours=1))
        plan.refresh_from_db()
        owed = sum((row.amount_outstanding for row in plan.installments.exclude(
            status__in=(Installment.Status.SUPERSEDED, Installment.Status.PAID))), Decimal("0")) - plan.credit_balance
        if owed > 0:
            payments.payment_record(plan=plan, amount=owed, received_on=day, channel=Payment.Channel.BANK_IMPORT,
                                    idempotency_key=f"bank:DEMO-{plan.number}-payoff", by=self.officer,
                                    reference=f"DEMO-{plan.number}-payoff")
        self.counts["paid_off_early"] += 1


def _behaviour(g: np.random.Generator, plan: Plan) -> str:
    """How a drawn customer repays, by the plan's probability of default (its score's PD): about one
    in twelve stop paying over a year on an average grade, more on worse ones."""
    result = getattr(plan.application, "score_result", None)
    pd_ = float(result.pd) if result is not None else 0.1
    stop = min(0.6, 0.03 + 0.6 * pd_)
    return str(g.choice(["stops", "late", "early_payoff", "on_time"],
                        p=[stop, 0.12, 0.08, 1 - stop - 0.2]))


# --- Who takes part ----------------------------------------------------------------------------------

def _customers(count: int | None) -> list[User]:
    """The customers whose history is replayed: the demo login (when it has a profile) and up to
    `count` (default MAX_CUSTOMERS) customer users with a profile and no application yet, those the
    lending rules let through for the fixed story lines first. With too few, demo customers are
    made first (customers.demo) so that even a small book shows every story line."""
    from customers import demo as customer_demo

    wanted = MAX_CUSTOMERS if count is None else count

    def eligible() -> list[User]:
        return list(User.objects.filter(groups__name=Role.CUSTOMER, is_active=True, profile__isnull=False,
                                        applications__isnull=True).select_related("profile")
                    .prefetch_related("profile__incomes", "profile__debts", "profile__expenses").order_by("pk").distinct())

    people = eligible()
    if wanted and len([p for p in people if p.email != DEMO_CUSTOMER]) < min(wanted, 4 * len(FIXED_STORIES)):
        customer_demo.seed_demo(stdout=_Quiet(), customers=max(wanted, 4 * len(FIXED_STORIES)))
        people = eligible()
    login = [p for p in people if p.email == DEMO_CUSTOMER]
    others = [p for p in people if p.email != DEMO_CUSTOMER]
    fitting = [p for p in others if _fixed_fits(p)][:len(FIXED_STORIES)]
    chosen = (fitting + [p for p in others if p not in fitting])[:wanted]
    return login + sorted(chosen, key=lambda p: p.pk)


class _Quiet:
    def write(self, text: str) -> None:
        logger.info(text)


def _income(user: User) -> Decimal:
    return sum((line.monthly_amount for line in user.profile.incomes.all()), Decimal("0"))


def _debt_payments(user: User) -> Decimal:
    return sum((debt.monthly_payment for debt in user.profile.debts.all()), Decimal("0"))


def _expenses(user: User) -> Decimal:
    return sum((line.monthly_amount for line in user.profile.expenses.all()), Decimal("0"))


def _fixed_fits(user: User) -> bool:
    """A customer the lending rules let through (for the fixed story lines): a steady income, no
    arrears on record, no debts but a mortgage that takes under 30 % of income."""
    profile: CustomerProfile = user.profile
    income = _income(user)
    return (income >= 4500 and profile.past_delinquencies == 0
            and all(debt.kind == "mortgage" for debt in profile.debts.all())
            and _debt_payments(user) < income * Decimal("0.3")
            and _debt_payments(user) + _expenses(user) < income * Decimal("0.55"))


def _affordable(ask: dict, *, income: Decimal, debt_payments: Decimal, expenses: Decimal) -> dict:
    """`ask` with the amount lowered, where needed, so that the offer engine finds it affordable
    (installment within 30 % of income; debts, expenses and installment within 65 %) and that no
    second approval is needed: the fixed story lines must get through."""
    r = Decimal("14.4") / 1200
    factor = (1 - (1 + r) ** -ask["term_months"]) / r
    room = max(min(income * Decimal("0.3"), income * Decimal("0.65") - debt_payments - expenses), income * Decimal("0.05"))
    amount = min(ask["amount"], (room * factor / 500).to_integral_value() * 500, Decimal("45000"))
    return {**ask, "amount": amount.quantize(Decimal("0.01"))}


def _stories(people: list[User], *, today: date, start: date) -> list[Story]:
    from installments.demo import loan_request

    stories = []
    fixed = list(FIXED_STORIES)
    last_submission = today - timedelta(days=4)
    span = (last_submission - start).days
    for user in people:
        g = np.random.default_rng([SEED, user.pk])
        income = _income(user)
        kind = user.profile.employment_type
        debt_payments = _debt_payments(user)

        def request(income=income, kind=kind, g=g, debt_payments=debt_payments):
            return loan_request(g, monthly_income=income, employment_type=kind, debt_payments=debt_payments)

        if user.email == DEMO_CUSTOMER:
            lines = list(DEMO_LOGIN_STORIES)
        elif fixed and _fixed_fits(user):
            lines = [fixed.pop(0)]
        else:
            lines = []
        for behaviour, days_past_due, paid in lines:
            # Work back from today: the first unpaid installment fell due `days_past_due` days ago.
            disburse = (_months_before(today - timedelta(days=days_past_due), paid + 1) if behaviour == "stops"
                        else _months_before(today, paid) - timedelta(days=3))
            submitted = _submission_time(g, disburse - timedelta(days=int(g.integers(3, 6))))
            ask = _affordable(request(), income=income, debt_payments=debt_payments, expenses=_expenses(user))
            if user.email == DEMO_CUSTOMER:
                ask = {**ask, "product": "everyday", "amount": Decimal("12000.00") if paid == 3 else Decimal("8000.00"),
                       "term_months": 12, "purpose": "appliances" if paid == 3 else "furniture"}
            stories.append(Story(customer=user, request=ask, submitted_at=submitted, behaviour=behaviour,
                                 paid_before_stop=paid, fixed=True, disburse_on=disburse, rng=g))
        if lines:
            continue
        first = start + timedelta(days=int(g.integers(0, span)))
        stories.append(Story(customer=user, request=request(), submitted_at=_submission_time(g, first), rng=g))
        if g.random() < REPEAT_SHARE and (last_submission - first).days > 90:
            again = first + timedelta(days=int(g.integers(60, (last_submission - first).days)))
            stories.append(Story(customer=user, request=request(), submitted_at=_submission_time(g, again), rng=g))
    return stories


# --- The replay -------------------------------------------------------------------------------------------

DAILY_CLOSE_DAYS = 42


def _closed_in_history(day: date, today: date) -> bool:
    """Which past days the replay closes: every day of the last six weeks, and before that every
    Sunday and month-end (`run_cob` catches a skipped day's charges up; closing all 365 days would
    triple the replay's time for figures the dashboard reads at month-ends)."""
    return (today - day).days <= DAILY_CLOSE_DAYS or day.weekday() == 6 or (day + timedelta(days=1)).day == 1



def replay_history(*, people: list[User], officer: User, approver: User | None, today: date,
                   months: int = HISTORY_MONTHS) -> dict[str, int]:
    """Replay `months` of business for `people` (see the module docstring), closing every day
    from the first application to yesterday. Returns counts of what happened."""
    start = _months_before(today, months).replace(day=1)
    products = {p.code: p for p in LoanProduct.objects.filter(is_active=True)}
    replay = Replay(officer=officer, approver=approver, products=products, today=today, start=start)
    for story in _stories(people, today=today, start=start):
        if story.request["product"] in products:
            replay.at(story.submitted_at, replay.submit, story)
    if not replay.queue:
        return replay.counts
    first_day = min(timezone.localtime(moment).date() for moment, *_ in replay.queue)
    end_of_history = _at(today, 0)
    with demo_clock(_at(first_day, 0)) as clock:
        replay.clock = clock
        day = first_day
        while day < today:
            close_at = _at(day, 23.5)
            # One transaction per day (each step still has its own savepoint): a commit per service
            # call would make SQLite spend most of the replay syncing the disk.
            with transaction.atomic():
                while replay.queue and replay.queue[0][0] < close_at:
                    moment, _n, action, story, args = heapq.heappop(replay.queue)
                    clock.set(moment)
                    try:
                        action(story, *args)
                    except (DomainError, PermissionDenied) as error:  # a refusal is part of the story
                        logger.info("Demo history: %s refused for %s: %s", action.__name__, story.customer, error)
                clock.set(close_at)
                if _closed_in_history(day, today):
                    cob.run_cob(day, start=day, triggered_by=HISTORY_TRIGGER)
            day += timedelta(days=1)
        # Today's events up to now (a plan disbursed this morning, a payment at noon) happen for real.
        now = timezone.now()
        while replay.queue and replay.queue[0][0] < min(now, end_of_history + timedelta(days=1)):
            moment, _n, action, story, args = heapq.heappop(replay.queue)
            clock.set(moment)
            try:
                action(story, *args)
            except (DomainError, PermissionDenied) as error:
                logger.info("Demo history: %s refused for %s: %s", action.__name__, story.customer, error)
    return replay.counts


def _collections_work(*, today: date, collector: User | None, officer: User) -> None:
    """Contact logs and promises to pay on the open cases that have none yet."""
    with transaction.atomic():
        for n, case in enumerate(CollectionCase.objects.filter(status=CollectionCase.Status.OPEN, contacts__isnull=True)
                                 .select_related("plan__customer__profile").order_by("pk")):
            by = case.assigned_to or collector or officer
            profile = getattr(case.plan.customer, "profile", None)
            employed = (profile.employment_type not in ("unemployed", "student", "retired")) if profile else n % 3 != 1
            cases.contact_log_add(case=case, by=by, channel=ContactLog.ContactChannel.PHONE,
                                  outcome=ContactLog.Outcome.PROMISED if n % 2 == 0 else ContactLog.Outcome.REACHED,
                                  reason_category=REASONS[n % len(REASONS)], employed=employed,
                                  notes="Demo: customer explained the arrears and asked for time.")
            if n % 2 == 0:
                cases.promise_create(case=case, by=by, amount=min(case.amount_overdue, Decimal("500")) or Decimal("100"),
                                     promised_date=today + timedelta(days=7))
            if n % 3 == 0:
                PromiseToPay.objects.create(case=case, plan=case.plan, amount=Decimal("300"),
                                            promised_date=today - timedelta(days=5),
                                            created_on=today - timedelta(days=12), created_by=by,
                                            state=PromiseToPay.State.BROKEN, resolved_on=today - timedelta(days=5))
                CollectionCase.objects.filter(pk=case.pk).update(broken_promises=1)


def _staff(role: str, email: str) -> User | None:
    return (User.objects.filter(email=email).first()
            or User.objects.filter(groups__name=role, is_active=True).order_by("pk").first())


def _prerequisites(stdout) -> None:
    """Products, the standard policy, the scoring model and rules (when this runs on its own)."""
    from installments import demo as installments_demo
    from installments.assessment import demo as assessment_demo
    from installments.assessment import policy

    with transaction.atomic():
        installments_demo.ensure_products()
        installments_demo.ensure_standard_policy()
    assessment_demo.ensure_default_model(stdout)
    policy.policy_rules_ensure_defaults()


def seed_demo(*, stdout, customers: int | None = None) -> None:
    """Replay the demo history once (see the module docstring) and close today."""
    today = timezone.localdate()
    officer = _staff(Role.LOAN_OFFICER, "officer@example.com") or User.objects.filter(is_superuser=True).first()
    approver = _staff(Role.APPROVER, "approver@example.com")
    collector = User.objects.filter(email="collector@example.com").first()
    if collector is not None:
        with transaction.atomic():
            for code in ("1-30", "31-60", "61-90", "90+"):
                AssignmentRule.objects.get_or_create(bucket=code, collector=collector)
    counts = None
    if officer is not None and not CobRun.objects.filter(triggered_by=HISTORY_TRIGGER).exists():
        _prerequisites(stdout)
        Group.objects.get_or_create(name=Role.CUSTOMER)
        if customers is None or customers > 0 or User.objects.filter(email=DEMO_CUSTOMER).exists():
            counts = replay_history(people=_customers(customers), officer=officer, approver=approver, today=today)
    runs = cob.run_cob(today, triggered_by="demo") if counts or not cob.last_closed_day() else []
    if officer is not None:
        _collections_work(today=today, collector=collector, officer=officer)
    closed = ", ".join(str(r.business_date) for r in runs if not getattr(r, "skipped", False)) or "nothing new"
    if counts:
        stdout.write(
            f"collections: history of {HISTORY_MONTHS} months replayed: {counts['applications']} applications "
            f"({counts['knocked_out']} knocked out, {counts['approved']} approved, {counts['declined']} declined), "
            f"{counts['plans']} demo plans created, {counts['payments']} payments, {counts['paid_off_early']} "
            f"paid off early; close of business: {closed}.")
    else:
        stdout.write(f"collections: 0 demo plans created; close of business: {closed}.")
