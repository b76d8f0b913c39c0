"""Honest monitoring (issue #18): the fairness page states exactly what the active model scores on,
bad rates come from value-date outcomes, the four-fifths rule runs on approvals and on outcomes, and
population stability is shown per model characteristic with psi_status's action bands."""

import re
from datetime import timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from django.urls import reverse
from django.utils import timezone

from collections_app.servicing.payments import payment_record
from customers.roles import Role
from installments.assessment import book, monitoring
from installments.assessment.selectors import fairness_report
from installments.models import Application, Installment
from scoring import registry
from scoring.features import FEATURES_BY_NAME, PROTECTED_ATTRIBUTES
from scoring.models import ScoreResult
from scoring.scorecard import psi_status
from tests.collections_app.factories import days_ago, plan_by_hand, product_make, staff_make
from tests.conftest import verify_two_factor
from tests.factories import CustomerProfileFactory, UserFactory, resident_id


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def tiny_training_frame(*, with_age: bool, n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """Applicants whose risk rises for the young (when `with_age`), renters and a high debt-to-income."""
    rng = np.random.default_rng(seed)
    age = rng.integers(20, 70, n)
    housing = rng.choice(["own", "rent", "family"], n)
    dti = rng.uniform(0.05, 0.8, n)
    logit = -1.5 + (age < 30) * 1.5 * with_age + (housing == "rent") * 1.0 + (dti > 0.5) * 1.5
    y = pd.Series((rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype("int64"), name="bad")
    X = pd.DataFrame({"housing": housing, "debt_to_income": dti})  # noqa: N806
    if with_age:
        X.insert(0, "age", age.astype("float64"))
    return X, y


def tiny_model(*, with_age: bool, label: str):
    X, y = tiny_training_frame(with_age=with_age)  # noqa: N806
    version = registry.model_version_train(features=X, target=y, source="Tiny synthetic sample", label=label,
                                           activate=True)
    return version, registry.model_version_scorecard(version), X


@pytest.fixture
def age_model(db):
    return tiny_model(with_age=True, label="tiny-with-age")


@pytest.fixture
def ageless_model(db):
    return tiny_model(with_age=False, label="tiny-without-age")


def monitoring_page(client, manager, **headers) -> str:
    client.force_login(manager, backend="customers.backends.ModelBackendWithRoles")
    verify_two_factor(client, manager)
    response = client.get(reverse("scoring_monitoring"), **headers)
    assert response.status_code == 200
    return response.content.decode()


def listed_features(page: str, element_id: str) -> list[str]:
    start = page.index(f'id="{element_id}"')
    end = page.index("</ul>" if element_id.endswith("list") else "</table>", start)
    return re.findall(r'data-feature="([^"]+)"', page[start:end])


# --- What the active model scores on ---------------------------------------------------------------

def test_the_page_lists_exactly_the_active_models_features_with_their_labels(age_model, manager, client):
    version, card, _ = age_model
    assert "age" in card.feature_names  # the tiny model is built to use age
    page = monitoring_page(client, manager)
    assert sorted(listed_features(page, "model-input-list")) == sorted(card.feature_names)
    for name in card.feature_names:
        assert FEATURES_BY_NAME[name].label in page
    assert "tiny-with-age" in page


def test_the_page_in_chinese_names_the_features_by_their_chinese_labels(age_model, manager, client):
    _, card, _ = age_model
    page = monitoring_page(client, manager, HTTP_ACCEPT_LANGUAGE="zh-hans")
    inputs = page[page.index('id="model-input-list"'):page.index("</ul>", page.index('id="model-input-list"'))]
    for name in card.feature_names:
        assert FEATURES_BY_NAME[name].label_zh in inputs


def test_the_page_says_plainly_that_age_is_an_input_and_never_claims_otherwise(age_model, manager, client):
    page = monitoring_page(client, manager)
    assert "This model scores on sensitive characteristics: Age." in page
    assert "Age is a scoring input" in page
    never = page[page.index('id="protected-never"'):]
    never = never[:never.index("</p>")]
    assert "age" not in never.lower()  # "Never inputs of this model: sex, gender, ..." and nothing of age
    for text in ("Sex and age are never", "age are never scoring inputs", "never scoring inputs"):
        assert text not in page
    assert 'id="protected-used"' not in page


def test_the_page_names_every_protected_attribute_the_model_never_uses(age_model, manager, client):
    _, card, _ = age_model
    inputs = monitoring.model_inputs(card)
    assert inputs["protected_never"] == list(PROTECTED_ATTRIBUTES) and inputs["protected_used"] == []
    page = monitoring_page(client, manager)
    never = page[page.index('id="protected-never"'):]
    never = never[:never.index("</p>")]
    for words in ("sex", "gender", "ethnicity", "race", "nationality", "foreign-worker status", "religion"):
        assert words in never


def test_a_model_without_age_is_not_said_to_use_it(ageless_model, manager, client):
    _, card, _ = ageless_model
    assert "age" not in card.feature_names
    page = monitoring_page(client, manager)
    assert "age" not in listed_features(page, "model-input-list")
    assert "This model uses none of these sensitive characteristics: Age, Marital status, Number of dependants." \
        in page
    assert "Age is a scoring input" not in page


# --- Population stability per characteristic --------------------------------------------------------

def test_the_psi_bands_on_the_page_are_the_ones_psi_status_applies(db, manager, client):
    watch, act = monitoring.PSI_WATCH_FROM, monitoring.PSI_ACT_ABOVE
    assert psi_status(watch - 1e-9) == "stable" and psi_status(watch) == "watch"
    assert psi_status(act) == "watch" and psi_status(act + 1e-9) == "act"


def store_scored(version, card, frame, *, when=None):
    customer = UserFactory(roles=[Role.CUSTOMER])
    product = product_make()
    scored = card.score_frame(frame)
    for (_, row), (_, score) in zip(frame.iterrows(), scored.iterrows(), strict=True):
        application = Application.objects.create(customer=customer, product=product, amount=Decimal("10000"),
                                                 term_months=12, state=Application.State.SCORED)
        ScoreResult.objects.create(
            application=application, model_version=version, score=int(score["score"]),
            pd=Decimal(str(round(score["pd"], 6))), grade=score["grade"], duration_ms=1.0,
            features={k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()},
            scored_at=when or timezone.now(),
        )


def test_too_few_applicants_are_never_a_call_to_act(age_model, monkeypatch):
    version, card, X = age_model  # noqa: N806
    young = X[X["age"] < 25].head(20)
    store_scored(version, card, young)
    snapshot = monitoring.monitoring_snapshot_record()
    assert snapshot.applications == 20 and snapshot.score_psi is not None
    assert snapshot.score_status == "few" and snapshot.worst_status == "few"
    assert {c["status"] for c in snapshot.characteristics.values()} == {"few"}
    monkeypatch.setattr(monitoring, "PSI_MIN_APPLICANTS", 10)
    assert monitoring.monitoring_snapshot_record().characteristics["age"]["status"] == "act"


def test_psi_rows_per_characteristic_with_status_and_the_score_psi(age_model, manager, client, monkeypatch):
    version, card, X = age_model  # noqa: N806
    monkeypatch.setattr(monitoring, "PSI_MIN_APPLICANTS", 10)  # judged however small the synthetic sample
    young = X[X["age"] < 25]  # only the youngest applicants this month: age shifts, the rest barely
    store_scored(version, card, young)
    snapshot = monitoring.monitoring_snapshot_record()
    assert set(snapshot.characteristics) == set(card.feature_names)
    assert snapshot.characteristics["age"]["status"] == "act"
    assert snapshot.score_psi is not None and snapshot.score_status == psi_status(snapshot.score_psi)

    page = monitoring_page(client, manager)
    psi_table = page[page.index('id="psi"'):page.index("</table>", page.index('id="psi"'))]
    rows = dict(re.findall(r'<tr data-feature="([^"]+)">.*?data-status="([^"]*)"', psi_table))
    assert set(rows) == set(card.feature_names)
    assert rows == {name: data["status"] for name, data in snapshot.characteristics.items()}
    assert f"{snapshot.characteristics['age']['psi']:.3f}" in psi_table
    assert 'id="psi-score"' in psi_table and f"{snapshot.score_psi:.3f}" in psi_table
    for text in ("PSI below 0.10: no action.", "PSI 0.10 to 0.25:", "PSI above 0.25:"):
        assert text in page


def test_before_any_snapshot_every_model_characteristic_is_listed_without_data(age_model, manager, client):
    _, card, _ = age_model
    page = monitoring_page(client, manager)
    psi_table = page[page.index('id="psi"'):page.index("</table>", page.index('id="psi"'))]
    assert sorted(re.findall(r'<tr data-feature="([^"]+)"', psi_table)) == sorted(card.feature_names)
    assert "No stability snapshot recorded yet for this model." in page


# --- Outcomes from value dates, and the four-fifths rule on them ------------------------------------

def customer_of(sex: str, n: int):
    user = UserFactory(roles=[Role.CUSTOMER])
    CustomerProfileFactory(user=user, id_number=resident_id(n, sex=sex))
    return user


def hand_built_plan(customer, product, *, bad: bool):
    """A plan disbursed 100 days ago with one installment due 70 days ago: 45 days past due and
    unpaid (bad), or paid on its due date (good)."""
    due = days_ago(70)
    plan = plan_by_hand(customer=customer, product=product, disbursed=days_ago(100), rows=[(due, "100.00", "10.00")])
    if bad:
        plan.installments.update(status=Installment.Status.OVERDUE, days_past_due=45)
    else:
        plan.installments.update(status=Installment.Status.PAID, days_past_due=0, paid_on=due,
                                 paid_at=timezone.now() - timedelta(days=70), principal_paid=Decimal("100.00"),
                                 interest_paid=Decimal("10.00"))
    return plan


def test_four_fifths_on_outcomes_from_a_hand_built_book(db, manager, client):
    product = product_make()
    # Everyone is approved (no approval flag); men repay 9 in 10, women 6 in 10: 0.6 / 0.9 < 4/5.
    for i in range(10):
        hand_built_plan(customer_of("male", i), product, bad=i >= 9)
        hand_built_plan(customer_of("female", 100 + i), product, bad=i >= 6)
    report = fairness_report()
    by_sex = {row["group"]: row for row in report["sex"]}
    male, female = by_sex["male"], by_sex["female"]
    assert male["approval_rate"] == female["approval_rate"] == 1.0
    assert not male["flagged"] and not female["flagged"]
    assert (male["plans"], male["bad"], male["good"]) == (10, 1, 9)
    assert (female["plans"], female["bad"], female["good"]) == (10, 4, 6)
    assert male["good_rate"] == pytest.approx(0.9) and female["good_rate"] == pytest.approx(0.6)
    assert male["outcome_impact_ratio"] == pytest.approx(1.0) and not male["outcome_flagged"]
    assert female["outcome_impact_ratio"] == pytest.approx(0.6 / 0.9) and female["outcome_flagged"]
    assert report["scored_by"] == [(None, 20)]

    page = monitoring_page(client, manager)
    female_row = re.search(r'<tr data-group="female".*?</tr>', page, re.S).group(0)
    assert re.search(r'data-check="approvals"><span class="badge text-bg-success">ok', female_row)
    assert re.search(r'data-check="outcomes"><span class="badge text-bg-danger">flagged', female_row)
    assert "60.0 %" in female_row and "0.67" in female_row
    assert "counted from each installment&#x27;s value date" in page or "counted from each installment's value date" \
        in page


def test_a_payment_booked_late_but_value_dated_on_time_is_not_a_bad(db):
    """Through the real payment service: the money came on the due date, the bank file was booked
    40+ days later (after the close of business had counted the installment 40+ days past due)."""
    product = product_make()
    officer = staff_make(Role.LOAN_OFFICER)
    due = days_ago(70)
    on_time = plan_by_hand(customer=customer_of("female", 1), product=product, disbursed=days_ago(100),
                           rows=[(due, "100.00", "10.00")])
    paid_late = plan_by_hand(customer=customer_of("female", 2), product=product, disbursed=days_ago(100),
                             rows=[(due, "100.00", "10.00")])
    for plan in (on_time, paid_late):  # what the close of business had recorded before the booking
        plan.installments.update(status=Installment.Status.OVERDUE, days_past_due=69)
    payment_record(plan=on_time, amount="110.00", received_on=due, channel="bank_import",
                   idempotency_key="value-dated-on-time", by=officer)
    payment_record(plan=paid_late, amount="110.00", received_on=due + timedelta(days=40), channel="bank_import",
                   idempotency_key="value-dated-late", by=officer)

    booked = on_time.installments.get()
    assert booked.status == Installment.Status.PAID and booked.paid_on == due
    assert timezone.localdate(booked.paid_at) - due >= timedelta(days=40)  # booked long after its value date
    outcomes = book.book_outcomes([{"pk": p.pk, "disbursement_date": p.disbursement_date}
                                   for p in (on_time, paid_late)])
    assert outcomes == {on_time.pk: 0, paid_late.pk: 1}
    female = next(row for row in fairness_report()["sex"] if row["group"] == "female")
    assert (female["plans"], female["bad"], female["good"]) == (2, 1, 1)
