"""The demo book is realistic (issue #18): `manage.py seed_demo` draws applicants who score like the
default model's training population, replays a year of business through the real services and the
close of business, so the manager's dashboard shows figures of that book."""

import io
from collections import Counter
from datetime import timedelta

import numpy as np
import pytest
from django.core.management import call_command
from django.utils import timezone
from faker import Faker

from collections_app.models import CobRun, PlanSnapshot
from customers import demo as customer_demo
from installments import demo as installments_demo
from installments.models import Application, Decision, KpiSnapshot, Plan
from scoring.models import ScoreResult, ScoringModelVersion
from scoring.scorecard import psi

DEMO_CUSTOMERS = 90  # enough scored applicants for a PSI that measures the population, not the noise


def test_demo_applicants_are_drawn_reproducibly_from_the_target_population():
    """Customer i is the same on every run; pay follows occupation and city tier (log-normal)."""
    fake_zh, fake_en = Faker("zh_CN"), Faker("en_US")

    def draw(i):
        g = np.random.default_rng([customer_demo.SEED, i])
        who = customer_demo._applicant(i, g)
        data = customer_demo._profile_data(i, g, who, fake_zh, fake_en)
        return who, data, customer_demo._lines(g, who, data)

    assert draw(7)[0] == draw(7)[0] and draw(7)[2] == draw(7)[2]
    people = [draw(i) for i in range(400)]
    pay = {tier: [w["pay"] for w, d, _ in people if w["tier"] == tier and d["employment_type"] == "salaried"]
           for tier in (1, 2, 3)}
    assert 6_000 < np.median(pay[2]) < 9_500
    assert np.median(pay[1]) > np.median(pay[2]) > np.median(pay[3])
    students = [w["pay"] for w, d, _ in people if d["employment_type"] == "student"]
    assert students and np.median(students) < 2_500
    late = sum(d["past_delinquencies"] > 0 for _, d, _ in people) / len(people)
    assert 0.08 < late < 0.3
    married = sum(d["marital_status"] == "married" for _, d, _ in people) / len(people)
    assert 0.5 < married < 0.85


def test_requests_follow_income_and_stay_within_the_products():
    g = np.random.default_rng(1)
    ranges = {spec["code"]: spec for spec in installments_demo.PRODUCTS}
    for _ in range(300):
        request = installments_demo.loan_request(g, monthly_income=7_500, employment_type="salaried")
        spec = ranges[request["product"]]
        assert spec["min_amount"] <= request["amount"] <= spec["max_amount"]
        assert spec["min_term_months"] <= request["term_months"] <= spec["max_term_months"]


@pytest.mark.django_db
def test_seed_demo_replays_a_realistic_book_once():
    out = io.StringIO()
    call_command("seed_demo", customers=DEMO_CUSTOMERS, stdout=out)
    seeded_book = out.getvalue()
    today = timezone.localdate()
    # Scores: the demo applicants look like the population the active model was trained on.
    version = ScoringModelVersion.objects.get(is_active=True)
    scores = list(ScoreResult.objects.filter(model_version=version).values_list("score", flat=True))
    assert len(scores) >= 100
    stability = psi(version.training_scores, scores)
    assert stability < 0.25, f"PSI of the demo applicants' scores against training: {stability:.3f}"
    assert version.label.startswith("consumer-credit-demo")

    # Decisions: taken by staff some time after submission (knock-outs are decided at once).
    decisions = Decision.objects.select_related("application")
    assert decisions.count() >= 20
    for decision in decisions:
        application = decision.application
        if application.decided_at is not None:
            assert application.decided_at > application.submitted_at, application.pk
    hours = [(a.decided_at - a.submitted_at).total_seconds() / 3600
             for a in Application.objects.filter(decisions__isnull=False, decided_at__isnull=False).distinct()]
    assert 1 < np.median(hours) < 96
    assert len({a.submitted_at.date() for a in Application.objects.exclude(submitted_at=None)}) > 30

    # The history: closed days through the year, snapshots at the month-ends.
    assert CobRun.objects.filter(business_date__lt=today - timedelta(days=300)).exists()
    month_ends = {d for d in PlanSnapshot.objects.values_list("business_date", flat=True).distinct()
                  if (d + timedelta(days=1)).day == 1}
    assert len(month_ends) >= 6

    # Some plans are in arrears with us, most are not; some were paid off early.
    states = Counter(Plan.objects.values_list("state", flat=True))
    live = states["active"] + states["overdue"]
    assert states["overdue"] > 0 and states["overdue"] < 0.5 * live, states
    assert states["paid_off"] > 0, states

    # The dashboard's figures are the book's: real roll rates and decision times.
    summary = KpiSnapshot.objects.get(range_kind="all", product=None).payload
    assert summary["kpis"]["decision_count"] > 0 and summary["kpis"]["median_hours"] > 0
    rates = summary["roll_rates"]["rates"]
    stay_current = rates[0][0]
    assert stay_current is not None and 0.5 < stay_current < 1, rates[0]
    flat = [r for row in summary["roll_rates"]["counts"] for r in row]
    assert sum(flat) > 50
    par = [point["par30"] for point in summary["par_trend"] if point["par30"] is not None]
    assert any(value > 0 for value in par) and all(value < 0.5 for value in par)
    assert any(any(p > 0 for p in cohort["points"]) for cohort in summary["vintages"])
    assert "history of 12 months replayed" in seeded_book

    # Running it again adds nothing.
    counts = (Application.objects.count(), Plan.objects.count(), CobRun.objects.count(), ScoreResult.objects.count())
    call_command("seed_demo", customers=DEMO_CUSTOMERS, stdout=io.StringIO())
    assert counts == (Application.objects.count(), Plan.objects.count(), CobRun.objects.count(),
                      ScoreResult.objects.count())




def test_the_demo_clock_moves_django_time_and_gives_it_back():
    from datetime import datetime

    before = timezone.now()
    moment = timezone.make_aware(datetime(2025, 3, 4, 10, 30))
    with customer_demo.demo_clock(moment) as clock:
        assert timezone.now() == moment and timezone.localdate().isoformat() == "2025-03-04"
        assert isinstance(timezone.now(), datetime)
        clock.set(moment - timedelta(hours=1))  # never backwards
        assert timezone.now() == moment
        clock.set(moment + timedelta(days=2))
        assert timezone.localdate().isoformat() == "2025-03-06"
    assert timezone.now() >= before
