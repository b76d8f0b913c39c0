"""An applicant's features and the plan they ask for, as online scoring and the knock-out rules see them.

Features come from the customer profile, the latest bank-statement summary and the application
(`applicant_features`), in the schema of `scoring.features` -- the same schema as training; protected
attributes are never included. Payment-to-income is computed on the requested plan (`requested_plan`:
the chosen offer, or an annuity at the product's grade-free reference rate).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

from config.errors import DomainError
from customers.models import CustomerProfile, StatementSummary
from customers.selectors import ProfileLines, profile_summary
from installments.models import Application, Offer, PriceTier
from scoring.features import FEATURE_NAMES, PROTECTED_ATTRIBUTES, FeatureSchemaError, vector_from_mapping

CENT = Decimal("0.01")

# Application purposes -> the schema's purposes. "car" is scored as a new car, the riskier of the
# two car purposes in the training data, because the application does not say new or used.
PURPOSES = {
    Application.Purpose.CAR: "car_new",
    Application.Purpose.FURNITURE: "furniture",
    Application.Purpose.APPLIANCES: "electronics",
    Application.Purpose.EDUCATION: "education",
    Application.Purpose.BUSINESS: "business",
    Application.Purpose.MEDICAL: "medical",
    Application.Purpose.TRAVEL: "travel",
    Application.Purpose.RENOVATION: "renovation",
    Application.Purpose.OTHER: "other",
}
# Debts that are installment credits, by the kind of lender (mortgages are described by housing,
# credit cards are revolving credit, not installment plans).
BANK_INSTALLMENT_DEBTS = {"consumer_loan", "car_loan"}
OTHER_INSTALLMENT_DEBTS = {"other"}
# A statement with no overdraft and a salary-like inflow in at least this share of its months
# counts as a "high" current-account balance (the schema's "salary paid in" case).
REGULAR_SALARY_SHARE = Decimal("0.75")


@dataclass(frozen=True)
class RequestedPlan:
    """The installment the applicant asks for, on which payment-to-income is computed.

    basis: `chosen_offer` (the offer the customer picked) or `reference_annuity` (an annuity over
    the requested term at the product's grade-free reference rate: the middle price tier's rate,
    so the feature does not depend on the grade it helps to decide).
    """

    installment: Decimal
    term_months: int
    annual_rate: Decimal
    method: str
    basis: str

    def as_context(self) -> dict[str, Any]:
        return {
            "installment": str(self.installment),
            "term_months": self.term_months,
            "annual_rate": str(self.annual_rate),
            "plan_type": self.method,
            "installment_basis": self.basis,
        }


def annuity_installment(amount: Decimal, annual_rate_percent: Decimal, term_months: int) -> Decimal:
    """Level monthly payment repaying `amount` over `term_months` at a nominal annual rate (percent),
    rounded half-up to the cent: amount x r / (1 - (1 + r) ** -n) with r = rate / 1200."""
    with localcontext(prec=34):
        amount = Decimal(amount)
        r = Decimal(annual_rate_percent) / Decimal(1200)
        if r == 0:
            payment = amount / term_months
        else:
            payment = amount * r / (1 - (1 + r) ** -term_months)
    return payment.quantize(CENT, rounding=ROUND_HALF_UP)


_LOOK_UP: Any = object()  # "not read yet: read it here", as a default where None is a real answer


def requested_plan(application: Application, *, chosen_offer: Offer | None = _LOOK_UP,
                   tier_rates: list[Decimal] | None = None) -> RequestedPlan:
    """The plan the applicant asks for (see `RequestedPlan`). A missing term is read as the middle
    of the product's term range. `chosen_offer`: the offer the customer picked (None: none), and
    `tier_rates`: the annual rates of the product's price tiers in grade order, when the caller has
    read them already."""
    chosen = chosen_offer
    if chosen is _LOOK_UP:
        # order_by(): the default ordering of offers joins the application; one chosen offer at most.
        chosen = Offer.objects.filter(application_id=application.pk, chosen_at__isnull=False).order_by().first()
    if chosen is not None:
        return RequestedPlan(installment=chosen.installment, term_months=chosen.term_months,
                             annual_rate=chosen.annual_rate, method=chosen.method, basis="chosen_offer")
    product = application.product
    term = application.term_months or round((product.min_term_months + product.max_term_months) / 2)
    tiers = tier_rates
    if tiers is None:
        tiers = list(PriceTier.objects.filter(product_id=product.pk).order_by("grade").values_list("annual_rate",
                                                                                                  flat=True))
    rate = tiers[len(tiers) // 2] if tiers else Decimal("0")
    return RequestedPlan(
        installment=annuity_installment(application.amount, rate, term), term_months=term, annual_rate=rate,
        method=application.preferred_method or "annuity", basis="reference_annuity",
    )


def applicant_summary(profile: CustomerProfile | None, *, lines: ProfileLines | None = None,
                      statement: StatementSummary | None = _LOOK_UP) -> dict[str, Any] | None:
    """`customers.selectors.profile_summary` plus the kinds of assets and debts the profile lists
    (`asset_kinds`, `debt_kinds`), which the features `main_asset` and `other_installment_plans` need.
    `lines` and `statement` (the latest; None: none) when the caller has read them already."""
    if profile is None:
        return None
    lines = lines or ProfileLines.of(profile)
    if statement is _LOOK_UP:
        summary = profile_summary(profile, finances=lines.finances())
    else:
        summary = profile_summary(profile, finances=lines.finances(), statement=statement)
    summary["asset_kinds"] = sorted({kind for kind, value in lines.assets if value > 0})
    summary["debt_kinds"] = sorted({kind for kind, balance, payment in lines.debts if balance > 0 or payment > 0})
    return summary


def _checking_status(summary: Mapping[str, Any]) -> str | None:
    """From the latest statement: overdrawn on any day -> negative; a regular salary-like inflow
    (>= 75 % of months) -> high; otherwise low. No statement -> missing."""
    if summary.get("overdraft_days") is None:
        return None
    if summary["overdraft_days"] > 0:
        return "negative"
    regularity = summary.get("income_regularity")
    if regularity is not None and Decimal(regularity) >= REGULAR_SALARY_SHARE:
        return "high"
    return "low"


def _credit_history(summary: Mapping[str, Any]) -> str:
    """From the declared history and our repayment record (a bureau report is not parsed yet, so
    `critical_account` is never derived): any late payment -> past_delays; repaid with us ->
    all_repaid_at_this_lender; other credits running -> repaid_on_time; else no credit."""
    late = (summary.get("past_delinquencies") or 0) + (summary.get("late_payments") or 0)
    if late > 0 or Decimal(summary.get("current_overdue") or 0) > 0:
        return "past_delays"
    if (summary.get("on_time_payments") or 0) > 0:
        return "all_repaid_at_this_lender"
    if (summary.get("number_of_existing_credits") or 0) > 0:
        return "repaid_on_time"
    return "no_credit_or_all_repaid"


def _main_asset(summary: Mapping[str, Any]) -> str | None:
    """Most valuable kind held: property -> real_estate; vehicle or other -> vehicle_or_other;
    savings only -> savings_plan_or_insurance; nothing -> none. Unknown kinds -> from the totals."""
    kinds = summary.get("asset_kinds")
    if kinds is None:
        total, savings = summary.get("total_assets"), summary.get("savings")
        if total is None:
            return None
        if Decimal(total) <= 0:
            return "none"
        return "savings_plan_or_insurance" if savings is not None and Decimal(savings) >= Decimal(total) else None
    kinds = set(kinds)
    if "property" in kinds:
        return "real_estate"
    if kinds & {"vehicle", "other"}:
        return "vehicle_or_other"
    if "savings" in kinds:
        return "savings_plan_or_insurance"
    return "none"


def _other_installment_plans(summary: Mapping[str, Any]) -> str | None:
    kinds = summary.get("debt_kinds")
    if kinds is None:
        return None
    kinds = set(kinds)
    if kinds & BANK_INSTALLMENT_DEBTS:
        return "bank"
    if kinds & OTHER_INSTALLMENT_DEBTS:
        return "store"
    return "none"


def _past_delinquencies(summary: Mapping[str, Any]) -> int | None:
    """Late payments on record: those reported elsewhere plus our own repayment record (installments
    paid late with us, and one more while something is overdue with us now). None when nothing is
    known at all (no declared history and no record with us)."""
    declared = summary.get("past_delinquencies")
    ours = int(summary.get("late_payments") or 0) + (1 if Decimal(summary.get("current_overdue") or 0) > 0 else 0)
    if declared is None and not ours:
        return None
    return int(declared or 0) + ours


def _json_number(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def applicant_features(*, application: Application, summary: Mapping[str, Any] | None = None,
                       plan: RequestedPlan | None = None) -> dict[str, float | str | None]:
    """The applicant's feature vector in the schema of `scoring.features` (schema order).

    `summary` is `customers.selectors.profile_summary(profile)` (optionally with `asset_kinds` and
    `debt_kinds`, see `applicant_summary`); None scores the application alone. Numbers are floats
    (None when unknown), categories the schema's values (None when unknown). checking_status,
    credit_history, main_asset and other_installment_plans are derived (see the helpers above),
    purpose is mapped (`PURPOSES`), past_delinquencies adds our own repayment record to the reported
    one (`_past_delinquencies`), payment_to_income is the requested plan's installment over
    monthly income (`requested_plan`); the rest are copied. Protected attributes are never read, whatever `summary` holds.
    Raises DomainError naming the feature when a value does not fit the schema.
    """
    s = {k: v for k, v in (summary or {}).items() if k not in PROTECTED_ATTRIBUTES}
    plan = plan or requested_plan(application)
    income = s.get("monthly_income")
    payment_to_income = (plan.installment / Decimal(income)) if income is not None and Decimal(income) > 0 else None
    raw = {
        "age": s.get("age"),
        "employment_type": s.get("employment_type"),
        "years_in_job": s.get("years_in_job"),
        "housing": s.get("housing"),
        "marital_status": s.get("marital_status"),
        "dependants": s.get("dependants"),
        "education": s.get("education"),
        "monthly_income": income,
        "monthly_expenses": s.get("monthly_expenses"),
        "total_assets": s.get("total_assets"),
        "savings": s.get("savings"),
        "existing_debt_balance": s.get("existing_debt_balance"),
        "existing_debt_monthly_payment": s.get("existing_debt_monthly_payment"),
        "debt_to_income": s.get("debt_to_income"),
        "payment_to_income": payment_to_income,
        "requested_amount": application.amount,
        "term_months": plan.term_months,
        "purpose": PURPOSES.get(application.purpose, "other"),
        "number_of_existing_credits": s.get("number_of_existing_credits"),
        "past_delinquencies": _past_delinquencies(s),
        "income_volatility": s.get("income_volatility"),
        "checking_status": _checking_status(s) if summary else None,
        "credit_history": _credit_history(s) if summary else None,
        "main_asset": _main_asset(s) if summary else None,
        "other_installment_plans": _other_installment_plans(s) if summary else None,
    }
    try:
        vector = vector_from_mapping(raw)
    except FeatureSchemaError as error:
        raise DomainError(error.message, field=error.column, code="feature_schema")
    return {name: _json_number(vector[name]) for name in FEATURE_NAMES}
