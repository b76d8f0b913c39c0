"""The scorecard: binning, training on German Credit, scoring, reasons, serialisation, monitoring."""

import ast
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.features import (
    FEATURE_NAMES,
    FEATURES,
    FEATURES_BY_NAME,
    PROTECTED_ATTRIBUTES,
    FeatureSchemaError,
)
from scoring.german_credit import band_values, load_german_credit
from scoring.scorecard import (
    BinningSpec,
    GradeBands,
    ScalingSpec,
    Scorecard,
    ScorecardFormatError,
    bin_feature,
    data_fingerprint,
    four_fifths_flags,
    psi,
    psi_status,
    train_challenger,
    train_scorecard,
)


@pytest.fixture(scope="module")
def german():
    return load_german_credit()


@pytest.fixture(scope="module")
def trained(german):
    X, y = german
    return train_scorecard(X, y, random_state=0)


@pytest.fixture(scope="module")
def card(trained):
    return trained[0]


@pytest.fixture(scope="module")
def metrics(trained):
    return trained[1]


def _woe_is_strictly_monotonic(woe, trend):
    steps = np.diff(woe)
    return bool((steps < 0).all()) if trend == "increasing" else bool((steps > 0).all())


def test_the_scoring_core_is_pure_python_without_django():
    for module in ("features", "german_credit", "scorecard"):
        tree = ast.parse((Path(__file__).parents[2] / "scoring" / f"{module}.py").read_text())
        imported = [
            name
            for node in ast.walk(tree)
            for name in (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
        ]
        assert not any(name.split(".")[0] == "django" for name in imported), module


# -- German Credit -----------------------------------------------------------------


def test_german_credit_loads_1000_applicants_with_30_percent_bad(german):
    X, y = german
    assert X.shape == (1000, len(FEATURE_NAMES))
    assert tuple(X.columns) == FEATURE_NAMES
    assert y.name == "bad" and set(y.unique()) == {0, 1} and y.sum() == 300


def test_german_credit_never_uses_sex_or_foreign_worker(german):
    X, _ = german
    assert not set(PROTECTED_ATTRIBUTES) & set(X.columns)
    # The source fuses marital status with sex, so it stays out entirely.
    assert X["marital_status"].isna().all()


def test_german_credit_maps_the_documented_columns(german):
    X, _ = german
    for name in (
        "age",
        "term_months",
        "requested_amount",
        "checking_status",
        "credit_history",
        "purpose",
        "housing",
        "years_in_job",
        "payment_to_income",
        "number_of_existing_credits",
        "main_asset",
    ):
        assert X[name].notna().all(), name
    assert set(X["housing"].unique()) == {"own", "rent", "family"}
    assert set(X["checking_status"].unique()) == {"no_account", "negative", "low", "high"}


def test_band_values_put_the_midpoints_on_the_band_boundaries():
    values = band_values([100, 500, 1000], first_value=50)
    midpoints = [(a + b) / 2 for a, b in zip(values, values[1:], strict=False)]
    assert midpoints == [100, 500, 1000]
    with pytest.raises(ValueError):
        band_values([100, 120], first_value=10)  # 190 would lie above 120's band


# -- Training quality ----------------------------------------------------------------


def test_german_credit_reaches_auc_075_by_cross_validation(metrics):
    cv = metrics["cross_validation"]
    assert cv["folds"] == 5 and len(cv["per_fold"]) == 5
    assert cv["auc"] >= 0.75
    assert metrics["holdout"]["auc"] >= 0.72
    assert metrics["holdout"]["n_test"] == 300


def test_metrics_are_consistent_and_json_serialisable(metrics):
    for block in (metrics["cross_validation"], metrics["holdout"]):
        assert 0 < block["ks"] < 1
        assert 0 < block["brier"] < 0.25
    assert metrics["holdout"]["gini"] == pytest.approx(2 * metrics["holdout"]["auc"] - 1)
    json.dumps(metrics, allow_nan=False)


def test_calibration_table_compares_predicted_and_actual_by_decile(metrics):
    table = metrics["calibration"]
    assert [row["decile"] for row in table] == list(range(1, 11))
    assert sum(row["count"] for row in table) == 1000
    mean_pds = [row["mean_pd"] for row in table]
    assert mean_pds == sorted(mean_pds)
    # Out-of-fold PDs should be roughly calibrated overall.
    overall = sum(r["mean_pd"] * r["count"] for r in table) / 1000
    assert overall == pytest.approx(0.3, abs=0.05)


def test_binning_table_lists_every_bin_with_its_statistics(metrics, card):
    table = pd.DataFrame(metrics["binning_table"])
    assert {"feature", "bin", "count", "bad_rate", "woe", "iv", "points"} <= set(table.columns)
    assert set(table["feature"]) == set(FEATURE_NAMES)
    for name in card.feature_names:
        rows = table[table["feature"] == name]
        assert rows["count"].sum() == 1000
        assert rows["points"].notna().all()
        assert rows["iv"].sum() == pytest.approx(metrics["feature_iv"][name])


def test_only_features_with_enough_information_value_are_selected(metrics, card):
    for name in card.feature_names:
        assert metrics["feature_iv"][name] >= 0.02
    assert "checking_status" in card.feature_names  # the strongest feature in this data
    assert "marital_status" not in card.feature_names


def test_every_model_coefficient_has_the_sign_that_makes_points_rise_with_woe(card):
    for feature in card.features:
        assert feature.coefficient < 0
        order = np.argsort(feature.binning.woe)
        assert list(np.asarray(feature.points)[order]) == sorted(feature.points)


def test_training_is_reproducible(german, card, metrics):
    X, y = german
    again, again_metrics = train_scorecard(X, y, random_state=0)
    assert again.to_dict() == card.to_dict()
    assert again_metrics["cross_validation"] == metrics["cross_validation"]


def test_data_fingerprint_is_recorded_with_the_model(card, metrics):
    assert card.metadata["data_fingerprint"] == metrics["data_fingerprint"]
    assert len(metrics["data_fingerprint"]) == 64


# -- Binning ------------------------------------------------------------------------


def test_numeric_bins_of_the_trained_model_are_monotonic_in_woe(metrics, card):
    table = pd.DataFrame(metrics["binning_table"])
    for feature in card.features:
        b = feature.binning
        if b.kind != "numeric":
            continue
        assert _woe_is_strictly_monotonic(b.woe, b.trend), b.name
        if FEATURES_BY_NAME[b.name].risk_trend:
            assert b.trend == FEATURES_BY_NAME[b.name].risk_trend
        rows = table[(table["feature"] == b.name) & (table["bin"] != "missing")]
        assert (rows["count"] >= 50).all() and (rows["bads"] > 0).all()
        assert (rows["bads"] < rows["count"]).all()


def test_business_trend_is_enforced_even_when_the_data_disagrees():
    rng = np.random.default_rng(1)
    income = rng.uniform(1_000, 20_000, 3_000)
    bad = (rng.uniform(size=income.size) < 0.1 + income / 40_000).astype(int)  # riskier when richer
    binning = bin_feature(income, bad, FEATURES_BY_NAME["monthly_income"])
    assert binning.trend == "decreasing"
    assert len(binning.labels) == 1 and binning.iv == pytest.approx(0.0, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(min_value=40, max_value=800),
    seed=st.integers(min_value=0, max_value=10_000),
    slope=st.floats(min_value=-3, max_value=3),
    missing_share=st.sampled_from([0.0, 0.02, 0.2]),
    distinct=st.sampled_from([3, 12, None]),
)
def test_numeric_binning_is_monotonic_with_min_share_and_both_classes(n, seed, slope, missing_share, distinct):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    if distinct:
        x = np.round(x * distinct / 4) / distinct
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-(slope * x - 0.8)))).astype(int)
    if y.min() == y.max():
        y[0] = 1 - y[0]
    x[rng.uniform(size=n) < missing_share] = np.nan
    spec = BinningSpec()
    binning = bin_feature(x, y, FEATURES_BY_NAME["age"], spec)
    if len(binning.labels) > 1:
        assert _woe_is_strictly_monotonic(binning.woe, binning.trend)
        counts, bads = np.asarray(binning.counts), np.asarray(binning.bads)
        assert (counts >= math.ceil(spec.min_bin_share * n)).all()
        assert ((bads > 0) & (bads < counts)).all()
        assert len(binning.labels) <= spec.max_bins
    assert sum(binning.counts) + binning.missing_count == n
    if binning.missing_count:
        assert binning.missing_woe <= 0.0 or binning.missing_woe == min(binning.woe)
    slots = binning.bin_index(x)
    assert np.bincount(slots, minlength=len(binning.labels) + 1)[: len(binning.labels)].tolist() == list(binning.counts)


def test_small_categories_are_pooled_into_other():
    values = pd.Series(["own"] * 500 + ["rent"] * 440 + ["mortgage"] * 30 + ["family"] * 30)
    y = (np.random.default_rng(3).uniform(size=values.size) < 0.3).astype(int)
    binning = bin_feature(values, y, FEATURES_BY_NAME["housing"])
    assert binning.groups == (("own",), ("rent",), ("mortgage", "family"))
    assert binning.labels[-1] == "other (mortgage, family)"


def test_a_pool_too_small_to_stand_alone_joins_the_closest_bin():
    values = pd.Series(["own"] * 500 + ["rent"] * 480 + ["family"] * 20)
    y = np.r_[np.zeros(400), np.ones(100), np.zeros(240), np.ones(240), np.zeros(10), np.ones(10)].astype(int)
    binning = bin_feature(values, y, FEATURES_BY_NAME["housing"])
    assert binning.groups == (("own",), ("rent", "family"))  # 50 % bad, like rent


# -- Scoring ------------------------------------------------------------------------


def test_total_score_is_the_sum_of_points_by_feature(german, card):
    X, _ = german
    for _, row in X.sample(50, random_state=1).iterrows():
        result = card.score_one(row.to_dict())
        assert result.score == sum(result.points_by_feature.values())
        assert set(result.points_by_feature) == set(card.feature_names)


def test_reason_codes_are_the_largest_point_shortfalls_against_the_best_bin(german, card):
    spec = card.to_dict()
    best = {f["name"]: max(b["points"] for b in f["bins"]) for f in spec["features"]}
    order = {name: i for i, name in enumerate(card.feature_names)}
    X, _ = german
    for _, row in X.sample(100, random_state=2).iterrows():
        result = card.score_one(row.to_dict())
        shortfalls = sorted(
            ((best[name] - pts, name) for name, pts in result.points_by_feature.items() if best[name] > pts),
            key=lambda item: (-item[0], order[item[1]]),
        )[:4]
        assert [(r.points_lost, r.feature) for r in result.reason_codes] == shortfalls
        for reason in result.reason_codes:
            assert reason.points_lost == best[reason.feature] - result.points_by_feature[reason.feature]
            feature = FEATURES_BY_NAME[reason.feature]
            if pd.isna(row[reason.feature]):
                assert reason.code == f"R_{reason.feature.upper()}_MISSING"
                assert reason.text_en == f"{feature.label} was not provided"
            else:
                assert reason.code == f"R_{reason.feature.upper()}"
                assert (reason.text_en, reason.text_zh) == (feature.reason_en, feature.reason_zh)


def test_debt_to_income_reason_reads_plainly_in_both_languages():
    feature = FEATURES_BY_NAME["debt_to_income"]
    assert feature.reason_en == "Debt payments are high compared with income"
    assert feature.reason_zh == "债务还款占收入比例较高"


def test_a_missing_value_scores_as_the_riskiest_bin_and_says_so(german, card):
    X, _ = german
    values = X.iloc[0].to_dict()
    values["checking_status"] = None
    result = card.score_one(values)
    checking = next(f for f in card.features if f.name == "checking_status")
    assert result.points_by_feature["checking_status"] == min(checking.points)
    codes = {r.code: r for r in result.reason_codes}
    assert "R_CHECKING_STATUS_MISSING" in codes
    assert codes["R_CHECKING_STATUS_MISSING"].text_en == "Current-account balance was not provided"
    assert codes["R_CHECKING_STATUS_MISSING"].text_zh == "未提供活期账户余额"


def test_an_allowed_category_unseen_in_training_scores_neutral(german, card):
    X, _ = german
    values = X.iloc[0].to_dict()
    values["housing"] = "mortgage"  # German Credit has no mortgage holders
    housing = next(f for f in card.features if f.name == "housing")
    assert card.score_one(values).points_by_feature["housing"] == housing.unseen_points
    assert min(housing.points) <= housing.unseen_points <= max(housing.points)


def test_score_frame_equals_score_one_row_by_row(german, card):
    X, _ = german
    sample = X.sample(200, random_state=3).copy()
    rng = np.random.default_rng(4)
    for name in card.feature_names:  # also exercise the missing slots
        sample.loc[rng.uniform(size=len(sample)) < 0.05, name] = np.nan
    batch = card.score_frame(sample)
    assert list(batch.columns) == ["score", "pd", "grade"]
    assert batch.index.equals(sample.index)
    assert batch["score"].dtype == np.int64
    for label, row in sample.iterrows():
        one = card.score_one(row.to_dict())
        assert one.score == batch.at[label, "score"]
        assert one.grade == batch.at[label, "grade"]
        assert one.pd == pytest.approx(batch.at[label, "pd"], rel=1e-12)


def _raw_values_for(card):
    cuts = {f.name: list(f.binning.cuts) for f in card.features}

    def value(feature):
        if feature.is_numeric:
            low = feature.minimum or 0
            edges = [c for c in cuts.get(feature.name, []) if c >= low]
            choices = [st.none(), st.floats(min_value=low, max_value=1e6, allow_nan=False)]
            if edges:
                choices.append(st.sampled_from(edges))  # exactly on a cut point
            return st.one_of(*choices)
        return st.one_of(st.none(), st.sampled_from(feature.allowed))

    return st.fixed_dictionaries({f.name: value(f) for f in FEATURES})


def test_score_frame_equals_score_one_for_generated_applicants(card):
    @settings(max_examples=200, deadline=None)
    @given(_raw_values_for(card))
    def check(values):
        one = card.score_one(values)
        batch = card.score_frame(pd.DataFrame([values], dtype=object)).iloc[0]
        assert (one.score, one.grade) == (batch["score"], batch["grade"])
        assert one.score == sum(one.points_by_feature.values())
        assert len(one.reason_codes) <= 4

    check()


def test_a_value_exactly_on_a_cut_point_falls_in_the_lower_bin(card):
    term = next(f for f in card.features if f.name == "term_months")
    cut = term.binning.cuts[0]
    assert term.binning.slot_of(cut) == 0
    assert term.binning.bin_index(np.array([cut]))[0] == 0


def test_score_frame_rejects_bad_input_naming_the_column(card):
    with pytest.raises(FeatureSchemaError) as error:
        card.score_frame(pd.DataFrame({"purpose": ["car_new", "spaceship"]}))
    assert error.value.column == "purpose" and error.value.row == 1


def test_protected_columns_in_the_input_do_not_change_scores(german, card):
    X, _ = german
    sample = X.head(100)
    with_protected = sample.assign(sex=["f", "m"] * 50, foreign_worker="yes", nationality="x")
    pd.testing.assert_frame_equal(card.score_frame(sample), card.score_frame(with_protected))


# -- Points scale and grades -------------------------------------------------------


def test_scaling_puts_base_points_at_base_odds_and_pdo_doubles_them():
    scaling = ScalingSpec(base_points=600, base_odds=50, pdo=20)
    assert scaling.pd_from_score(600) == pytest.approx(1 / 51)
    odds = lambda score: (1 - scaling.pd_from_score(score)) / scaling.pd_from_score(score)  # noqa: E731
    assert odds(620) == pytest.approx(2 * odds(600))
    assert scaling.score_from_pd(1 / 51) == pytest.approx(600)


def test_score_pd_follows_the_scaling(german, card):
    X, _ = german
    batch = card.score_frame(X.head(50))
    expected = 1 / (1 + 50 * 2 ** ((batch["score"] - 600) / 20))
    np.testing.assert_allclose(batch["pd"], expected, rtol=1e-12)


def test_grades_follow_the_score_bands(german, card):
    bands = card.grade_bands
    assert bands == GradeBands()
    scores = np.arange(400, 700)
    grades = bands.grades(scores)
    for score, grade in zip(scores, grades, strict=True):
        expected = next(
            (label for label, low in zip(bands.labels, bands.min_scores, strict=False) if score >= low),
            bands.labels[-1],
        )
        assert grade == expected == bands.grade(int(score))
    X, _ = german
    batch = card.score_frame(X)
    assert (batch["grade"].to_numpy() == bands.grades(batch["score"].to_numpy())).all()
    assert batch.groupby("grade")["score"].min().sort_index(ascending=False).is_monotonic_increasing


def test_grade_bands_from_pd_bands_match_the_pd():
    scaling = ScalingSpec()
    max_pds = (0.02, 0.05, 0.1, 0.15, 0.25, 0.4)
    bands = GradeBands.from_pd_bands(max_pds, scaling)
    for score in range(400, 700):
        pd_value = float(scaling.pd_from_score(score))
        expected = next(
            (label for label, cap in zip(bands.labels, max_pds, strict=False) if pd_value <= cap),
            bands.labels[-1],
        )
        assert bands.grade(score) == expected, score


def test_grade_bands_must_be_descending():
    with pytest.raises(ValueError):
        GradeBands(labels=("A", "B", "C"), min_scores=(500, 550))


# -- Serialisation -----------------------------------------------------------------


def test_to_dict_from_dict_round_trip_scores_identically(german, card):
    data = json.loads(json.dumps(card.to_dict(), allow_nan=False))
    restored = Scorecard.from_dict(data)
    assert restored.to_dict() == card.to_dict()
    X, _ = german
    pd.testing.assert_frame_equal(restored.score_frame(X), card.score_frame(X))
    row = X.iloc[7].to_dict()
    assert restored.score_one(row) == card.score_one(row)


def test_serialised_scorecard_holds_bins_woe_points_coefficients_scaling_and_bands(card):
    data = card.to_dict()
    assert data["scaling"] == {"base_points": 600.0, "base_odds": 50.0, "pdo": 20.0}
    assert data["grade_bands"]["labels"] == list("ABCDEFG")
    for feature in data["features"]:
        assert {"name", "kind", "coefficient", "bins", "missing", "cuts"} <= set(feature)
        assert all({"label", "woe", "points", "count", "bads"} <= set(b) for b in feature["bins"])


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda d: d.update(version=99),
        lambda d: d["features"][0].update(name="sex"),
        lambda d: d["features"][0].update(kind="categorical" if d["features"][0]["kind"] == "numeric" else "numeric"),
        lambda d: next(f for f in d["features"] if f["kind"] == "numeric").update(cuts=[5.0, 1.0]),
        lambda d: next(f for f in d["features"] if f["kind"] == "categorical")["bins"][0].update(values=["yacht"]),
        lambda d: d["features"][0]["bins"][0].update(points=1.5),
        lambda d: d.pop("scaling"),
    ],
)
def test_from_dict_refuses_malformed_scorecards(card, corrupt):
    data = json.loads(json.dumps(card.to_dict()))
    corrupt(data)
    with pytest.raises(ScorecardFormatError):
        Scorecard.from_dict(data)


# -- Challenger ----------------------------------------------------------------------


def test_challenger_is_compared_on_the_same_holdout_split(german, metrics):
    X, y = german
    comparison = train_challenger(X, y, random_state=0)
    assert comparison["split"]["n_test"] == metrics["holdout"]["n_test"]
    assert comparison["scorecard"]["auc"] == pytest.approx(metrics["holdout"]["auc"])
    assert comparison["challenger"]["auc"] > 0.65


# -- Monitoring and fairness ---------------------------------------------------------


def test_psi_of_an_identical_sample_is_zero():
    sample = np.random.default_rng(5).normal(600, 40, 5_000)
    assert psi(sample, sample) == pytest.approx(0.0, abs=1e-12)
    assert psi_status(psi(sample, sample)) == "stable"


def test_psi_of_a_resample_is_small_and_of_a_strong_shift_is_large():
    rng = np.random.default_rng(6)
    expected = rng.normal(600, 40, 20_000)
    assert psi(expected, rng.normal(600, 40, 20_000)) < 0.01
    shifted = psi(expected, rng.normal(650, 40, 20_000))
    assert shifted > 0.25 and psi_status(shifted) == "act"


def test_psi_handles_categories_and_missing_values():
    expected = pd.Series(["own"] * 60 + ["rent"] * 40)
    assert psi(expected, expected) == pytest.approx(0.0, abs=1e-12)
    moved = pd.Series(["own"] * 20 + ["rent"] * 50 + [None] * 30, dtype=object)
    assert psi(expected, moved) > 0.25
    numeric_with_missing = np.r_[np.arange(100.0), [np.nan] * 10]
    assert psi(numeric_with_missing, numeric_with_missing) == pytest.approx(0.0, abs=1e-12)
    assert psi(list(range(100)), list(range(50, 150))) > 0.25  # plain lists of numbers bin as numbers


@pytest.mark.parametrize(
    ("value", "status"),
    [(0.0, "stable"), (0.099, "stable"), (0.1, "watch"), (0.25, "watch"), (0.2501, "act"), (3.0, "act")],
)
def test_psi_status_thresholds(value, status):
    assert psi_status(value) == status


def test_four_fifths_rule_flags_groups_below_80_percent_of_the_best():
    flags = four_fifths_flags({"group_a": 0.60, "group_b": 0.50, "group_c": 0.45})
    assert flags["group_a"].impact_ratio == 1.0 and not flags["group_a"].flagged
    assert flags["group_b"].impact_ratio == pytest.approx(0.5 / 0.6) and not flags["group_b"].flagged
    assert flags["group_c"].impact_ratio == pytest.approx(0.75) and flags["group_c"].flagged
    assert four_fifths_flags({}) == {}
    assert not any(r.flagged for r in four_fifths_flags({"a": 0.0, "b": 0.0}).values())
    with pytest.raises(ValueError):
        four_fifths_flags({"a": 1.5})


def test_data_fingerprint_is_canonical_and_sensitive():
    frame = pd.DataFrame({"b": [1, 2], "a": ["x", None]})
    same = pd.DataFrame({"a": ["x", None], "b": [1.0, 2.0]})
    assert data_fingerprint(frame) == data_fingerprint(same)
    assert data_fingerprint(frame) != data_fingerprint(frame.assign(b=[1, 3]))
    assert data_fingerprint(frame) != data_fingerprint(frame.iloc[::-1])
