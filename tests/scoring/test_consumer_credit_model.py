"""The shipped default model: trained on the consumer-credit book, prior-corrected to the portfolio's
expected bad rate, graded by the PD master scale, scoring a missing optional characteristic as neutral;
and a panel of realistic applicants scored through the real online path."""

from datetime import date
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from django.core.management import call_command

from config.errors import DomainError
from customers.services import profile_repayment_record_update
from installments.assessment import online
from installments.models import Plan
from portal import services as portal_services
from scoring import consumer_credit, registry, training
from scoring.features import PROTECTED_ATTRIBUTES
from scoring.models import ScoringModelVersion
from scoring.scorecard import prior_correction
from tests.factories import resident_id
from tests.scoring.conftest import add_statement
from tests.scoring.test_scoring_caches import make_plan

RATE = 0.08


@pytest.fixture(scope="module")
def book():
    return consumer_credit.load_consumer_credit()


@pytest.fixture
def default_model(db, settings):
    settings.SCORING_PORTFOLIO_BAD_RATE = RATE
    return registry.model_version_train_default(label="consumer-default", activate=True)


def test_the_book_is_the_documented_consumer_credit_data(book):
    X, y = book
    assert len(X) == 4454 and int(y.sum()) == 1254
    assert not set(X.columns) & set(PROTECTED_ATTRIBUTES)
    # One money factor for every column: ratios are the source's.
    source = consumer_credit.load_source()
    ratio = X["monthly_expenses"] / X["monthly_income"]
    assert np.allclose(ratio.dropna(), (source["Expenses"] / source["Income"]).dropna())
    assert X["monthly_income"].median() == pytest.approx(7500)
    assert set(X["housing"].dropna()) == {"own", "rent", "family"}
    assert set(X["employment_type"].dropna()) == {"salaried", "self_employed"}


def test_the_default_model_ranks_well_and_income_weighs(default_model):
    metrics = default_model.metrics
    assert metrics["cross_validation"]["auc"] >= 0.80 and metrics["cross_validation"]["ks"] >= 0.45
    assert "monthly_income" in metrics["selected_features"] and metrics["feature_iv"]["monthly_income"] > 0.1
    assert default_model.is_active and "modeldata credit_data" in default_model.source
    assert metrics["challenger"]["challenger"]["auc"] > 0.75


def test_the_pd_is_prior_corrected_to_the_portfolio_bad_rate(default_model, book):
    prior = default_model.metrics["prior_correction"]
    assert prior["target_bad_rate"] == RATE and prior["train_bad_rate"] == pytest.approx(1254 / 4454)
    assert prior["log_odds_shift"] == pytest.approx(prior_correction(1254 / 4454, RATE))
    pds = registry.model_version_scorecard(default_model).score_frame(book[0])["pd"]
    # The sample's mean PD moves from its own bad rate to about the portfolio's (not exactly: the
    # correction shifts log-odds, not the mean).
    assert 0.5 * RATE < pds.mean() < 1.5 * RATE


def test_grades_come_from_the_master_scale_whatever_the_version(default_model, book, settings):
    card = registry.model_version_scorecard(default_model)
    scored = card.score_frame(book[0].head(500))
    edges = (0.0, *settings.SCORING_MASTER_SCALE, 1.0)
    for grade, low, high in zip("ABCDEFG", edges, edges[1:], strict=False):
        pds = scored.loc[scored["grade"] == grade, "pd"]
        # Points are integers, so a band edge can be missed by the PD of less than a point.
        assert ((pds >= low * 0.95) & (pds <= high * 1.05)).all(), grade


def test_a_missing_optional_characteristic_scores_neutral_and_a_required_one_does_not(default_model, settings):
    card = registry.model_version_scorecard(default_model)
    feature = next(f for f in card.features if f.name == "years_in_job")
    assert "years_in_job" not in registry.required_characteristics()
    applicant = {"age": 35, "employment_type": "salaried", "housing": "own", "marital_status": "married",
                 "monthly_income": 9000, "monthly_expenses": 3000, "total_assets": 200000,
                 "existing_debt_balance": 0, "payment_to_income": 0.15, "requested_amount": 20000,
                 "term_months": 12, "past_delinquencies": 0, "years_in_job": None}
    optional = card.score_one(applicant)
    assert optional.points_by_feature["years_in_job"] == feature.unseen_points  # WOE 0
    missing_reason = next(r for r in optional.reason_codes if r.code == "R_YEARS_IN_JOB_MISSING")
    assert "scored as the average applicant" in missing_reason.text_en and "按平均水平计分" in missing_reason.text_zh
    settings.SCORING_REQUIRED_CHARACTERISTICS = (*settings.SCORING_REQUIRED_CHARACTERISTICS, "years_in_job")
    required = registry.model_version_scorecard(default_model).score_one(applicant)
    assert required.points_by_feature["years_in_job"] == feature.missing_points < feature.unseen_points
    assert required.score < optional.score
    assert "average" not in next(r for r in required.reason_codes if r.feature == "years_in_job").text_en


def test_the_wizard_asks_for_an_optional_input_only_when_the_policy_requires_it(db, settings, make_customer):
    customer = make_customer()
    assert "statement" not in portal_services.required_inputs()
    codes = [m.code for m in portal_services.application_missing(user=customer, steps=("documents",))]
    assert "statement" not in codes
    settings.SCORING_REQUIRED_CHARACTERISTICS = ("checking_status",)
    assert portal_services.required_inputs() == {"statement"}
    missing = portal_services.application_missing(user=customer, steps=("documents",))
    assert [(m.step, m.code) for m in missing if m.code == "statement"] == [("documents", "statement")]


# --- A panel of realistic applicants, through the real online scoring ----------------------------------

PANEL = {
    "clean salaried": dict(
        profile={"employment_type": "salaried", "years_in_job": Decimal("8"), "housing": "own",
                 "marital_status": "married", "id_number": resident_id(901, birth_date=date(1986, 5, 1))},
        lines={"income": "24000", "expenses": "5000", "assets": [("savings", "150000"), ("property", "900000")]},
        amount="30000", term=12),
    "seasonal small-shop owner": dict(
        profile={"employment_type": "business_owner", "occupation": "trader", "years_in_job": Decimal("6"),
                 "housing": "mortgage", "marital_status": "married", "id_number": resident_id(902, birth_date=date(1980, 2, 1)),
                 "employer": ""},
        lines={"income": "11000", "expenses": "4000", "debts": [("car_loan", "40000", "1500")],
               "assets": [("savings", "40000")]},
        amount="20000", term=12, statement={"volatility": "0.4500", "regularity": "0.5000", "inflow": "11000"}),
    "student": dict(
        profile={"employment_type": "student", "years_in_job": None, "housing": "family",
                 "marital_status": "single", "id_number": resident_id(903, birth_date=date(2005, 9, 1)), "dependants": 0,
                 "education": "secondary", "employer": "", "occupation": "student"},
        lines={"income": "3000", "expenses": "1500"},
        amount="8000", term=12),
    "heavy debt": dict(
        profile={"employment_type": "salaried", "years_in_job": Decimal("1"), "housing": "rent",
                 "marital_status": "single", "id_number": resident_id(904, birth_date=date(1996, 1, 1)), "past_delinquencies": 2},
        lines={"income": "8000", "expenses": "3500", "debts": [("consumer_loan", "150000", "2600")]},
        amount="40000", term=24),
}


@pytest.fixture
def panel(default_model, make_customer, make_application):
    results = {}
    for name, spec in PANEL.items():
        lines = dict(spec["lines"])
        customer = make_customer(lines=lines, **spec["profile"])
        if spec.get("statement"):
            add_statement(customer.profile, **spec["statement"])
        application = make_application(customer, amount=spec["amount"], term_months=spec["term"])
        results[name] = online.application_score(application_id=application.pk)
    return results


def test_the_panel_is_graded_in_order_and_the_strong_are_not_below_c(panel):
    pds = {name: float(result.pd) for name, result in panel.items()}
    order = list(PANEL)
    assert [pds[n] for n in order] == sorted(pds[n] for n in order), pds
    assert panel["clean salaried"].grade in "ABC" and panel["seasonal small-shop owner"].grade in "ABC"
    assert panel["heavy debt"].grade in "EFG"


def test_arrears_with_us_weigh_in_the_score_and_the_reasons(default_model, make_customer, make_application):
    spec = PANEL["clean salaried"]
    profile = {**spec["profile"], "id_number": resident_id(950, birth_date=date(1986, 5, 1))}
    twin = make_customer(lines=dict(spec["lines"]), **profile)
    clean = online.application_score(application_id=make_application(twin, amount="30000").pk)
    late = make_customer(lines=dict(spec["lines"]), **{**profile, "id_number": resident_id(951, birth_date=date(1986, 5, 1))})
    earlier = make_application(late, submit=False)
    plan = make_plan(earlier, disbursed=date(2026, 1, 15))
    Plan.objects.filter(pk=plan.pk).update(state=Plan.State.OVERDUE, days_past_due=45)
    profile_repayment_record_update(profile=late.profile, data={"late_payments": 2,
                                                                "current_overdue": Decimal("1800")})
    result = online.application_score(application_id=make_application(late, amount="30000").pk)
    assert result.features["past_delinquencies"] == 3
    assert result.pd > clean.pd
    assert "R_PAST_DELINQUENCIES" in [r["code"] for r in result.reason_codes]


# --- Bad input to training -----------------------------------------------------------------------------

def _csv(tmp_path, frame):
    path = tmp_path / "train.csv"
    frame.to_csv(path, index=False)
    return str(path)


@pytest.mark.parametrize(("mutate", "column"), [
    (lambda f: f.assign(bad=0), "bad"),                                                    # one class only
    (lambda f: f.assign(monthly_income=f["monthly_income"].astype(object).where(f.index != 7, "lots")),
     "monthly_income"),                                                                    # text for a number
    (lambda f: f.assign(total_assets=f["total_assets"].where(f.index % 10 == 0)), "total_assets"),  # 90 % missing
])
def test_bad_training_data_names_the_column_and_stores_nothing(db, book, tmp_path, mutate, column):
    X, y = book
    frame = mutate(X.head(400).assign(bad=y.head(400).to_numpy()))
    path = _csv(tmp_path, frame)
    with pytest.raises(DomainError) as error:
        training.training_data_from_csv(path, target="bad")
    assert error.value.field == column and column in str(error.value.message)
    with pytest.raises(Exception) as command_error:
        call_command("train_scoring_model", "--data", path, "--target", "bad")
    assert column in str(command_error.value)
    assert not ScoringModelVersion.objects.exists()


def test_from_book_is_a_challenger_shown_beside_the_champion(default_model):
    frame = pd.DataFrame([{"age": 30, "monthly_income": 8000}])
    rows = registry.versions_stability(applicants=frame)
    assert [(r.role, r.version.pk) for r in rows] == [("champion", default_model.pk)]
    assert rows[0].score_psi is not None and rows[0].status in {"stable", "watch", "act"}
