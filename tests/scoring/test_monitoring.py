"""Monitoring: PSI snapshots on a known shifted sample, the command and the beat task; the fairness
report with the four-fifths rule; outcomes from our own book and retraining on them."""

import math
from datetime import date, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from installments.assessment import book, monitoring
from installments.assessment.selectors import fairness_report
from installments.models import Application, Contract, Installment, Offer, Plan, ScheduleVersion
from scoring import registry
from scoring.models import MonitoringSnapshot, ScoreResult, ScoringModelVersion
from tests.factories import CustomerProfileFactory, UserFactory, resident_id


def _plain(value):
    return None if isinstance(value, float) and math.isnan(value) else value


def store_results(version, card, frame, *, customer, product, when=None):
    """One submitted application and stored ScoreResult per row of `frame` (schema features)."""
    scored = card.score_frame(frame)
    results = []
    for (_, row), (_, score) in zip(frame.iterrows(), scored.iterrows(), strict=True):
        application = Application.objects.create(customer=customer, product=product, amount=Decimal("10000"),
                                                 term_months=12, state=Application.State.SCORED)
        results.append(ScoreResult.objects.create(
            application=application, model_version=version, score=int(score["score"]),
            pd=Decimal(str(round(score["pd"], 6))), grade=score["grade"], duration_ms=1.0,
            features={k: _plain(v) for k, v in row.items()}, scored_at=when or timezone.now(),
        ))
    return results


@pytest.fixture
def card(model_version):
    return registry.model_version_scorecard(model_version)


def test_a_sample_like_the_training_data_is_stable(model_version, card, german, customer, product):
    X, _ = german
    store_results(model_version, card, X.sample(400, random_state=1), customer=customer, product=product)
    snapshot = monitoring.monitoring_snapshot_record()
    assert snapshot.applications == 400
    assert snapshot.score_status == "stable" and snapshot.score_psi < 0.1
    assert set(snapshot.characteristics) == set(card.feature_names)
    assert all(c["status"] == "stable" for c in snapshot.characteristics.values())
    assert sum(snapshot.grade_distribution.values()) == 400
    shares = snapshot.score_distribution
    assert sum(b["expected"] for b in shares) == pytest.approx(1.0) and sum(b["actual"] for b in shares) == \
        pytest.approx(1.0)


def test_a_shifted_sample_is_flagged_act(model_version, card, german, customer, product):
    X, _ = german
    risky = X[X["checking_status"] == "negative"]
    store_results(model_version, card, risky, customer=customer, product=product)
    snapshot = monitoring.monitoring_snapshot_record()
    assert snapshot.characteristics["checking_status"]["status"] == "act"
    assert snapshot.worst_status == "act"
    assert snapshot.score_psi > 0.1
    # Re-running the period replaces the snapshot rather than adding one.
    monitoring.monitoring_snapshot_record()
    assert MonitoringSnapshot.objects.count() == 1


def test_results_outside_the_period_or_of_another_version_are_not_counted(model_version, card, german, customer,
                                                                            product):
    X, _ = german
    last_month = timezone.now() - timedelta(days=40)
    store_results(model_version, card, X.head(20), customer=customer, product=product, when=last_month)
    snapshot = monitoring.monitoring_snapshot_record()
    assert snapshot.applications == 0 and snapshot.score_psi is None
    assert snapshot.score_distribution  # the training distribution is still there to show


def test_the_command_and_the_beat_task_record_snapshots(model_version, card, german, customer, product):
    X, _ = german
    store_results(model_version, card, X.head(50), customer=customer, product=product)
    out = StringIO()
    call_command("scoring_monitor", stdout=out)
    assert "50 applications" in out.getvalue() and "score" in out.getvalue()
    from installments.assessment.tasks import record_monitoring_snapshot

    result = record_monitoring_snapshot.apply().get()
    yesterday = timezone.localdate() - timedelta(days=1)
    assert MonitoringSnapshot.objects.filter(pk=result["snapshot"], period_end=yesterday,
                                             period_start=yesterday.replace(day=1)).exists()


def _decided(product, *, sex, approved, n, age_birth=date(1990, 5, 1), offset=0):
    for i in range(n):
        user = UserFactory(roles=["customer"])
        CustomerProfileFactory(user=user, id_number=resident_id(offset + i, sex=sex, birth_date=age_birth))
        state = Application.State.APPROVED if i < approved else Application.State.DECLINED
        Application.objects.create(customer=user, product=product, amount=Decimal("5000"), state=state,
                                   submitted_at=timezone.now(), decided_at=timezone.now())


def test_fairness_report_flags_a_group_below_four_fifths(db, product):
    _decided(product, sex="male", approved=8, n=10, offset=0)
    _decided(product, sex="female", approved=5, n=10, offset=100, age_birth=date(2003, 5, 1))
    report = fairness_report()
    by_sex = {row["group"]: row for row in report["sex"]}
    assert by_sex["male"]["approval_rate"] == pytest.approx(0.8) and not by_sex["male"]["flagged"]
    assert by_sex["female"]["approval_rate"] == pytest.approx(0.5)
    assert by_sex["female"]["impact_ratio"] == pytest.approx(0.625) and by_sex["female"]["flagged"]
    by_age = {row["group"]: row for row in report["age_band"]}
    assert by_age["under 25"]["decided"] == 10 and by_age["35-44"]["decided"] == 10
    assert by_age["under 25"]["flagged"]
    assert report["decided"] == 20


def test_fairness_within_four_fifths_is_not_flagged(db, product):
    _decided(product, sex="male", approved=5, n=10, offset=0)
    _decided(product, sex="female", approved=9, n=20, offset=100)
    assert not any(row["flagged"] for row in fairness_report()["sex"])


# --- Our own book --------------------------------------------------------------------------------

def make_plan(application, *, disbursed: date, days_late: int = 0, paid_late_days: int | None = None,
              booked_late_days: int | None = None):
    offer = Offer.objects.create(application=application, method="annuity", amount=application.amount,
                                 term_months=12, annual_rate=Decimal("12"), installment=Decimal("900"),
                                 total_interest=Decimal("800"), total_fees=Decimal("0"),
                                 total_payable=Decimal("10800"), apr=Decimal("12"), effective_annual_rate=Decimal("12.68"))
    contract = Contract.objects.create(application=application, offer=offer, content_html="<p>c</p>",
                                       content_sha256="0" * 64)
    plan = Plan.objects.create(number=f"PL-{application.pk}", application=application, contract=contract,
                               customer=application.customer, product=application.product, method="annuity",
                               principal=application.amount, annual_rate=Decimal("12"), disbursement_date=disbursed)
    version = ScheduleVersion.objects.create(plan=plan, version=1, reason="initial")
    due = disbursed + timedelta(days=30)
    # A paid installment has its value date (`paid_on`, when the money came) and its booking (`paid_at`).
    paid_on = None if paid_late_days is None else due + timedelta(days=paid_late_days)
    booked = paid_late_days if booked_late_days is None else booked_late_days
    paid_at = None if paid_on is None else timezone.make_aware(
        timezone.datetime.combine(due + timedelta(days=booked), timezone.datetime.min.time()))
    Installment.objects.create(plan=plan, version=version, number=1, due_date=due, principal_due=Decimal("800"),
                               interest_due=Decimal("100"), days_past_due=days_late, paid_at=paid_at,
                               paid_on=paid_on, status="paid" if paid_on else "overdue")
    return plan


def test_book_outcomes_count_30_days_late_within_12_months(db, customer, product):
    disbursed = date(2024, 1, 15)
    plans = []
    # The last: the money came on the due date, the bank file was booked 40 days later: not late.
    for late, paid_late, booked in ((0, None, None), (45, None, None), (0, 31, None), (0, 29, None), (0, 0, 40)):
        application = Application.objects.create(customer=customer, product=product, amount=Decimal("9000"))
        plans.append(make_plan(application, disbursed=disbursed, days_late=late, paid_late_days=paid_late,
                               booked_late_days=booked))
    outcomes = book.book_outcomes([{"pk": p.pk, "disbursement_date": p.disbursement_date} for p in plans])
    assert [outcomes[p.pk] for p in plans] == [0, 1, 1, 0, 0]


def test_retraining_from_the_book_uses_stored_features_and_outcomes(model_version, card, german, customer, product):
    X, y = german
    sample = X.sample(300, random_state=3)
    results = store_results(model_version, card, sample, customer=customer, product=product)
    old = timezone.localdate() - timedelta(days=500)
    for result, bad in zip(results, y.loc[sample.index], strict=True):
        make_plan(result.application, disbursed=old, days_late=40 if bad else 0)
    out = StringIO()
    call_command("train_scoring_model", "--from-book", "--label", "own-book", stdout=out)
    version = ScoringModelVersion.objects.get(label="own-book")
    assert version.training_rows == 300
    assert version.target_definition == book.BOOK_TARGET_DEFINITION
    assert version.bad_rate == pytest.approx(float(y.loc[sample.index].mean()))
    assert version.source.startswith("Own book: 300 plans")
