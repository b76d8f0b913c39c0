"""Close of business on hand-built books: DPD, bucket edges, leap years, late charges within the cap,
idempotent re-runs, catch-up, crash safety, states, cases, promises, snapshots."""

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Max

from collections_app.collections import cases, cob
from collections_app.models import (
    AssignmentRule,
    CobRun,
    CollectionCase,
    InstallmentCharge,
    Payment,
    PlanSnapshot,
    PromiseToPay,
    ServicingPolicy,
    ServicingRequest,
)
from collections_app.servicing import payments
from config.errors import DomainError
from customers.models import AuditEvent
from customers.roles import Role
from installments.models import Installment, Plan
from tests.collections_app.factories import books_follow, days_ago, plan_by_hand, product_make, staff_make

pytestmark = pytest.mark.django_db
D = Decimal
DAY = date(2025, 6, 30)


def cents(value) -> Decimal:
    return Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def one_overdue(product, due: date, principal="1000.00", interest="0.00", **kwargs) -> Plan:
    return plan_by_hand(product=product, disbursed=due - timedelta(days=30), rows=[(due, principal, interest)],
                        **kwargs)


@pytest.fixture
def quiet_product(db):
    """A product that charges nothing for lateness (DPD tests)."""
    return product_make(late_fee_flat=D("0"), penalty_rate=D("0"))


@pytest.mark.parametrize("dpd, bucket, term_class", [
    (0, "current", "current"), (1, "1-30", "short"), (30, "1-30", "short"), (31, "31-60", "medium"),
    (60, "31-60", "medium"), (61, "61-90", "medium"), (90, "61-90", "medium"), (91, "90+", "long"),
])
def test_days_past_due_and_bucket_edges(quiet_product, dpd, bucket, term_class):
    plan = one_overdue(quiet_product, DAY - timedelta(days=dpd))
    cob.run_cob(DAY)
    plan.refresh_from_db()
    row = plan.installments.get()
    assert plan.days_past_due == dpd and plan.bucket == bucket
    assert row.days_past_due == dpd
    assert row.status == ("due" if dpd == 0 else "overdue")
    assert plan.state == ("active" if dpd == 0 else "overdue")
    snapshot = PlanSnapshot.objects.get(plan=plan, business_date=DAY)
    assert (snapshot.bucket, snapshot.term_class, snapshot.days_past_due) == (bucket, term_class, dpd)


def test_plan_dpd_is_the_oldest_unpaid_installments_and_future_ones_stay_pending(quiet_product):
    plan = plan_by_hand(product=quiet_product, disbursed=DAY - timedelta(days=100), rows=[
        (DAY - timedelta(days=70), "100", "1"), (DAY - timedelta(days=40), "100", "1"), (DAY - timedelta(days=10),
                                                                                         "100", "1"),
        (DAY + timedelta(days=20), "100", "1")])
    Installment.objects.filter(plan=plan, number=1).update(status="paid", principal_paid=100, interest_paid=1)
    books_follow(plan)
    cob.run_cob(DAY)
    plan.refresh_from_db()
    rows = {r.number: r for r in plan.installments.all()}
    assert rows[1].status == "paid" and rows[2].days_past_due == 40 and rows[3].days_past_due == 10
    assert rows[4].status == "pending" and plan.days_past_due == 40 and plan.bucket == "31-60"


def test_leap_years_count_the_29th_of_february(quiet_product):
    day = date(2024, 3, 1)
    short = one_overdue(quiet_product, date(2024, 2, 28))
    year = one_overdue(quiet_product, date(2023, 3, 1))
    cob.run_cob(day)
    short.refresh_from_db()
    year.refresh_from_db()
    assert short.days_past_due == 2 and year.days_past_due == 366 and year.bucket == "90+"


def test_late_fee_once_and_penalty_interest_accrue_daily_below_the_cap(db):
    product = product_make(late_fee_flat=D("1.00"), penalty_rate=D("12"), max_apr=D("24"))
    due = DAY - timedelta(days=10)
    plan = one_overdue(product, due, principal="1000.00")
    cob.run_cob(due + timedelta(days=1), start=due + timedelta(days=1))
    cob.run_cob(DAY)  # catches up day by day
    row = plan.installments.get()
    charge = InstallmentCharge.objects.get(installment=row)
    assert charge.late_fee_charged == D("1.00") and charge.late_fee_on == due + timedelta(days=1)
    assert abs(charge.penalty_interest - D("1000") * 12 * 10 / 36500) < D("0.00001")  # 6 decimals a day
    assert row.penalty_due == cents(D("1") + D("1000") * 12 * 10 / 36500)  # 4.29, under the cap of 6.58
    assert CobRun.objects.filter(status="done").count() == 10


def test_late_charges_never_exceed_the_legal_apr_on_the_arrears(db):
    # A 50.00 fee and 36% penalty on 1000 of arrears: the charges are held to 24% a year of 1000.
    product = product_make(late_fee_flat=D("50.00"), penalty_rate=D("36"), max_apr=D("24"))
    for dpd in (1, 10, 45):
        plan = one_overdue(product, DAY - timedelta(days=dpd), principal="900.00", interest="100.00")
        del plan
    cob.run_cob(DAY)
    for row in Installment.objects.filter(plan__product=product):
        cap = cents(D("1000") * 24 * row.days_past_due / 36500)
        assert row.penalty_due == cap
        charge = InstallmentCharge.objects.get(installment=row)
        assert charge.penalty_rate == D("24")  # the penalty rate itself is held to the APR cap
    # Later the 50.00 fee plus 24% interest is under the growing cap? No: fee + interest is always above
    # interest alone, so the cap binds for ever; a smaller fee is reached after a while (previous test).


def test_grace_days_delay_charges_which_then_count_from_the_due_date(db):
    product = product_make(late_fee_flat=D("5.00"), penalty_rate=D("18"))
    ServicingPolicy.objects.create(product=product, late_fee_grace_days=5)
    due = DAY - timedelta(days=7)
    plan = one_overdue(product, due)
    cob.run_cob(due + timedelta(days=5), start=due + timedelta(days=1))
    assert plan.installments.get().penalty_due == 0
    cob.run_cob(due + timedelta(days=6))
    charge = InstallmentCharge.objects.get(plan=plan)
    assert charge.late_fee_on == due + timedelta(days=6)
    assert abs(charge.penalty_interest - D("1000") * 18 * 6 / 36500) < D("0.00001")


def test_an_interest_freeze_stops_accrual_without_catching_up_afterwards(db, approver_user):
    product = product_make(late_fee_flat=D("0"), penalty_rate=D("18"))
    due = DAY - timedelta(days=10)
    plan = one_overdue(product, due)
    ServicingRequest.objects.create(plan=plan, kind="interest_freeze", origin="staff", status="applied",
                                    starts_on=due + timedelta(days=3), ends_on=due + timedelta(days=6), reason="ill",
                                    requested_by=approver_user)
    cob.run_cob(DAY, start=due + timedelta(days=1))
    charge = InstallmentCharge.objects.get(plan=plan)
    assert abs(charge.penalty_interest - D("1000") * 18 * 6 / 36500) < D("0.00001")  # 10 days less 4 frozen


def test_rerunning_a_closed_day_changes_nothing(db, collector_user):
    product = product_make()
    AssignmentRule.objects.create(bucket="1-30", collector=collector_user)
    for dpd in (0, 3, 40, 95):
        one_overdue(product, DAY - timedelta(days=dpd))

    def book():
        return (
            list(Installment.objects.order_by("pk").values()), list(Plan.objects.order_by("pk").values()),
            list(InstallmentCharge.objects.order_by("pk").values()),
            list(CollectionCase.objects.order_by("pk").values()), list(PlanSnapshot.objects.order_by("pk").values()),
            AuditEvent.objects.count(),
        )

    first = cob.run_cob(DAY)
    after = book()
    again = cob.run_cob(DAY)
    assert again[0].pk == first[0].pk and again[0].skipped
    forced = cob.run_cob(DAY, force=True)
    assert forced[0].counts["charges_accrued"] == 0 and forced[0].counts["snapshots"] == 0
    assert book() == after


def test_a_missed_week_is_caught_up_day_by_day(quiet_product):
    plan = one_overdue(quiet_product, DAY - timedelta(days=3))
    cob.run_cob(DAY - timedelta(days=7))
    runs = cob.run_cob(DAY)
    assert [r.business_date for r in runs] == [DAY - timedelta(days=n) for n in range(6, -1, -1)]
    assert list(PlanSnapshot.objects.filter(plan=plan).order_by("business_date").values_list(
        "days_past_due", flat=True)) == [0, 0, 0, 0, 0, 1, 2, 3]
    assert cob.run_cob(DAY - timedelta(days=2))[0].skipped  # closed already
    with pytest.raises(DomainError):
        cob.run_cob(DAY - timedelta(days=10))  # days are closed in order: never before the last closed day
    with pytest.raises(DomainError):
        cob.run_cob(DAY - timedelta(days=1), force=True)


def test_a_crash_leaves_no_half_closed_day_and_the_next_run_resumes(quiet_product, monkeypatch):
    plan = one_overdue(quiet_product, DAY - timedelta(days=5))

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(cob, "_term_class_case", boom)  # the last step: everything before it must roll back
    with pytest.raises(RuntimeError):
        cob.run_cob(DAY)
    run = CobRun.objects.get(business_date=DAY)
    assert run.status == "failed" and "disk full" in run.error and run.attempts == 1
    assert plan.installments.get().status == "pending" and not CollectionCase.objects.exists()
    assert Plan.objects.get(pk=plan.pk).state == "active"
    monkeypatch.undo()
    cob.run_cob(DAY)
    run.refresh_from_db()
    assert run.status == "done" and run.attempts == 2
    assert Plan.objects.get(pk=plan.pk).days_past_due == 5


def test_state_changes_are_audited_in_bulk_by_the_system(quiet_product, officer_user):
    plan = one_overdue(quiet_product, days_ago(5), principal="100.00")
    cob.run_cob(days_ago(2))
    event = AuditEvent.objects.get(action="plan.state", target_id=str(plan.pk))
    assert (event.actor, event.from_state, event.to_state) == (None, "active", "overdue")
    assert event.data["business_date"] == days_ago(2).isoformat()
    payments.payment_record(plan=plan, amount=D("100.00"), idempotency_key="k", by=officer_user,
                            channel=Payment.Channel.OFFICER)
    plan.refresh_from_db()
    assert plan.state == "paid_off"


def test_cured_plans_go_back_to_active_and_their_case_closes(quiet_product, officer_user):
    plan = plan_by_hand(product=quiet_product, disbursed=days_ago(60), rows=[(days_ago(10), "100", "0"),
                                                                              (days_ago(-20), "100", "0")])
    cob.run_cob(days_ago(3))
    case = CollectionCase.objects.get(plan=plan)
    assert case.status == "open" and case.days_past_due == 7 and case.amount_overdue == D("100")
    Installment.objects.filter(plan=plan, number=1).update(status="paid", principal_paid=100)
    books_follow(plan)
    cob.run_cob(days_ago(2))
    plan.refresh_from_db()
    case.refresh_from_db()
    assert plan.state == "active" and plan.days_past_due == 0 and plan.bucket == "current"
    assert case.status == "closed" and case.close_reason == "cured"
    assert AuditEvent.objects.filter(action="plan.state", to_state="active", target_id=str(plan.pk)).exists()


def test_cases_open_and_are_assigned_by_bucket_rules(quiet_product):
    early = [staff_make(Role.COLLECTOR), staff_make(Role.COLLECTOR)]
    late = staff_make(Role.COLLECTOR)
    for collector in early:
        AssignmentRule.objects.create(bucket="1-30", collector=collector)
    AssignmentRule.objects.create(bucket="31-60", collector=late)
    plans = [one_overdue(quiet_product, DAY - timedelta(days=d)) for d in (2, 3, 4, 5)]
    far = one_overdue(quiet_product, DAY - timedelta(days=40))
    cob.run_cob(DAY)
    opened = {c.plan_id: c for c in CollectionCase.objects.all()}
    assert {opened[p.pk].assigned_to_id for p in plans} == {c.pk for c in early}
    assert opened[far.pk].assigned_to == late
    # A hand-assigned case keeps its collector; the others follow their bucket.
    manager = staff_make(Role.MANAGER)
    cases.case_assign(case=opened[plans[0].pk], collector=late, by=manager)
    cob.run_cob(DAY + timedelta(days=0), force=True)
    assert CollectionCase.objects.get(plan=plans[0]).assigned_to == late


def test_a_promise_is_broken_on_its_date_and_the_case_rises(quiet_product):
    plan = one_overdue(quiet_product, days_ago(20))
    cob.run_cob(days_ago(4))
    case = CollectionCase.objects.get(plan=plan)
    before = case.priority
    promise = PromiseToPay.objects.create(case=case, plan=plan, amount=D("200"), created_on=days_ago(4),
                                          promised_date=days_ago(2))
    cob.run_cob(days_ago(3))
    promise.refresh_from_db()
    assert promise.state == "open"
    cob.run_cob(days_ago(2))
    promise.refresh_from_db()
    case.refresh_from_db()
    assert promise.state == "broken" and promise.resolved_on == days_ago(2)
    assert case.broken_promises == 1 and case.priority > before + 25


def test_a_paid_promise_is_kept_not_broken(quiet_product, officer_user):
    plan = plan_by_hand(product=quiet_product, disbursed=days_ago(60), rows=[(days_ago(20), "500", "0"),
                                                                              (days_ago(-10), "500", "0")])
    cob.run_cob(days_ago(4))
    case = CollectionCase.objects.get(plan=plan)
    promise = PromiseToPay.objects.create(case=case, plan=plan, amount=D("200"), created_on=days_ago(4),
                                          promised_date=days_ago(2))
    Payment.objects.create(plan=plan, amount=D("200"), received_on=days_ago(3), channel="officer",
                           idempotency_key="x", allocated_amount=D("200"))
    books_follow(plan, cash="200", channel="officer")
    cob.run_cob(days_ago(2))
    promise.refresh_from_db()
    assert promise.state == "kept"


def test_snapshots_are_one_per_plan_and_day(quiet_product):
    one_overdue(quiet_product, DAY - timedelta(days=2))
    one_overdue(quiet_product, DAY + timedelta(days=5))
    cob.run_cob(DAY - timedelta(days=1))
    cob.run_cob(DAY)
    assert PlanSnapshot.objects.count() == 4
    assert PlanSnapshot.objects.aggregate(m=Max("principal_outstanding"))["m"] == D("1000.00")


def test_repayment_record_of_delinquent_customers_is_refreshed(quiet_product):
    from tests.factories import CustomerProfileFactory

    plan = one_overdue(quiet_product, DAY - timedelta(days=12), principal="300.00")
    profile = CustomerProfileFactory(user=plan.customer)
    if not hasattr(profile, "current_overdue"):
        pytest.skip("the customer profile has no repayment record fields")
    run = cob.run_cob(DAY)[0]
    profile.refresh_from_db()
    assert run.counts["profiles_updated"] == 1
    assert profile.max_days_past_due == 12 and profile.current_overdue == D("300.00")


def test_a_day_that_has_not_started_cannot_be_closed(db):
    with pytest.raises(DomainError):
        cob.run_cob(days_ago(-1))


def test_the_run_cob_command(quiet_product, capsys):
    one_overdue(quiet_product, DAY - timedelta(days=3))
    call_command("run_cob", "--date", DAY.isoformat())
    call_command("run_cob", "--from", (DAY + timedelta(days=1)).isoformat(), "--to", (DAY + timedelta(days=2)).isoformat())
    out = capsys.readouterr().out
    assert f"{DAY}: done" in out and f"{DAY + timedelta(days=2)}: done" in out
    call_command("run_cob", "--date", DAY.isoformat())
    with pytest.raises(CommandError):
        call_command("run_cob", "--date", (DAY - timedelta(days=5)).isoformat())
    with pytest.raises(CommandError):
        call_command("run_cob", "--from", DAY.isoformat())
