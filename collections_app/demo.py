"""Demo data for servicing and collections (called by `manage.py seed_demo`); idempotent.

For every customer (users in the "customer" group; a few are created when there are none) it
activates plans backdated so the book has active, overdue (1-30, 31-60, 61-90 and 90+ days) and
paid-off plans, with payments on their due dates; customer@example.com gets one active and one
overdue plan. Collection cases are opened by the close of business for today (assigned to
collector@example.com when that user exists), then given contact logs and promises to pay.
Running it again finds the demo plans and adds nothing.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from collections_app.collections import cases, cob
from collections_app.models import AssignmentRule, CollectionCase, ContactLog, Payment, PromiseToPay
from collections_app.servicing import activation, engine, payments
from customers.models import User
from customers.roles import Role
from installments.engine.schedules import PlanTerms, build_schedule, schedule_to_dict
from installments.models import Application, Contract, LoanProduct, Offer, Plan

DEMO_MARK = hashlib.sha256(b"collections_app demo contract").hexdigest()
DEMO_CUSTOMER = "customer@example.com"
MAX_CUSTOMERS = 100  # without --customers: the first 100 customers get plans (keeps `make run` quick)
# (kind, days past due of the oldest unpaid installment, installments paid, term, amount)
PATTERNS = [
    ("active", 0, 3, 12, "12000"),
    ("overdue", 12, 2, 12, "8000"),
    ("active", 0, 5, 24, "30000"),
    ("active", 0, 1, 6, "4000"),
    ("overdue", 45, 1, 12, "15000"),
    ("paid_off", 0, 3, 3, "3000"),
    ("active", 0, 7, 12, "9000"),
    ("overdue", 75, 2, 12, "6000"),
    ("active", 0, 2, 18, "18000"),
    ("active", 0, 4, 9, "5000"),
    ("overdue", 120, 1, 18, "20000"),
    ("paid_off", 0, 6, 6, "2400"),
    ("active", 0, 9, 24, "24000"),
]
REASONS = [ContactLog.Reason.PERSONAL_FINANCIAL, ContactLog.Reason.UNEMPLOYMENT, ContactLog.Reason.ILLNESS,
           ContactLog.Reason.EXTERNAL_EVENT, ContactLog.Reason.DISPUTE]
PURPOSES = [Application.Purpose.APPLIANCES, Application.Purpose.FURNITURE, Application.Purpose.EDUCATION,
            Application.Purpose.CAR, Application.Purpose.TRAVEL, Application.Purpose.RENOVATION]


def _months_before(day: date, months: int) -> date:
    year, month0 = divmod(day.year * 12 + day.month - 1 - months, 12)
    return date(year, month0 + 1, min(day.day, 28))


def _product() -> LoanProduct:
    product = LoanProduct.objects.first()
    if product is None:
        product = LoanProduct.objects.create(
            code="everyday", name="Everyday installments", name_zh="日常分期", min_amount=Decimal("1000"),
            max_amount=Decimal("100000"), min_term_months=3, max_term_months=36, late_fee_flat=Decimal("30"),
            penalty_rate=Decimal("18"), max_apr=Decimal("24"))
    return product


def _customers(count: int | None) -> list[User]:
    """The customers to give plans: the customer users (at most `count`, default MAX_CUSTOMERS),
    topped up with demo customers to `count` (default 6) so the book covers every pattern."""
    wanted = count or 6
    customers = list(User.objects.filter(groups__name=Role.CUSTOMER, is_active=True).order_by("pk")[:count or MAX_CUSTOMERS])
    group, _ = Group.objects.get_or_create(name=Role.CUSTOMER)
    n = 0
    while len(customers) < wanted:
        n += 1
        user, created = User.objects.get_or_create(email=f"demo.customer{n}@example.com",
                                                   defaults={"full_name": f"Demo customer {n}"})
        if created:
            user.set_unusable_password()
            user.save()
        user.groups.add(group)
        if user not in customers:
            customers.append(user)
    return customers


def _officer() -> User | None:
    return User.objects.filter(groups__name=Role.LOAN_OFFICER).order_by("pk").first()


def _plan(customer: User, product: LoanProduct, pattern: tuple, n: int, officer) -> Plan:
    kind, dpd, paid, term, amount = pattern
    today = timezone.localdate()
    if kind == "paid_off":
        disbursed = _months_before(today, term + 1)
    elif kind == "active":
        disbursed = _months_before(today, paid) - timedelta(days=3)
    else:
        disbursed = _months_before(today - timedelta(days=dpd), paid + 1)
    amount = Decimal(amount)
    rate = min(Decimal("12") + n % 4 * 2, product.max_apr - 1)
    terms = PlanTerms(amount=amount, annual_rate=rate, term=term, method="annuity", disbursement_date=disbursed,
                      currency_decimals=product.currency_decimals)
    schedule = build_schedule(terms)
    accepted = timezone.make_aware(datetime.combine(disbursed, time(10)))
    application = Application.objects.create(
        customer=customer, product=product, amount=amount, term_months=term, purpose=PURPOSES[n % len(PURPOSES)],
        state=Application.State.CONTRACTED, submitted_at=accepted, decided_at=accepted)
    shown = schedule_to_dict(schedule)
    offer = Offer.objects.create(
        application=application, rank=1, method="annuity", amount=schedule.amount_financed, term_months=term,
        annual_rate=rate, installment=schedule.installments[0].payment, total_interest=schedule.total_interest,
        total_fees=schedule.total_fees, total_payable=schedule.total_payable, apr=schedule.apr,
        effective_annual_rate=schedule.effective_annual_rate, terms=engine.terms_to_json(terms),
        schedule=shown["installments"], chosen_at=accepted)
    contract = Contract.objects.create(
        application=application, offer=offer, content_html="<p>Demo contract.</p>", content_sha256=DEMO_MARK,
        disclosure={"apr": shown["apr"], "total_payable": shown["total_payable"]}, accepted_at=accepted)
    plan = activation.plan_activate(contract=contract, by=officer, disbursement_date=disbursed)
    rows = list(plan.installments.order_by("number"))
    to_pay = rows if kind == "paid_off" else rows[:paid]
    for row in to_pay:
        payments.payment_record(plan=plan, amount=row.amount_due, received_on=min(row.due_date, today),
                                channel=Payment.Channel.BANK_IMPORT, idempotency_key=f"bank:DEMO-{plan.number}-{row.number}",
                                by=officer, reference=f"DEMO-{plan.number}-{row.number}")
    plan.refresh_from_db()
    return plan


def _employed(customer: User, n: int) -> bool:
    profile = getattr(customer, "profile", None)
    kind = getattr(profile, "employment_type", "")
    return kind not in ("unemployed", "student", "retired") if kind else n % 3 != 1


def seed_demo(*, stdout, customers: int | None = None) -> None:
    """Create the demo servicing book once (see the module docstring) and close today."""
    today = timezone.localdate()
    officer = _officer()
    if officer is None:
        officer = User.objects.filter(is_superuser=True).order_by("pk").first()
    product = _product()
    collector = User.objects.filter(email="collector@example.com").first()
    created = 0
    with transaction.atomic():
        if collector is not None:
            for code in ("1-30", "31-60", "61-90", "90+"):
                AssignmentRule.objects.get_or_create(bucket=code, collector=collector)
        people = _customers(customers)
        demo_customer = User.objects.filter(email=DEMO_CUSTOMER).first()
        if demo_customer and demo_customer not in people:
            people.insert(0, demo_customer)
        for index, customer in enumerate(people):
            if Plan.objects.filter(customer=customer, contract__content_sha256=DEMO_MARK).exists():
                continue
            if customer.email == DEMO_CUSTOMER:
                patterns = [PATTERNS[0], PATTERNS[1]]
            else:
                patterns = [PATTERNS[(2 * index + k) % len(PATTERNS)] for k in range(2)]
            for k, pattern in enumerate(patterns):
                _plan(customer, product, pattern, index * 2 + k, officer)
                created += 1
    runs = cob.run_cob(today, triggered_by="demo") if created or not cob.last_closed_day() else []
    with transaction.atomic():
        for n, case in enumerate(CollectionCase.objects.filter(
                status=CollectionCase.Status.OPEN, plan__contract__content_sha256=DEMO_MARK,
                contacts__isnull=True).select_related("plan")):
            by = case.assigned_to or collector or officer
            cases.contact_log_add(case=case, by=by, channel=ContactLog.ContactChannel.PHONE,
                                     outcome=ContactLog.Outcome.PROMISED if n % 2 == 0 else ContactLog.Outcome.REACHED,
                                     reason_category=REASONS[n % len(REASONS)], employed=_employed(case.plan.customer, n),
                                     notes="Demo: customer explained the arrears and asked for time.")
            if n % 2 == 0:
                cases.promise_create(case=case, by=by, amount=min(case.amount_overdue, Decimal("500")) or Decimal(
                    "100"), promised_date=today + timedelta(days=7))
            if n % 3 == 0:
                PromiseToPay.objects.create(case=case, plan=case.plan, amount=Decimal("300"),
                                            promised_date=today - timedelta(days=5),
                                            created_on=today - timedelta(days=12), created_by=by,
                                            state=PromiseToPay.State.BROKEN, resolved_on=today - timedelta(days=5))
                CollectionCase.objects.filter(pk=case.pk).update(broken_promises=1)
    closed = ", ".join(str(r.business_date) for r in runs if not getattr(r, "skipped", False)) or "nothing new"
    stdout.write(f"collections: {created} demo plans created; close of business: {closed}.")
