"""Derived totals and ratios: hand-computed examples, Decimal throughout, always from the current lines."""

from datetime import date
from decimal import Decimal

import pytest

from customers import services
from customers.finances import financial_position, ratio
from customers.selectors import profile_finances, profile_summary

D = Decimal


def test_ratios_on_a_hand_computed_example():
    position = financial_position(
        incomes=[D("8000.00"), D("1500.00")],  # 9,500
        expenses=[D("2500.00"), D("800.00")],  # 3,300
        debt_payments=[D("1200.00"), D("650.50")],  # 1,850.50
        debt_balances=[D("30000.00"), D("4200.00")],
        assets=[D("50000.00"), D("120000.00")],
        savings=[D("50000.00")],
    )
    assert position.total_monthly_income == D("9500.00")
    assert position.total_monthly_expenses == D("3300.00")
    assert position.debt_monthly_payment == D("1850.50")
    assert position.disposable_income == D("4349.50")  # 9500 - 3300 - 1850.50
    assert position.debt_to_income == D("0.1948")  # 1850.50 / 9500 = 0.194789... -> 0.1948
    assert position.debt_service_ratio == D("0.5422")  # 5150.50 / 9500 = 0.542157... -> 0.5422
    assert position.debt_balance == D("34200.00")
    assert position.total_assets == D("170000.00") and position.savings == D("50000.00")
    assert all(isinstance(v, Decimal) for v in position.as_dict().values())


def test_ratios_are_none_without_income_and_disposable_income_can_be_negative():
    position = financial_position(incomes=[], expenses=[D("1000")], debt_payments=[D("500")], debt_balances=[],
                                  assets=[], savings=[])
    assert position.debt_to_income is None and position.debt_service_ratio is None
    assert position.disposable_income == D("-1500.00")


def test_ratio_rounds_half_up_to_four_places():
    assert ratio(D("1"), D("8")) == D("0.1250")
    assert ratio(D("0.00005"), D("1")) == D("0.0001")
    assert ratio(D("1"), D("0")) is None


@pytest.mark.django_db
def test_profile_figures_follow_the_lines_as_they_change(profile, customer):
    salary = services.finance_line_add(profile=profile, line_type="income",
                                       data={"source": "salary", "monthly_amount": D("10000")}, by=customer)
    services.finance_line_add(profile=profile, line_type="expense",
                              data={"category": "housing", "monthly_amount": D("3000")}, by=customer)
    services.finance_line_add(profile=profile, line_type="debt", data={
        "lender": "ICBC", "kind": "car_loan", "outstanding_balance": D("60000"), "monthly_payment": D("2000"),
    }, by=customer)
    services.finance_line_add(profile=profile, line_type="asset", data={"kind": "savings", "value": D("25000")},
                              by=customer)
    assert profile_finances(profile).debt_to_income == D("0.2000")
    assert profile_finances(profile).debt_service_ratio == D("0.5000")

    services.finance_line_update(line=salary, data={"monthly_amount": D("8000")}, by=customer)
    position = profile_finances(profile)
    assert position.debt_to_income == D("0.2500") and position.disposable_income == D("3000.00")

    services.finance_line_remove(line=salary, by=customer)
    assert profile_finances(profile).debt_to_income is None


@pytest.mark.django_db
def test_negative_amounts_are_refused_naming_the_field(profile, customer):
    with pytest.raises(services.DomainError) as caught:
        services.finance_line_add(profile=profile, line_type="income",
                                  data={"source": "salary", "monthly_amount": D("-1")}, by=customer)
    assert caught.value.field == "monthly_amount"
    assert not profile.incomes.exists()


@pytest.mark.django_db
def test_database_refuses_negative_amounts_even_past_the_service(profile):
    from django.db import IntegrityError

    from customers.models import DebtLine

    with pytest.raises(IntegrityError):
        DebtLine.objects.create(profile=profile, lender="x", kind="other", outstanding_balance=D("-5"),
                                monthly_payment=D("0"))


@pytest.mark.django_db
def test_profile_summary_has_every_documented_key_with_plain_values(profile, customer):
    services.finance_line_add(profile=profile, line_type="income",
                              data={"source": "salary", "monthly_amount": D("12000")}, by=customer)
    summary = profile_summary(profile, on=date(2026, 3, 7))
    assert set(summary) == {
        "currency", "age", "employment_type", "years_in_job", "housing", "marital_status", "dependants",
        "education", "occupation", "monthly_income", "monthly_expenses", "existing_debt_balance",
        "existing_debt_monthly_payment", "total_assets", "savings", "debt_to_income", "debt_service_ratio",
        "disposable_income", "number_of_existing_credits", "past_delinquencies", "on_time_payments",
        "late_payments", "max_days_past_due", "current_overdue", "average_monthly_inflow", "income_volatility",
        "income_regularity", "seasonal_high_months", "seasonal_low_months", "overdraft_days",
    }
    assert "sex" not in summary  # fairness reporting only, never a model input
    assert summary["age"] == 36  # born 1990-03-07 (the factory's first ID number)
    assert summary["monthly_income"] == D("12000.00") and summary["debt_to_income"] == D("0.0000")
    assert summary["employment_type"] == "salaried" and summary["years_in_job"] == D("3.5")
    assert summary["overdraft_days"] is None and summary["seasonal_low_months"] is None
    assert isinstance(summary["current_overdue"], Decimal)
