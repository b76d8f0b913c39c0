"""The five-tier loan classification and the month-end provision: the pure tiers, the set-based
classification of the book (history only on change), the provision against the general ledger per
plan (hand-computed amounts, balanced, idempotent, refused for an inactive allowance account), and
the pages that show them."""

import itertools
from datetime import date, datetime, time
from decimal import Decimal
from importlib import import_module

import pytest
from django.apps import apps
from django.urls import reverse
from django.utils import timezone

from collections_app.ledger import provisioning, services
from collections_app.ledger.models import (
    AccountMapping,
    ClassificationPolicy,
    EventType,
    JournalEntry,
    LedgerAccount,
    PlanAccountBalance,
    PlanClassification,
)
from collections_app.models import ServicingRequest
from config.errors import DomainError
from customers.roles import Role
from installments.models import Application, Contract, Offer, Plan
from tests.collections_app.factories import customer_make, product_make

pytestmark = pytest.mark.django_db

DAY = date(2026, 3, 31)
NEXT_MONTH = date(2026, 4, 30)
DEFAULTS = ClassificationPolicy(effective_from=date(2000, 1, 1))
_numbers = itertools.count(1)


@pytest.fixture(autouse=True)
def books(chart):
    """The chart, the default account mappings and the default policy (a flushed database lacks them)."""
    import_module("collections_app.migrations.0007_books_posting").create_defaults(apps, None)


@pytest.fixture
def product():
    return product_make()


def _plan(product, *, state="active", dpd=0) -> Plan:
    """A plan written directly, with no posting: each test gives it the balances it needs (`_lend`)."""
    customer = customer_make()
    application = Application.objects.create(customer=customer, product=product, amount=Decimal("1000"),
                                             term_months=3, state=Application.State.ACTIVE)
    offer = Offer.objects.create(application=application, method="annuity", amount=Decimal("1000"), term_months=3,
                                 annual_rate=Decimal("12"), installment=Decimal("340"), total_interest=Decimal("20"),
                                 total_fees=Decimal("0"), total_payable=Decimal("1020"), apr=Decimal("12"),
                                 effective_annual_rate=Decimal("12.68"))
    contract = Contract.objects.create(application=application, offer=offer, content_html="-",
                                       content_sha256="0" * 64, accepted_at=timezone.now())
    return Plan.objects.create(number=f"PLN-C-{next(_numbers):06d}", application=application, contract=contract,
                               customer=customer, product=product, method="annuity", principal=Decimal("1000"),
                               annual_rate=Decimal("12"), disbursement_date=date(2025, 12, 1), state=state,
                               days_past_due=dpd)


def _lend(plan, principal: str, interest: str = "0") -> None:
    """Give the plan general-ledger balances: principal (and interest) receivable."""
    services.journal_post(value_date=date(2026, 1, 1), event_type=EventType.DISBURSEMENT,
                          lines=[("1101", principal, 0, plan), ("1001", 0, principal, plan)])
    if Decimal(interest):
        services.journal_post(value_date=date(2026, 1, 31), event_type=EventType.INTEREST_ACCRUAL,
                              lines=[("1102", interest, 0, plan), ("4101", 0, interest, plan)])


def _held(plan) -> Decimal:
    balance = PlanAccountBalance.objects.filter(plan=plan, account__code="1401").values_list("balance", flat=True)
    return -(balance.first() or Decimal("0"))


def _set_dpd(plan, dpd: int, state: str | None = None) -> None:
    Plan.objects.filter(pk=plan.pk).update(days_past_due=dpd, **({"state": state} if state else {}))


# --- The pure rule ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("dpd", "expected"), [
    (0, "normal"), (1, "special_mention"), (90, "special_mention"), (91, "substandard"), (180, "substandard"),
    (181, "doubtful"), (360, "doubtful"), (361, "loss"), (2000, "loss"),
])
def test_tiers_follow_the_default_thresholds(dpd, expected):
    assert provisioning.loan_class_for(dpd, False, DEFAULTS) == expected


@pytest.mark.parametrize(("dpd", "expected"), [
    (0, "substandard"), (30, "substandard"), (91, "substandard"), (200, "doubtful"), (400, "loss"),
])
def test_a_restructured_plan_is_at_least_substandard(dpd, expected):
    assert provisioning.loan_class_for(dpd, True, DEFAULTS) == expected


def test_a_changed_policy_moves_the_tiers_and_the_floor():
    policy = ClassificationPolicy(effective_from=date(2026, 1, 1), special_mention_from_dpd=31,
                                  substandard_from_dpd=61, doubtful_from_dpd=121, loss_from_dpd=241,
                                  restructured_at_least="special_mention")
    assert [provisioning.loan_class_for(d, False, policy) for d in (30, 31, 61, 121, 241)] == [
        "normal", "special_mention", "substandard", "doubtful", "loss"]
    assert provisioning.loan_class_for(0, True, policy) == "special_mention"
    assert provisioning.loan_class_for(70, True, policy) == "substandard"


def test_the_policy_on_a_day_is_the_latest_in_force():
    ClassificationPolicy.objects.create(effective_from=date(2026, 4, 1), substandard_from_dpd=61)
    assert provisioning.classification_policy_on(date(2026, 3, 31)).substandard_from_dpd == 91
    assert provisioning.classification_policy_on(date(2026, 4, 1)).substandard_from_dpd == 61


# --- Classifying the book -----------------------------------------------------------------------------

def test_classify_book_writes_history_only_on_change(product):
    current = _plan(product)
    late = _plan(product, state="overdue", dpd=95)
    restructured = _plan(product, state="restructured")
    extended = _plan(product)
    ServicingRequest.objects.create(
        plan=extended, kind=ServicingRequest.Kind.EXTENSION, origin=ServicingRequest.Origin.STAFF,
        status=ServicingRequest.Status.APPLIED, reason="hardship",
        decided_at=timezone.make_aware(datetime.combine(DAY, time(9))))
    paid = _plan(product, state="paid_off")
    written_off = _plan(product, state="written_off", dpd=400)

    assert provisioning.classify_book(DAY) == 5
    latest = {row.plan_id: row for row in PlanClassification.objects.filter(business_date=DAY)}
    assert {plan_id: row.loan_class for plan_id, row in latest.items()} == {
        current.pk: "normal", late.pk: "substandard", restructured.pk: "substandard", extended.pk: "substandard",
        written_off.pk: "loss"}
    assert paid.pk not in latest
    assert latest[late.pk].days_past_due == 95 and latest[late.pk].previous_class == ""
    assert latest[extended.pk].restructured and latest[restructured.pk].restructured
    assert not latest[current.pk].restructured

    assert provisioning.classify_book(DAY) == 0  # idempotent
    assert provisioning.classify_book(date(2026, 4, 1)) == 0  # nothing changed: no new rows

    _set_dpd(late, 181)
    _set_dpd(current, 3, "overdue")
    assert provisioning.classify_book(date(2026, 4, 2)) == 2
    history = provisioning.plan_classification_history(late)
    assert [(r.business_date, r.previous_class, r.loan_class) for r in history] == [
        (date(2026, 4, 2), "substandard", "doubtful"), (DAY, "", "substandard")]
    assert provisioning.plan_classification_history(current)[0].loan_class == "special_mention"
    assert len(provisioning.plan_classification_history(written_off)) == 1


def test_an_extension_applied_later_does_not_restructure_an_earlier_day(product):
    plan = _plan(product)
    ServicingRequest.objects.create(
        plan=plan, kind=ServicingRequest.Kind.REINSTALLMENT, origin=ServicingRequest.Origin.STAFF,
        status=ServicingRequest.Status.APPLIED, reason="arrears",
        decided_at=timezone.make_aware(datetime.combine(date(2026, 4, 5), time(9))))
    provisioning.classify_book(DAY)
    assert provisioning.plan_classification_history(plan)[0].loan_class == "normal"
    provisioning.classify_book(date(2026, 4, 5))
    assert provisioning.plan_classification_history(plan)[0].loan_class == "substandard"


# --- The month-end provision ----------------------------------------------------------------------

def _order(line: tuple) -> tuple:
    return line[0], line[1] or 0, line[2] or 0


def _lines(entry: JournalEntry) -> list[tuple]:
    """The entry's lines as (account code, plan id, product id, debit, credit), by account, plan, product."""
    return sorted(((line.account.code, line.plan_id, line.product_id, line.debit, line.credit)
                   for line in entry.lines.select_related("account")), key=_order)


def test_provision_holds_what_each_class_requires_then_releases_it(product):
    substandard = _plan(product, state="overdue", dpd=100)
    normal = _plan(product)
    _lend(substandard, "1000.00")
    _lend(normal, "100.00", "1.00")  # 1.5% of 101.00 = 1.515 -> 1.52 (half up, exact in cents)
    provisioning.classify_book(DAY)

    entry = provisioning.provision_post(DAY)
    assert entry.event_type == EventType.PROVISION and entry.value_date == DAY
    assert _lines(entry) == sorted([
        ("1401", normal.pk, product.pk, Decimal("0.00"), Decimal("1.52")),
        ("1401", substandard.pk, product.pk, Decimal("0.00"), Decimal("250.00")),
        ("5101", None, product.pk, Decimal("251.52"), Decimal("0.00")),
    ], key=_order)
    assert sum(line.debit for line in entry.lines.all()) == sum(line.credit for line in entry.lines.all())
    assert (_held(substandard), _held(normal)) == (Decimal("250.00"), Decimal("1.52"))

    assert provisioning.provision_post(DAY) is None  # nothing to add: idempotent
    assert JournalEntry.objects.filter(event_type=EventType.PROVISION).count() == 1

    _set_dpd(substandard, 0, "active")  # cured
    provisioning.classify_book(NEXT_MONTH)
    release = provisioning.provision_post(NEXT_MONTH)
    assert _lines(release) == [
        ("1401", substandard.pk, product.pk, Decimal("235.00"), Decimal("0.00")),
        ("5101", None, product.pk, Decimal("0.00"), Decimal("235.00")),
    ]
    assert _held(substandard) == Decimal("15.00")
    assert provisioning.provision_post(NEXT_MONTH) is None


def test_a_plan_no_longer_live_releases_its_allowance(product):
    plan = _plan(product, state="overdue", dpd=200)
    _lend(plan, "400.00")
    provisioning.classify_book(DAY)
    provisioning.provision_post(DAY)
    assert _held(plan) == Decimal("200.00")  # doubtful: 50%
    Plan.objects.filter(pk=plan.pk).update(state="paid_off")
    release = provisioning.provision_post(NEXT_MONTH)
    assert ("1401", plan.pk, product.pk, Decimal("200.00"), Decimal("0.00")) in _lines(release)
    assert _held(plan) == Decimal("0.00")


def test_a_product_per_summary_line(product):
    other = product_make()
    first, second = _plan(product, state="overdue", dpd=95), _plan(other, state="overdue", dpd=95)
    _lend(first, "200.00")
    _lend(second, "80.00")
    provisioning.classify_book(DAY)
    entry = provisioning.provision_post(DAY)
    summary = [line for line in _lines(entry) if line[0] == "5101"]
    assert summary == [("5101", None, product.pk, Decimal("50.00"), Decimal("0.00")),
                       ("5101", None, other.pk, Decimal("20.00"), Decimal("0.00"))]


def test_an_inactive_allowance_account_refuses_the_provision(product):
    plan = _plan(product, state="overdue", dpd=100)
    _lend(plan, "1000.00")
    provisioning.classify_book(DAY)
    closed = LedgerAccount.objects.create(code="1499", name="Old allowance", kind="asset", normal_side="credit",
                                          is_active=False)
    AccountMapping.objects.create(product=product, role="allowance", account=closed)
    with pytest.raises(DomainError) as refused:
        provisioning.provision_post(DAY)
    assert refused.value.field == "account"
    assert not JournalEntry.objects.filter(event_type=EventType.PROVISION).exists()


def test_nothing_to_provide_for_posts_nothing():
    assert provisioning.provision_post(DAY) is None


def test_summary_by_class(product):
    late = _plan(product, state="overdue", dpd=100)
    _plan(product)
    _lend(late, "1000.00", "20.00")
    provisioning.classify_book(DAY)
    provisioning.provision_post(DAY)
    summary = provisioning.classification_summary(DAY)
    rows = {row.loan_class: row for row in summary.rows}
    assert [row.loan_class for row in summary.rows] == ["normal", "special_mention", "substandard", "doubtful", "loss"]
    assert (rows["substandard"].plans, rows["substandard"].principal, rows["substandard"].held,
            rows["substandard"].required, rows["substandard"].coverage) == (
        1, Decimal("1000.00"), Decimal("255.00"), Decimal("255.00"), Decimal("25.00"))
    assert rows["normal"].plans == 1 and rows["normal"].principal == Decimal("0.00")
    assert summary.total.plans == 2


# --- Pages -------------------------------------------------------------------------------------------

def test_the_classification_page_shows_the_book_and_the_provisions(client_for, accountant, product):
    plan = _plan(product, state="overdue", dpd=100)
    _lend(plan, "1000.00")
    provisioning.classify_book(DAY)
    provisioning.provision_post(DAY)
    page = client_for(accountant).get(reverse("collections:books_classification"), {"on": DAY.isoformat()})
    assert page.status_code == 200
    body = page.content.decode()
    assert "Substandard" in body and "1,000.00" in body and "250.00" in body and "25.00%" in body
    assert "2026-03-31" in body  # the month-end provision's row


def test_the_classification_page_with_a_bad_date_says_so(client_for, accountant):
    page = client_for(accountant).get(reverse("collections:books_classification"), {"on": "31/03/2026"})
    assert page.status_code == 400 and b"is-invalid" in page.content


@pytest.mark.parametrize("role", ["customer", "officer"])
def test_the_classification_page_is_refused_to_other_roles(request, client_for, role):
    client = client_for(request.getfixturevalue(role))
    assert client.get(reverse("collections:books_classification")).status_code == 403


def test_the_classification_page_sends_the_anonymous_to_login(client):
    assert client.get(reverse("collections:books_classification")).status_code == 302


def test_the_staff_plan_page_shows_the_classification_history(client_for, make_user, product):
    plan = _plan(product, state="overdue", dpd=95)
    provisioning.classify_book(DAY)
    _set_dpd(plan, 190)
    provisioning.classify_book(NEXT_MONTH)
    page = client_for(make_user(Role.MANAGER)).get(reverse("collections:staff_plan", args=[plan.pk]))
    assert page.status_code == 200
    body = page.content.decode()
    assert 'id="plan-classification"' in body
    assert "Doubtful" in body and "since 2026-04-30" in body and "190" in body and "2026-03-31" in body
