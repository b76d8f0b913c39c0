"""The applicant feature schema: its contents, frame validation and single-applicant vectors."""

import math
import re
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.features import (
    CATEGORICAL_FEATURES,
    FEATURE_NAMES,
    FEATURES,
    FEATURES_BY_NAME,
    NUMERIC_FEATURES,
    PROTECTED_ATTRIBUTES,
    FeatureSchemaError,
    validate_frame,
    vector_from_mapping,
)


def test_no_protected_attribute_is_a_feature():
    for protected in PROTECTED_ATTRIBUTES:
        assert protected not in FEATURE_NAMES
        assert not any(protected in name for name in FEATURE_NAMES), protected


def test_protected_attributes_cover_the_brief():
    assert {"sex", "ethnicity", "nationality", "foreign_worker"} <= set(PROTECTED_ATTRIBUTES)


def test_schema_has_20_to_25_unique_snake_case_features():
    assert 20 <= len(FEATURES) <= 25
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", name) for name in FEATURE_NAMES)


def test_categoricals_list_allowed_values_and_numerics_do_not():
    for feature in FEATURES:
        if feature.is_numeric:
            assert feature.allowed == ()
            assert feature.unit
        else:
            assert feature.allowed and len(set(feature.allowed)) == len(feature.allowed)
            assert all(re.fullmatch(r"[a-z][a-z0-9_]*", v) for v in feature.allowed)


def test_every_feature_is_documented_in_both_languages():
    for feature in FEATURES:
        assert feature.description and feature.label and feature.label_zh
        assert feature.reason_en and feature.reason_zh
        assert re.search(r"[\u4e00-\u9fff]", feature.reason_zh), feature.name


def test_the_briefs_business_features_are_in_the_schema():
    expected = {
        "age",
        "employment_type",
        "years_in_job",
        "housing",
        "marital_status",
        "dependants",
        "education",
        "monthly_income",
        "monthly_expenses",
        "total_assets",
        "savings",
        "existing_debt_balance",
        "existing_debt_monthly_payment",
        "debt_to_income",
        "payment_to_income",
        "requested_amount",
        "term_months",
        "purpose",
        "number_of_existing_credits",
        "past_delinquencies",
        "income_volatility",
    }
    assert expected <= set(FEATURE_NAMES)
    assert set(FEATURES_BY_NAME["employment_type"].allowed) == {
        "salaried",
        "self_employed",
        "business_owner",
        "student",
        "retired",
        "unemployed",
    }
    assert set(FEATURES_BY_NAME["housing"].allowed) == {"own", "mortgage", "rent", "family"}


# -- validate_frame ---------------------------------------------------------------


def test_validate_frame_fills_absent_columns_and_drops_extra_ones():
    raw = pd.DataFrame(
        {"age": [30, 41], "purpose": ["car_new", "travel"], "sex": ["f", "m"], "shoe_size": [38, 44]},
        index=["a", "b"],
    )
    frame = validate_frame(raw)
    assert tuple(frame.columns) == FEATURE_NAMES
    assert list(frame.index) == ["a", "b"]
    assert "sex" not in frame.columns and "shoe_size" not in frame.columns
    assert frame["age"].dtype == np.float64
    assert frame["monthly_income"].isna().all()
    assert frame["housing"].isna().all()
    assert frame["purpose"].tolist() == ["car_new", "travel"]


def test_validate_frame_types_every_column():
    frame = validate_frame(pd.DataFrame({"age": ["30", None]}))
    for name in NUMERIC_FEATURES:
        assert frame[name].dtype == np.float64
    for name in CATEGORICAL_FEATURES:
        assert frame[name].dtype == object


def test_unknown_category_error_names_column_and_first_bad_row():
    raw = pd.DataFrame({"housing": ["own", "rent", "castle", "tent"]}, index=[10, 11, 12, 13])
    with pytest.raises(FeatureSchemaError) as error:
        validate_frame(raw)
    assert error.value.column == "housing"
    assert error.value.row == 12
    assert "castle" in str(error.value) and "housing" in str(error.value)


def test_non_numeric_value_error_names_column_and_first_bad_row():
    raw = pd.DataFrame({"monthly_income": ["8000", "", "lots", "9000"]}, index=list("wxyz"))
    with pytest.raises(FeatureSchemaError) as error:
        validate_frame(raw)
    assert error.value.column == "monthly_income"
    assert error.value.row == "y"
    assert "lots" in str(error.value)


@pytest.mark.parametrize(
    ("column", "values", "bad_row"),
    [
        ("age", [30.0, -1.0], 1),
        ("term_months", [12, 0], 1),
        ("savings", [np.inf, 5.0], 0),
        ("dependants", [True, False], 0),
        ("past_delinquencies", pd.Series([1, True], dtype=object), 1),
        ("purpose", [3, "car_new"], 0),
    ],
)
def test_impossible_values_are_refused_with_column_and_row(column, values, bad_row):
    with pytest.raises(FeatureSchemaError) as error:
        validate_frame(pd.DataFrame({column: values}))
    assert error.value.column == column
    assert error.value.row == bad_row


def test_validate_frame_forgives_case_spacing_and_hyphens_in_categories():
    frame = validate_frame(pd.DataFrame({"employment_type": ["Self-Employed", " salaried ", "BUSINESS owner"]}))
    assert frame["employment_type"].tolist() == ["self_employed", "salaried", "business_owner"]


def test_blank_and_null_values_are_missing():
    frame = validate_frame(pd.DataFrame({"age": ["", None, "31"], "housing": ["", None, "own"]}))
    assert frame["age"].isna().tolist() == [True, True, False]
    assert frame["housing"].isna().tolist() == [True, True, False]


def test_pandas_na_is_missing_in_frames_and_mappings():
    frame = validate_frame(pd.DataFrame({"age": pd.array([30, None], dtype="Int64"), "housing": ["own", pd.NA]}))
    assert frame["age"].isna().tolist() == [False, True]
    assert frame["housing"].isna().tolist() == [False, True]
    vector = vector_from_mapping({"age": pd.NA, "housing": pd.NA})
    assert math.isnan(vector["age"]) and vector["housing"] is None


def test_errors_report_the_first_bad_row_even_with_a_repeated_index():
    raw = pd.DataFrame({"purpose": ["car_new", "yacht"]}, index=[5, 5])
    with pytest.raises(FeatureSchemaError) as error:
        validate_frame(raw)
    assert error.value.row == 5 and "'yacht'" in str(error.value)


def test_debt_to_income_is_derived_when_missing_and_income_positive():
    raw = pd.DataFrame(
        {
            "monthly_income": [10_000, 0, 8_000, 5_000],
            "existing_debt_monthly_payment": [2_500, 100, np.nan, 1_000],
            "debt_to_income": [np.nan, np.nan, np.nan, 0.5],
        }
    )
    frame = validate_frame(raw)
    assert frame["debt_to_income"].iloc[0] == pytest.approx(0.25)
    assert math.isnan(frame["debt_to_income"].iloc[1])  # no income: cannot derive
    assert math.isnan(frame["debt_to_income"].iloc[2])  # no payment: cannot derive
    assert frame["debt_to_income"].iloc[3] == 0.5  # given value wins


def test_validate_frame_does_not_modify_its_input():
    raw = pd.DataFrame({"age": ["30"], "housing": ["OWN"]})
    before = raw.copy()
    validate_frame(raw)
    pd.testing.assert_frame_equal(raw, before)


def test_duplicate_columns_are_refused():
    raw = pd.DataFrame([[1, 2]], columns=["age", "age"])
    with pytest.raises(FeatureSchemaError) as error:
        validate_frame(raw)
    assert error.value.column == "age"


# -- vector_from_mapping ----------------------------------------------------------


def test_vector_from_mapping_normalises_one_applicant():
    vector = vector_from_mapping(
        {
            "age": 34,
            "monthly_income": Decimal("12000.50"),
            "existing_debt_monthly_payment": "3000",
            "housing": "Mortgage",
            "purpose": "car-used",
            "savings": "",
            "education": None,
            "sex": "female",
            "nationality": "x",
            "favourite_colour": "blue",
        }
    )
    assert list(vector) == list(FEATURE_NAMES)
    assert vector["age"] == 34.0 and isinstance(vector["age"], float)
    assert vector["monthly_income"] == 12000.5
    assert vector["housing"] == "mortgage"
    assert vector["purpose"] == "car_used"
    assert math.isnan(vector["savings"])
    assert vector["education"] is None
    assert vector["debt_to_income"] == pytest.approx(3000 / 12000.5)
    assert not {"sex", "nationality", "favourite_colour"} & set(vector)


@pytest.mark.parametrize(
    ("values", "column"),
    [
        ({"age": "thirty"}, "age"),
        ({"age": True}, "age"),
        ({"monthly_income": -5}, "monthly_income"),
        ({"savings": float("inf")}, "savings"),
        ({"marital_status": "complicated"}, "marital_status"),
        ({"purpose": 7}, "purpose"),
        ({"term_months": [12]}, "term_months"),
    ],
)
def test_vector_from_mapping_errors_name_the_feature(values, column):
    with pytest.raises(FeatureSchemaError) as error:
        vector_from_mapping(values)
    assert error.value.column == column
    assert error.value.row is None
    assert str(error.value).startswith(column)


def _raw_value(feature):
    if feature.is_numeric:
        low = feature.minimum or 0
        return st.one_of(
            st.none(),
            st.floats(min_value=low, max_value=1e7, allow_nan=False),
            st.integers(min_value=int(math.ceil(low)), max_value=100).map(str),
        )
    return st.one_of(st.none(), st.sampled_from(feature.allowed), st.sampled_from(feature.allowed).map(str.upper))


applicants = st.fixed_dictionaries({f.name: _raw_value(f) for f in FEATURES})


@settings(max_examples=150, deadline=None)
@given(applicants)
def test_one_row_frame_and_mapping_normalise_alike(values):
    vector = vector_from_mapping(values)
    frame = validate_frame(pd.DataFrame([values], dtype=object))
    row = frame.iloc[0]
    for name in FEATURE_NAMES:
        expected = vector[name]
        if name in NUMERIC_FEATURES:
            if math.isnan(expected):
                assert math.isnan(row[name]), name
            else:
                assert row[name] == pytest.approx(expected, rel=1e-15), name
        elif expected is None:
            assert pd.isna(row[name]), name
        else:
            assert row[name] == expected, name
