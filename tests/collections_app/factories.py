"""Books for servicing tests: products, accepted contracts, active plans, hand-built plans.

`contract_accepted(...)` builds Application -> Offer (terms as the offer engine stores them) ->
Contract, accepted, so `plan_activate` can be tested like the staff screen calls it.
`plan_active(...)` activates one. `plan_by_hand(...)` writes a plan and its installments directly
(for close-of-business tests that need exact due dates and amounts).
"""

from __future__ import annotations

import itertools
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.contrib.auth.models import Group
from django.utils import timezone

from collections_app.ledger import posting
from collections_app.servicing import activation, engine
from customers.roles import Role
from installments.engine.schedules import PlanTerms, build_schedule, schedule_to_dict
from installments.models import Application, Contract, Installment, LoanProduct, Offer, Plan, ScheduleVersion
from tests.factories import UserFactory

_seq = itertools.count(1)


def product_make(**overrides) -> LoanProduct:
    n = next(_seq)
    values = {
        "code": f"std-{n}", "name": f"Standard {n}", "min_amount": Decimal("500"), "max_amount": Decimal("200000"),
        "min_term_months": 1, "max_term_months": 60, "late_fee_flat": Decimal("30"), "penalty_rate": Decimal("18"),
        "max_apr": Decimal("24"),
    }
    values.update(overrides)
    return LoanProduct.objects.create(**values)


def customer_make(**kwargs):
    return UserFactory(roles=[Role.CUSTOMER], **kwargs)


def staff_make(role: str, **kwargs):
    user = UserFactory(**kwargs)
    user.groups.add(Group.objects.get_or_create(name=str(role))[0])
    return user


def _aware(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(10, 0)))


def contract_accepted(*, customer=None, product=None, amount="12000", term=12, rate="12", method="annuity",
                      accepted_on: date | None = None, **terms_extra) -> Contract:
    customer = customer or customer_make()
    product = product or product_make()
    accepted_on = accepted_on or timezone.localdate()
    application = Application.objects.create(customer=customer, product=product, amount=Decimal(amount),
                                             term_months=term, state=Application.State.CONTRACTED)
    terms = PlanTerms(amount=Decimal(amount), annual_rate=Decimal(rate), term=term, method=method,
                      disbursement_date=accepted_on, **terms_extra)
    schedule = build_schedule(terms)
    shown = schedule_to_dict(schedule)
    offer = Offer.objects.create(
        application=application, rank=1, method=method, amount=schedule.amount_financed, term_months=term,
        annual_rate=Decimal(rate), installment=schedule.installments[0].payment, total_interest=schedule.total_interest,
        total_fees=schedule.total_fees, total_payable=schedule.total_payable, apr=schedule.apr,
        effective_annual_rate=schedule.effective_annual_rate, terms=engine.terms_to_json(terms),
        schedule=shown["installments"], chosen_at=_aware(accepted_on),
    )
    return Contract.objects.create(
        application=application, offer=offer, version=1, content_html="<p>Contract</p>", content_sha256="0" * 64,
        disclosure={"apr": shown["apr"], "total_payable": shown["total_payable"]}, accepted_at=_aware(accepted_on),
    )


def plan_active(*, disbursed: date | None = None, by=None, **kwargs) -> Plan:
    disbursed = disbursed or timezone.localdate()
    contract = contract_accepted(accepted_on=disbursed, **kwargs)
    by = by or staff_make(Role.LOAN_OFFICER)
    return activation.plan_activate(contract=contract, by=by, disbursement_date=disbursed)


def plan_by_hand(*, customer=None, product=None, disbursed: date, rows: list[tuple], state: str = "active",
                 number: str | None = None) -> Plan:
    """A plan whose installments are exactly `rows`: (due_date, principal, interest[, fee]) each."""
    customer = customer or customer_make()
    product = product or product_make()
    application = Application.objects.create(customer=customer, product=product, amount=Decimal("1000"),
                                             term_months=len(rows), state=Application.State.ACTIVE)
    offer = Offer.objects.create(application=application, method="annuity", amount=Decimal("1000"),
                                 term_months=len(rows), annual_rate=Decimal("12"), installment=Decimal("100"),
                                 total_interest=Decimal("0"), total_fees=Decimal("0"), total_payable=Decimal("1000"),
                                 apr=Decimal("12"), effective_annual_rate=Decimal("12.68"))
    contract = Contract.objects.create(application=application, offer=offer, content_html="-",
                                       content_sha256="0" * 64, accepted_at=_aware(disbursed))
    principal = sum((Decimal(str(r[1])) for r in rows), Decimal(0))
    plan = Plan.objects.create(number=number or f"PLN-T-{next(_seq):06d}", application=application,
                               contract=contract, customer=customer, product=product, method="annuity",
                               principal=principal, annual_rate=Decimal("12"), disbursement_date=disbursed,
                               state=state)
    version = ScheduleVersion.objects.create(plan=plan, version=1, reason="by hand")
    Installment.objects.bulk_create([
        Installment(plan=plan, version=version, number=i, due_date=row[0], principal_due=Decimal(str(row[1])),
                    interest_due=Decimal(str(row[2])), fee_due=Decimal(str(row[3])) if len(row) > 3 else Decimal(0))
        for i, row in enumerate(rows, start=1)
    ])
    # Disbursed like a real plan: the books hold its principal from the start.
    posting.plan_disbursement_post(plan=plan, upfront_fee=Decimal(0))
    return plan


def books_follow(plan: Plan, *, cash: str | Decimal = "0", channel: str | None = None) -> None:
    """After a test changed a plan's rows or payments by hand (not through the services), post the
    difference to the books as a manual correction (the rest waits in suspense), so the close of
    business's reconciliation agrees."""
    from collections_app.ledger.models import EventType

    plan.refresh_from_db()
    posting.plan_event_post(plan=plan, event_type=EventType.MANUAL, value_date=plan.disbursement_date,
                            memo="changed by hand in a test", cash=Decimal(str(cash)), channel=channel)


def monthly(start: date, count: int, principal="100.00", interest="10.00") -> list[tuple]:
    rows = []
    for i in range(count):
        month = start.month - 1 + i
        rows.append((date(start.year + month // 12, month % 12 + 1, min(start.day, 28)), principal, interest))
    return rows


def days_ago(n: int) -> date:
    return timezone.localdate() - timedelta(days=n)


GOOD_CARD = "4111 1111 1111 1111"


def pay_through_provider(plan: Plan, amount, key: str, *, card: str = GOOD_CARD, overpayment: str = "credit"):
    """The customer pays `amount` on `plan` the only way customers pay: a payment intent through the
    (simulated) payment provider. Returns the intent; `intent.payment` once authorised."""
    from collections_app.servicing.intents import payment_intent_create

    return payment_intent_create(plan=plan, by=plan.customer, amount=amount, overpayment=overpayment,
                                 idempotency_key=key, card_number=card)
