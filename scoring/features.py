"""The applicant feature schema used by credit scoring.

This module is pure (no Django import). It defines, once, every characteristic the
scorecard may use: its name, whether it is numeric or categorical, the allowed values of
a categorical, its unit and what it means in business terms. The Django layer builds a
plain dict from the customer profile and the application and passes it through
`vector_from_mapping`; batch jobs pass a DataFrame through `validate_frame`. Both apply
the same rules, so an applicant scores the same online and in a batch.

Conventions
- Money is in CNY (the product's default currency), as floats: the scorecard compares
  amounts with bin boundaries, it never books them. Ratios are fractions (0.35 = 35 %).
- A missing value is allowed for every feature (NaN for numbers, None for categories);
  the scorecard gives it its own bin.
- Protected attributes (`PROTECTED_ATTRIBUTES`) are never features. Inputs that carry
  them are accepted and ignored, so they cannot reach the model by accident.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from numbers import Real
from typing import Any, Literal

import numpy as np
import pandas as pd

NUMERIC = "numeric"
CATEGORICAL = "categorical"

# Sex, ethnicity and their proxies are never model inputs (SPEC, scoring/). They are
# listed so that tests and the fairness report can refer to one definition.
PROTECTED_ATTRIBUTES: tuple[str, ...] = (
    "sex",
    "gender",
    "ethnicity",
    "race",
    "nationality",
    "foreign_worker",
    "religion",
)


class FeatureSchemaError(ValueError):
    """An input value does not fit the feature schema.

    `column` names the feature, `row` the first offending row label of a DataFrame
    (None for a single applicant), `message` says what is wrong in plain words.
    """

    def __init__(self, column: str, message: str, row: Any = None) -> None:
        self.column = column
        self.message = message
        self.row = row
        where = "" if row is None else f" (first bad row: {row!r})"
        super().__init__(f"{column}: {message}{where}")


@dataclass(frozen=True, slots=True)
class Feature:
    """One applicant characteristic.

    `risk_trend` is the business expectation of how default risk moves as a numeric
    value rises ("increasing" / "decreasing"); the binning enforces it. None lets the
    training data choose the direction. `reason_en` / `reason_zh` describe the adverse
    side of the feature for reason codes; `label` / `label_zh` name it for people.
    """

    name: str
    kind: Literal["numeric", "categorical"]
    allowed: tuple[str, ...] = ()
    unit: str = ""
    description: str = ""
    label: str = ""
    label_zh: str = ""
    reason_en: str = ""
    reason_zh: str = ""
    minimum: float | None = None
    risk_trend: Literal["increasing", "decreasing"] | None = None

    @property
    def is_numeric(self) -> bool:
        return self.kind == NUMERIC


FEATURES: tuple[Feature, ...] = (
    Feature(
        "age",
        NUMERIC,
        unit="years",
        description="Applicant's age in whole years at application.",
        label="Age",
        label_zh="年龄",
        reason_en="Age group has a higher historical default rate",
        reason_zh="所属年龄段的历史违约率较高",
        minimum=0,
    ),
    Feature(
        "employment_type",
        CATEGORICAL,
        allowed=("salaried", "self_employed", "business_owner", "student", "retired", "unemployed"),
        description="Main source of earned income.",
        label="Employment type",
        label_zh="就业类型",
        reason_en="Type of employment is associated with higher risk",
        reason_zh="就业类型对应的风险较高",
    ),
    Feature(
        "years_in_job",
        NUMERIC,
        unit="years",
        description="Years with the current employer or in the current business; 0 if unemployed.",
        label="Time in current job",
        label_zh="现职工作年限",
        reason_en="Time in current job is short",
        reason_zh="现职工作年限较短",
        minimum=0,
        risk_trend="decreasing",
    ),
    Feature(
        "housing",
        CATEGORICAL,
        allowed=("own", "mortgage", "rent", "family"),
        description="Housing: owned outright, owned with a mortgage, rented, or living rent-free "
        "(with family or in housing provided by others).",
        label="Housing",
        label_zh="住房状况",
        reason_en="Housing situation is associated with higher risk",
        reason_zh="住房状况对应的风险较高",
    ),
    Feature(
        "marital_status",
        CATEGORICAL,
        allowed=("single", "married", "divorced", "widowed"),
        description="Marital status as declared by the applicant.",
        label="Marital status",
        label_zh="婚姻状况",
        reason_en="Marital status group has a higher historical default rate",
        reason_zh="婚姻状况分组的历史违约率较高",
    ),
    Feature(
        "dependants",
        NUMERIC,
        unit="people",
        description="People who depend financially on the applicant.",
        label="Number of dependants",
        label_zh="需抚养人数",
        reason_en="Number of dependants is associated with higher risk",
        reason_zh="需抚养人数对应的风险较高",
        minimum=0,
    ),
    Feature(
        "education",
        CATEGORICAL,
        allowed=("primary", "secondary", "vocational", "bachelor", "postgraduate"),
        description="Highest completed level of education.",
        label="Education",
        label_zh="受教育程度",
        reason_en="Education level is associated with higher risk",
        reason_zh="受教育程度对应的风险较高",
    ),
    Feature(
        "monthly_income",
        NUMERIC,
        unit="CNY/month",
        description="Verified monthly income from all sources, after tax.",
        label="Monthly income",
        label_zh="月收入",
        reason_en="Monthly income is low",
        reason_zh="月收入较低",
        minimum=0,
        risk_trend="decreasing",
    ),
    Feature(
        "monthly_expenses",
        NUMERIC,
        unit="CNY/month",
        description="Regular monthly living expenses, excluding debt payments.",
        label="Monthly expenses",
        label_zh="月支出",
        reason_en="Monthly spending is associated with higher risk",
        reason_zh="月支出水平对应的风险较高",
        minimum=0,
    ),
    Feature(
        "total_assets",
        NUMERIC,
        unit="CNY",
        description="Declared value of all assets: savings, property, vehicles.",
        label="Total assets",
        label_zh="总资产",
        reason_en="Total assets are low",
        reason_zh="总资产较少",
        minimum=0,
        risk_trend="decreasing",
    ),
    Feature(
        "savings",
        NUMERIC,
        unit="CNY",
        description="Savings and investments that can be drawn on (deposits, bonds, funds).",
        label="Savings",
        label_zh="储蓄",
        reason_en="Savings are low",
        reason_zh="储蓄较少",
        minimum=0,
        risk_trend="decreasing",
    ),
    Feature(
        "existing_debt_balance",
        NUMERIC,
        unit="CNY",
        description="Outstanding balance of all existing debts.",
        label="Existing debt balance",
        label_zh="现有负债余额",
        reason_en="Existing debt balance is high",
        reason_zh="现有负债余额较高",
        minimum=0,
        risk_trend="increasing",
    ),
    Feature(
        "existing_debt_monthly_payment",
        NUMERIC,
        unit="CNY/month",
        description="Monthly payments due on all existing debts.",
        label="Existing monthly debt payments",
        label_zh="现有每月还款额",
        reason_en="Existing monthly debt payments are high",
        reason_zh="现有每月还款额较高",
        minimum=0,
        risk_trend="increasing",
    ),
    Feature(
        "debt_to_income",
        NUMERIC,
        unit="ratio",
        description="Existing monthly debt payments / monthly income, before the requested plan. "
        "Derived from the two when not given and income is positive.",
        label="Debt-to-income ratio",
        label_zh="负债收入比",
        reason_en="Debt payments are high compared with income",
        reason_zh="债务还款占收入比例较高",
        minimum=0,
        risk_trend="increasing",
    ),
    Feature(
        "payment_to_income",
        NUMERIC,
        unit="ratio",
        description="Monthly installment of the requested plan / monthly income.",
        label="Installment-to-income ratio",
        label_zh="分期还款收入比",
        reason_en="The new installment is high compared with income",
        reason_zh="新分期还款额占收入比例较高",
        minimum=0,
        risk_trend="increasing",
    ),
    Feature(
        "requested_amount",
        NUMERIC,
        unit="CNY",
        description="Amount the applicant asks to finance.",
        label="Requested amount",
        label_zh="申请金额",
        reason_en="Requested amount is associated with higher risk",
        reason_zh="申请金额对应的风险较高",
        minimum=0,
    ),
    Feature(
        "term_months",
        NUMERIC,
        unit="months",
        description="Requested repayment term.",
        label="Repayment term",
        label_zh="还款期限",
        reason_en="Repayment term is long",
        reason_zh="还款期限较长",
        minimum=1,
        risk_trend="increasing",
    ),
    Feature(
        "purpose",
        CATEGORICAL,
        allowed=(
            "car_new",
            "car_used",
            "furniture",
            "electronics",
            "appliances",
            "education",
            "business",
            "medical",
            "travel",
            "renovation",
            "other",
        ),
        description="What the financed amount pays for.",
        label="Loan purpose",
        label_zh="贷款用途",
        reason_en="Loan purpose is associated with higher risk",
        reason_zh="贷款用途对应的风险较高",
    ),
    Feature(
        "number_of_existing_credits",
        NUMERIC,
        unit="count",
        description="Credits the applicant currently holds (loans, installment plans).",
        label="Number of existing credits",
        label_zh="现有信贷笔数",
        reason_en="Number of existing credits is associated with higher risk",
        reason_zh="现有信贷笔数对应的风险较高",
        minimum=0,
    ),
    Feature(
        "past_delinquencies",
        NUMERIC,
        unit="count",
        description="Late payments on record: those in the credit report's history window plus the "
        "installments paid late with us (and one while something is overdue with us now).",
        label="Past late payments",
        label_zh="历史逾期次数",
        reason_en="Late payments on record, with us or with other lenders",
        reason_zh="在我司或其他机构有逾期还款记录",
        minimum=0,
        risk_trend="increasing",
    ),
    Feature(
        "income_volatility",
        NUMERIC,
        unit="ratio",
        description="Coefficient of variation (std / mean) of monthly inflow in the imported "
        "bank statements; missing when no statement was imported.",
        label="Income volatility",
        label_zh="收入波动性",
        reason_en="Income varies a lot from month to month",
        reason_zh="月收入波动较大",
        minimum=0,
        risk_trend="increasing",
    ),
    Feature(
        "checking_status",
        CATEGORICAL,
        allowed=("no_account", "negative", "low", "high"),
        description="Typical current-account balance from the bank-statement summary: negative "
        "(overdrawn), low (0 to under 800 CNY), high (800 CNY or more, or salary paid in for at "
        "least a year). no_account only when the applicant verifiably has no current account; "
        "leave missing when no statement was provided.",
        label="Current-account balance",
        label_zh="活期账户余额",
        reason_en="Current-account balance is low or negative",
        reason_zh="活期账户余额偏低或为负",
    ),
    Feature(
        "credit_history",
        CATEGORICAL,
        allowed=(
            "no_credit_or_all_repaid",
            "all_repaid_at_this_lender",
            "repaid_on_time",
            "past_delays",
            "critical_account",
        ),
        description="Summary of the credit report: no credit taken or all repaid; all credits at "
        "this lender repaid; current credits repaid on time so far; delays in the past; critical "
        "account or credits elsewhere.",
        label="Credit history",
        label_zh="信用记录",
        reason_en="Credit history shows higher risk",
        reason_zh="信用记录显示风险较高",
    ),
    Feature(
        "main_asset",
        CATEGORICAL,
        allowed=("real_estate", "savings_plan_or_insurance", "vehicle_or_other", "none"),
        description="Most valuable asset the applicant holds, in this order of precedence: real "
        "estate, building-savings plan or life insurance, vehicle or other; none if none is known.",
        label="Main asset",
        label_zh="主要资产",
        reason_en="Few assets that could secure repayment",
        reason_zh="可作为还款保障的资产较少",
    ),
    Feature(
        "other_installment_plans",
        CATEGORICAL,
        allowed=("none", "bank", "store"),
        description="Other installment plans outstanding, by the kind of lender.",
        label="Other installment plans",
        label_zh="其他分期付款计划",
        reason_en="Other installment plans are outstanding",
        reason_zh="存在其他分期付款计划",
    ),
)

FEATURES_BY_NAME: dict[str, Feature] = {feature.name: feature for feature in FEATURES}
FEATURE_NAMES: tuple[str, ...] = tuple(FEATURES_BY_NAME)
NUMERIC_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.is_numeric)
CATEGORICAL_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES if not f.is_numeric)

_MISSING_STRINGS = frozenset({"", "nan", "none", "null", "n/a", "na"})


def _normalise_category(text: str) -> str:
    """Lower-case, trim, and turn runs of spaces/hyphens into underscores."""
    return "_".join(text.strip().lower().replace("-", " ").split())


def _number_from_value(feature: Feature, value: Any) -> float:
    """One raw value -> float (NaN when missing). Raises FeatureSchemaError."""
    if value is None or value is pd.NA:
        return math.nan
    if isinstance(value, bool | np.bool_):
        raise FeatureSchemaError(feature.name, f"expected a number, got {value!r}")
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in _MISSING_STRINGS:
            return math.nan
        try:
            number = float(text)
        except ValueError:
            raise FeatureSchemaError(feature.name, f"expected a number, got {value!r}") from None
    elif isinstance(value, Real | Decimal):
        number = float(value)
    else:
        raise FeatureSchemaError(feature.name, f"expected a number, got {value!r}")
    if math.isnan(number):
        return math.nan
    _check_number(feature, number)
    return number


def _check_number(feature: Feature, number: float) -> None:
    if not math.isfinite(number):
        raise FeatureSchemaError(feature.name, f"must be finite, got {number!r}")
    if feature.minimum is not None and number < feature.minimum:
        raise FeatureSchemaError(feature.name, f"must be at least {feature.minimum:g}, got {number:g}")


def _category_from_value(feature: Feature, value: Any) -> str | None:
    """One raw value -> allowed category string or None. Raises FeatureSchemaError."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if not isinstance(value, str):
        raise FeatureSchemaError(feature.name, f"expected one of {', '.join(feature.allowed)}; got {value!r}")
    if value in feature.allowed:
        return value
    normalised = _normalise_category(value)
    if normalised in feature.allowed:
        return normalised
    if normalised in _MISSING_STRINGS:
        return None
    raise FeatureSchemaError(feature.name, f"unknown value {value!r}; allowed: {', '.join(feature.allowed)}")


def vector_from_mapping(values: Mapping[str, Any]) -> dict[str, float | str | None]:
    """Normalise one applicant's raw values into the schema.

    Returns a dict with every feature name, in schema order: numeric features as float
    (NaN when missing; ints, Decimals and numeric strings accepted, booleans refused),
    categorical features as one of the allowed strings (case, spaces and hyphens are
    forgiven: "Self-Employed" -> "self_employed") or None when missing. Keys that are not
    features, protected attributes included, are ignored. `debt_to_income` is derived as
    existing_debt_monthly_payment / monthly_income when missing and income is positive.
    Raises FeatureSchemaError naming the feature on the first bad value.
    """
    vector: dict[str, float | str | None] = {}
    for feature in FEATURES:
        raw = values.get(feature.name)
        if feature.is_numeric:
            vector[feature.name] = _number_from_value(feature, raw)
        else:
            vector[feature.name] = _category_from_value(feature, raw)
    if math.isnan(vector["debt_to_income"]):
        income = vector["monthly_income"]
        payment = vector["existing_debt_monthly_payment"]
        if income > 0 and not math.isnan(payment):  # NaN > 0 is False
            vector["debt_to_income"] = payment / income
    return vector


def _first_bad(column: pd.Series, mask: np.ndarray) -> tuple[Any, Any]:
    """(index label, raw value) of the first True in `mask`; labels as plain Python values."""
    position = int(np.flatnonzero(mask)[0])
    label = column.index[position]
    return (label.item() if isinstance(label, np.generic) else label), column.iloc[position]


def _numeric_column(feature: Feature, column: pd.Series) -> np.ndarray:
    if pd.api.types.is_bool_dtype(column):
        present = column.notna().to_numpy(dtype=bool)
        if present.any():
            row, value = _first_bad(column, present)
            raise FeatureSchemaError(feature.name, f"expected a number, got {value!r}", row=row)
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        numbers = column.to_numpy(dtype="float64", na_value=np.nan)
    else:
        raw = column.astype(object)
        blank = raw.isna().to_numpy() | raw.map(
            lambda v: isinstance(v, str) and v.strip().lower() in _MISSING_STRINGS
        ).to_numpy(dtype=bool)
        is_bool = raw.map(lambda v: isinstance(v, bool | np.bool_)).to_numpy(dtype=bool)
        parsed = pd.to_numeric(raw.where(~blank, None), errors="coerce")
        numbers = parsed.to_numpy(dtype="float64", na_value=np.nan)
        bad = (np.isnan(numbers) & ~blank) | is_bool
        if bad.any():
            row, value = _first_bad(column, bad)
            raise FeatureSchemaError(feature.name, f"expected a number, got {value!r}", row=row)
    present = ~np.isnan(numbers)
    infinite = present & ~np.isfinite(numbers)
    if infinite.any():
        row, value = _first_bad(column, infinite)
        raise FeatureSchemaError(feature.name, f"must be finite, got {value!r}", row=row)
    if feature.minimum is not None:
        below = present & (numbers < feature.minimum)
        if below.any():
            row, value = _first_bad(column, below)
            raise FeatureSchemaError(
                feature.name,
                f"must be at least {feature.minimum:g}, got {value!r}",
                row=row,
            )
    return numbers


def _categorical_column(feature: Feature, column: pd.Series) -> pd.Series:
    raw = column.astype(object)
    allowed = raw.isin(feature.allowed).to_numpy(dtype=bool)
    if allowed.all():  # the common case: nothing missing, nothing to normalise
        return raw
    missing = pd.Series(False, index=raw.index)
    missing[~allowed] = raw[~allowed].isna()
    valid = missing | allowed
    if not valid.all():
        # Slow path only for frames that need forgiving normalisation or are wrong.
        def normalise(value: Any) -> Any:
            if isinstance(value, str):
                text = _normalise_category(value)
                # An allowed value wins over a missing-value word ("none" is both).
                return text if text in feature.allowed or text not in _MISSING_STRINGS else None
            return value

        raw = raw.map(normalise)
        missing = raw.isna()
        valid = missing | raw.isin(feature.allowed)
        if not valid.all():
            bad = ~valid.to_numpy(dtype=bool)
            row, value = _first_bad(column, bad)
            raise FeatureSchemaError(
                feature.name,
                f"unknown value {value!r}; allowed: {', '.join(feature.allowed)}",
                row=row,
            )
    return raw.where(~missing, np.nan)


def validate_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Check a DataFrame of applicants against the schema and return it normalised.

    The result has the same index and exactly the schema columns in schema order:
    numeric features as float64, categorical features as object columns holding allowed
    strings; missing values are NaN in both. Schema columns absent from `df` are added as missing;
    extra columns (protected attributes included) are dropped. `debt_to_income` is
    derived row-wise as in `vector_from_mapping`. Raises FeatureSchemaError naming the
    column and the label of its first bad row (a non-numeric, non-finite or below-minimum
    number, or a category outside the allowed values). `df` is not modified.
    """
    if not df.columns.is_unique:
        duplicated = df.columns[df.columns.duplicated()][0]
        raise FeatureSchemaError(str(duplicated), "column appears more than once")
    n_rows = len(df)
    columns: dict[str, Any] = {}
    for feature in FEATURES:
        if feature.name not in df.columns:
            columns[feature.name] = (
                np.full(n_rows, np.nan)
                if feature.is_numeric
                else pd.Series([None] * n_rows, index=df.index, dtype=object)
            )
        elif feature.is_numeric:
            columns[feature.name] = _numeric_column(feature, df[feature.name])
        else:
            columns[feature.name] = _categorical_column(feature, df[feature.name])
    dti = columns["debt_to_income"]
    income = columns["monthly_income"]
    payment = columns["existing_debt_monthly_payment"]
    derive = np.isnan(dti) & (income > 0) & ~np.isnan(payment)
    if derive.any():
        dti = dti.copy()
        with np.errstate(over="ignore"):  # a vanishing income gives inf, as in Python
            dti[derive] = payment[derive] / income[derive]
        columns["debt_to_income"] = dti
    return pd.DataFrame(
        {
            name: pd.Series(col, index=df.index, dtype="float64" if name in NUMERIC_FEATURES else object)
            for name, col in columns.items()
        },
        index=df.index,
    )
