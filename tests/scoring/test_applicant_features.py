"""The applicant feature function: hand-built profile summaries, the real profile summary, the
requested plan's installment, and the schema (protected attributes never get in)."""

from decimal import Decimal

import pytest

from config.errors import DomainError
from installments.assessment import applicant
from installments.models import Offer
from scoring.features import FEATURE_NAMES, PROTECTED_ATTRIBUTES, validate_frame
from tests.scoring.conftest import add_statement

SUMMARY = {
    "currency": "CNY", "age": 34, "employment_type": "salaried", "years_in_job": Decimal("4.5"), "housing": "rent",
    "marital_status": "married", "dependants": 1, "education": "bachelor", "occupation": "office_worker",
    "monthly_income": Decimal("10000.00"), "monthly_expenses": Decimal("3000.00"),
    "existing_debt_balance": Decimal("20000.00"), "existing_debt_monthly_payment": Decimal("1500.00"),
    "total_assets": Decimal("50000.00"), "savings": Decimal("50000.00"), "debt_to_income": Decimal("0.1500"),
    "debt_service_ratio": Decimal("0.4500"), "disposable_income": Decimal("5500.00"),
    "number_of_existing_credits": 1, "past_delinquencies": 0, "on_time_payments": 0, "late_payments": 0,
    "max_days_past_due": 0, "current_overdue": Decimal("0.00"), "average_monthly_inflow": Decimal("10500.00"),
    "income_volatility": Decimal("0.0800"), "income_regularity": Decimal("1.0000"), "seasonal_high_months": [],
    "seasonal_low_months": [], "overdraft_days": 0,
}


@pytest.fixture
def application(customer, make_application):
    return make_application(customer, amount="24000", term_months=12, purpose="furniture", submit=False)


def test_features_from_a_hand_built_summary_follow_the_schema(application):
    features = applicant.applicant_features(application=application, summary=SUMMARY)
    assert list(features) == list(FEATURE_NAMES)
    assert features["age"] == 34.0
    assert features["monthly_income"] == 10000.0
    assert features["debt_to_income"] == pytest.approx(0.15)
    assert features["requested_amount"] == 24000.0
    assert features["term_months"] == 12.0
    assert features["purpose"] == "furniture"
    assert features["income_volatility"] == pytest.approx(0.08)
    # Derived from the statement and history: regular salary, no overdraft -> high balance.
    assert features["checking_status"] == "high"
    assert features["credit_history"] == "repaid_on_time"
    # Only totals known (no kinds): savings make up all assets.
    assert features["main_asset"] == "savings_plan_or_insurance"
    assert features["other_installment_plans"] is None
    # The vector is valid for the batch path too.
    frame = validate_frame(__import__("pandas").DataFrame([features]))
    assert list(frame.columns) == list(FEATURE_NAMES)


def test_payment_to_income_uses_the_middle_tier_reference_annuity(application):
    # Tiers A-G at 8..23.9 %: the middle (D) is 14 %; 24,000 over 12 months.
    expected = applicant.annuity_installment(Decimal("24000"), Decimal("14"), 12)
    assert expected == Decimal("2154.89")  # numpy_financial.pmt(0.14 / 12, 12, -24000) = 2154.8908
    features = applicant.applicant_features(application=application, summary=SUMMARY)
    assert features["payment_to_income"] == pytest.approx(float(expected / Decimal("10000")))


def test_the_chosen_offer_sets_the_installment_and_term(application):
    Offer.objects.create(application=application, method="equal_principal", amount=Decimal("24000"), term_months=24,
                         annual_rate=Decimal("10"), installment=Decimal("1200.00"), total_interest=Decimal("2500"),
                         total_fees=Decimal("0"), total_payable=Decimal("26500"), apr=Decimal("10"),
                         effective_annual_rate=Decimal("10.47"), chosen_at="2026-01-01T00:00:00Z")
    plan = applicant.requested_plan(application)
    assert (plan.basis, plan.installment, plan.term_months, plan.method) == (
        "chosen_offer", Decimal("1200.00"), 24, "equal_principal")
    features = applicant.applicant_features(application=application, summary=SUMMARY)
    assert features["payment_to_income"] == pytest.approx(0.12)
    assert features["term_months"] == 24.0


def test_zero_rate_annuity_divides_the_amount_evenly():
    assert applicant.annuity_installment(Decimal("1200"), Decimal("0"), 12) == Decimal("100.00")


@pytest.mark.parametrize(("changes", "expected"), [
    ({"overdraft_days": 3}, "negative"),
    ({"income_regularity": Decimal("0.5")}, "low"),
    ({"overdraft_days": None}, None),
])
def test_checking_status_comes_from_the_statement(application, changes, expected):
    features = applicant.applicant_features(application=application, summary={**SUMMARY, **changes})
    assert features["checking_status"] == expected


@pytest.mark.parametrize(("changes", "expected"), [
    ({"past_delinquencies": 2}, "past_delays"),
    ({"late_payments": 1}, "past_delays"),
    ({"current_overdue": Decimal("10")}, "past_delays"),
    ({"on_time_payments": 12, "number_of_existing_credits": 0}, "all_repaid_at_this_lender"),
    ({"number_of_existing_credits": 0}, "no_credit_or_all_repaid"),
])
def test_credit_history_comes_from_the_declared_and_our_record(application, changes, expected):
    assert applicant.applicant_features(application=application, summary={**SUMMARY, **changes})[
        "credit_history"] == expected


@pytest.mark.parametrize(("assets", "debts", "main_asset", "other_plans"), [
    (["property", "savings"], ["mortgage"], "real_estate", "none"),
    (["vehicle"], ["consumer_loan"], "vehicle_or_other", "bank"),
    (["savings"], ["other"], "savings_plan_or_insurance", "store"),
    ([], [], "none", "none"),
])
def test_asset_and_debt_kinds_map_to_the_schema(application, assets, debts, main_asset, other_plans):
    summary = {**SUMMARY, "asset_kinds": assets, "debt_kinds": debts}
    features = applicant.applicant_features(application=application, summary=summary)
    assert (features["main_asset"], features["other_installment_plans"]) == (main_asset, other_plans)


def test_protected_attributes_in_the_summary_are_never_features(application):
    summary = {**SUMMARY, **{name: "x" for name in PROTECTED_ATTRIBUTES}, "sex": "female"}
    features = applicant.applicant_features(application=application, summary=summary)
    assert not set(PROTECTED_ATTRIBUTES) & set(features)
    assert features == applicant.applicant_features(application=application, summary=SUMMARY)


def test_no_profile_leaves_the_applicant_features_missing(application):
    features = applicant.applicant_features(application=application, summary=None)
    assert features["requested_amount"] == 24000.0
    assert features["age"] is None and features["payment_to_income"] is None
    assert features["credit_history"] is None


def test_a_value_outside_the_schema_is_an_error_naming_the_feature(application):
    with pytest.raises(DomainError) as error:
        applicant.applicant_features(application=application, summary={**SUMMARY, "housing": "castle"})
    assert error.value.field == "housing"


def test_features_from_a_real_profile_and_statement(make_customer, make_application):
    customer = make_customer(lines={"income": "9000", "expenses": "2500",
                                    "debts": [("car_loan", "30000", "1800")], "assets": [("property", "800000")]})
    add_statement(customer.profile, inflow="9100", overdraft_days=0, regularity="1.0000", volatility="0.1200")
    application = make_application(customer, amount="12000", term_months=6, purpose="car", submit=False)
    summary = applicant.applicant_summary(customer.profile)
    features = applicant.applicant_features(application=application, summary=summary)
    assert features["monthly_income"] == 9000.0
    assert features["existing_debt_monthly_payment"] == 1800.0
    assert features["debt_to_income"] == pytest.approx(0.2)
    assert features["main_asset"] == "real_estate"
    assert features["other_installment_plans"] == "bank"
    assert features["checking_status"] == "high"
    assert features["income_volatility"] == pytest.approx(0.12)
    assert features["purpose"] == "car_new"
    assert features["employment_type"] == "salaried" and features["housing"] == "rent"
    assert 30 <= features["age"] <= 40
