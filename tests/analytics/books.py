"""A small hand-built book with known answers (see each figure's comment), written straight to the
tables the summaries read: plans with exact installments, month-end snapshots, decided
applications, a collection case with a payment, a low satisfaction rating."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.utils import timezone

from collections_app.models import CollectionCase, Payment, PlanSnapshot
from customers.models import SatisfactionRating
from installments.models import Application, LoanProduct, Plan
from tests.collections_app.factories import customer_make, plan_by_hand, product_make

TODAY = date(2026, 5, 15)
DISBURSED = date(2026, 1, 10)


def aware(*args) -> datetime:
    return timezone.make_aware(datetime(*args))


@dataclass
class HandBook:
    product: LoanProduct
    plans: dict[str, Plan]
    decided: list[Application]


def _plan(product, name: str, principal: str, *, state="active", dpd=0, bucket="current") -> Plan:
    plan = plan_by_hand(product=product, disbursed=DISBURSED, rows=[(date(2026, 6, 10), principal, "10.00")],
                        number=f"PLN-HB-{name}-{product.pk}")
    Plan.objects.filter(pk=plan.pk).update(state=state, days_past_due=dpd, bucket=bucket)
    plan.refresh_from_db()
    return plan


def _snapshot(plan: Plan, day: date, dpd: int, bucket: str, state: str = "overdue") -> None:
    PlanSnapshot.objects.create(plan=plan, business_date=day, state=state if dpd else "active", days_past_due=dpd,
                                bucket=bucket, term_class="current", principal_outstanding=plan.principal,
                                amount_overdue=Decimal("0"))


def build_book(product: LoanProduct | None = None) -> HandBook:
    """Four plans disbursed on 10 January 2026 (1,000 / 500 / 300 / 200 outstanding).

    Today (15 May 2026): A current, B 10 days, C 45 days, D 120 days past due, so PAR30 = 500 / 2000.
    Month-ends: 31 March A current, B current, C 20 days, D 70 days; 30 April A current, B 5 days,
    C 35 days, D 100 days (plus a mid-March snapshot of C at 90 days that is not a month-end and is
    ignored). Vintage of January: D bad (31+) at months on book 2, C at 3 -> 0, 0, 25 %, 50 %, 50 %.
    Roll rates (March -> April, April -> now): from current 2 stay current, 1 rolls to 1-30 (1/3).
    Decisions in May: approved after 2 h, contracted after 4 h, declined after 30 h -> approval 2/3,
    median 4 h, mean 12 h. Case on D opened 15 February with 250.00 overdue, 50.00 paid since ->
    recovery 50 / 300.
    """
    product = product or product_make(code=f"hand-{LoanProduct.objects.count() + 1}", name="Hand-built")
    plans = {
        "A": _plan(product, "A", "1000.00"),
        "B": _plan(product, "B", "500.00", state="overdue", dpd=10, bucket="1-30"),
        "C": _plan(product, "C", "300.00", state="overdue", dpd=45, bucket="31-60"),
        "D": _plan(product, "D", "200.00", state="overdue", dpd=120, bucket="90+"),
    }
    march, april = date(2026, 3, 31), date(2026, 4, 30)
    for day, states in ((march, {"A": (0, "current"), "B": (0, "current"), "C": (20, "1-30"), "D": (70, "61-90")}),
                        (april, {"A": (0, "current"), "B": (5, "1-30"), "C": (35, "31-60"), "D": (100, "90+")})):
        for name, (dpd, bucket) in states.items():
            _snapshot(plans[name], day, dpd, bucket)
    _snapshot(plans["C"], date(2026, 3, 15), 90, "61-90")

    decided = []
    for n, (state, hours) in enumerate((("approved", 2), ("contracted", 4), ("declined", 30)), start=4):
        submitted = aware(2026, 5, n, 9, 0)
        decided.append(Application.objects.create(
            customer=customer_make(), product=product, amount=Decimal("5000"), term_months=12, state=state,
            submitted_at=submitted, decided_at=submitted + timezone.timedelta(hours=hours)))

    case = CollectionCase.objects.create(plan=plans["D"], opened_on=date(2026, 2, 15), bucket="90+", days_past_due=120,
                                         amount_overdue=Decimal("250.00"))
    Payment.objects.create(plan=plans["D"], amount=Decimal("50.00"), received_on=date(2026, 3, 1),
                           channel=Payment.Channel.OFFICER, idempotency_key=f"hb-{case.pk}", credited_amount=Decimal("50.00"))
    rating = SatisfactionRating.objects.create(user=decided[1].customer, application=decided[1],
                                               moment="after_contract", rating=2, comment="The call took too long.")
    SatisfactionRating.objects.filter(pk=rating.pk).update(created_at=aware(2026, 5, 10, 12, 0))
    return HandBook(product=product, plans=plans, decided=decided)


# --- A demo-like book for the browser test: two products, a year of cohorts, month-end history ---------

def _month_end(today: date, months_back: int) -> date:
    index = today.year * 12 + today.month - 1 - months_back + 1
    first_of_next = date(index // 12, index % 12 + 1, 1)
    return first_of_next - timezone.timedelta(days=1)


def demo_like_book(*, today: date | None = None, per_month: int = 5, seed: int = 7) -> list[LoanProduct]:
    """Plans disbursed over the last 12 months in two products, each with a month-end snapshot
    history (a random walk of days past due: most stay current, some roll into arrears, a few are
    paid off), their decided applications, some declines and satisfaction ratings."""
    import random

    from collections_app.collections.buckets import DEFAULT_BUCKETS, bucket_for

    rng = random.Random(seed)
    today = today or timezone.localdate()
    products = [product_make(code=f"demo-everyday-{seed}", name="Everyday installments"),
                product_make(code=f"demo-education-{seed}", name="Education plans")]
    purposes = ["appliances", "furniture", "education", "travel", "renovation"]
    snapshots = []
    for months_back in range(11, -1, -1):
        for n in range(per_month):
            product = products[n % 2]
            index = today.year * 12 + today.month - 1 - months_back
            disbursed = date(index // 12, index % 12 + 1, min(3 + n * 5, 28))
            if disbursed > today:
                disbursed = today
            principal = rng.choice(["3000.00", "6000.00", "12000.00", "20000.00"])
            plan = plan_by_hand(product=product, disbursed=disbursed,
                                rows=[(today + timezone.timedelta(days=30), principal, "50.00")],
                                number=f"PLN-DEMO-{seed}-{months_back:02d}-{n}")
            submitted = aware(disbursed.year, disbursed.month, disbursed.day, 9, 0) - timezone.timedelta(days=2)
            Application.objects.filter(pk=plan.application_id).update(
                purpose=purposes[n % len(purposes)], submitted_at=submitted,
                decided_at=submitted + timezone.timedelta(hours=rng.choice([3, 6, 20, 30, 50])),
                income_pattern="seasonal" if n == 3 else "regular")
            Offer = plan.contract.offer.__class__
            Offer.objects.filter(pk=plan.contract.offer_id).update(
                apr=Decimal(rng.choice(["11.5", "13.9", "16.2", "19.8"])), term_months=rng.choice([6, 12, 12, 24]))
            dpd, state = 0, "active"
            for back in range(months_back - 1, -1, -1):  # month-ends after disbursement, oldest first
                roll = rng.random()
                if state == "active" and roll < 0.06:
                    state = "paid_off"
                    break
                if dpd:  # in arrears: rolls on, stays, or is cured
                    dpd = dpd + 30 if roll < 0.45 else (0 if roll > 0.7 else dpd)
                elif roll < 0.1:
                    dpd = 15
                snapshots.append(PlanSnapshot(
                    plan=plan, business_date=_month_end(today, back + 1), state="overdue" if dpd else "active",
                    days_past_due=dpd, bucket=bucket_for(dpd, DEFAULT_BUCKETS).code, term_class="current",
                    principal_outstanding=plan.principal, amount_overdue=Decimal("0")))
            if state == "paid_off":
                Plan.objects.filter(pk=plan.pk).update(state="paid_off", closed_at=aware(today.year, today.month, 1))
                Installment = plan.installments.model
                Installment.objects.filter(plan=plan).update(status="paid", principal_paid=plan.principal)
            elif dpd:
                Plan.objects.filter(pk=plan.pk).update(state="overdue", days_past_due=dpd + rng.randint(1, 20),
                                                       bucket=bucket_for(dpd + 10, DEFAULT_BUCKETS).code)
        for _ in range(per_month // 2):  # declined applications
            submitted = aware(today.year, today.month, 1, 10, 0) - timezone.timedelta(days=30 * months_back)
            Application.objects.create(customer=customer_make(), product=products[0], amount=Decimal("8000"),
                                       state="declined", submitted_at=submitted,
                                       decided_at=submitted + timezone.timedelta(hours=5))
    PlanSnapshot.objects.bulk_create(snapshots)
    for i, plan in enumerate(Plan.objects.filter(number__startswith=f"PLN-DEMO-{seed}-").order_by("pk")[:24]):
        rating = SatisfactionRating.objects.create(
            user=plan.customer, application=plan.application, moment="after_contract", rating=[5, 4, 4, 3, 5, 2][i % 6],
            comment="" if i % 6 != 5 else "Hard to reach anyone by phone.")
        SatisfactionRating.objects.filter(pk=rating.pk).update(
            created_at=aware(plan.disbursement_date.year, plan.disbursement_date.month, plan.disbursement_date.day, 12))
    return products
