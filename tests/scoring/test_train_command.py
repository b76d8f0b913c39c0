"""`manage.py train_scoring_model`: the bundled data, CSV files and their errors, retraining from
our own book; `seed_demo` for scoring."""

from io import StringIO

import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from customers.models import AuditEvent
from scoring import training
from scoring.models import PolicyRule, ScoringModelVersion


def run(*args):
    out = StringIO()
    call_command("train_scoring_model", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def german_csv(german, tmp_path):
    X, y = german
    path = tmp_path / "applicants.csv"
    # The columns German Credit cannot fill are left out, as an export of it would.
    X.dropna(axis=1, how="all").assign(bad=y.to_numpy()).to_csv(path, index=False)
    return path


def test_training_on_the_bundled_data_stores_an_active_version_with_metrics(db):
    output = run("--german-credit", "--activate", "--label", "german-v1", "--challenger")
    version = ScoringModelVersion.objects.get(label="german-v1")
    assert version.is_active and version.activated_at
    metrics = version.metrics
    assert metrics["cross_validation"]["auc"] >= 0.75
    assert metrics["holdout"]["auc"] >= 0.70
    for part in ("cross_validation", "holdout"):
        assert {"auc", "ks", "gini", "brier"} <= set(metrics[part])
    assert len(metrics["calibration"]) == 10
    assert "challenger" in metrics and metrics["challenger"]["challenger"]["auc"] > 0.6
    assert version.training_rows == 1000 and version.bad_rate == pytest.approx(0.3)
    assert len(version.data_fingerprint) == 64 and version.data_fingerprint == metrics["data_fingerprint"]
    assert {row["feature"] for row in version.binning_table} >= set(metrics["selected_features"])
    assert len(version.training_scores) == 1000
    assert set(version.training_characteristics) == set(metrics["selected_features"])
    assert version.scorecard["format"] == "scorecard"  # JSON, not a pickle
    assert version.grade_bands["max_pds"] == [0.03, 0.06, 0.10, 0.15, 0.22, 0.30]
    for word in ("AUC", "KS", "Gini", "Brier", "Cross-validation", "Held-out", "german-v1"):
        assert word in output
    assert AuditEvent.objects.filter(action="scoring.model_version.activate", target_id=str(version.pk)).exists()


def test_monotonic_numeric_bins_of_the_stored_version_really_are_monotonic(model_version):
    for feature in model_version.scorecard["features"]:
        if feature["kind"] != "numeric" or len(feature["bins"]) < 2:
            continue
        rates = [b["bads"] / b["count"] for b in feature["bins"]]
        steps = [b - a for a, b in zip(rates, rates[1:], strict=False)]
        assert all(s > 0 for s in steps) or all(s < 0 for s in steps), feature["name"]


def test_a_csv_with_schema_columns_trains(db, german_csv):
    frame = pd.read_csv(german_csv).assign(sex="female")  # a protected attribute: ignored, said so
    frame.to_csv(german_csv, index=False)
    output = run("--data", str(german_csv), "--target", "bad", "--label", "from-csv")
    assert "Ignored protected attribute “sex”" in output
    version = ScoringModelVersion.objects.get(label="from-csv")
    assert version.cv_auc >= 0.75
    assert "sex" not in str(version.scorecard)


@pytest.mark.parametrize(("mutate", "target", "column"), [
    (lambda f: f, "outcome", "outcome"),                                       # missing target
    (lambda f: f.assign(bad=f["bad"] * 2), "bad", "bad"),                       # not binary
    (lambda f: f.assign(bad=1), "bad", "bad"),                                  # a single class
    (lambda f: f.assign(age=f["age"].astype(object).where(f.index != 3, "old")), "bad", "age"),  # bad number
    (lambda f: f.assign(age=f["age"].where(f.index != 5, -4)), "bad", "age"),   # below the minimum
    (lambda f: f.assign(housing=f["housing"].where(f.index != 7, "castle")), "bad", "housing"),  # unknown category
    (lambda f: f.assign(favourite_colour="blue"), "bad", "favourite_colour"),  # unknown column
])
def test_bad_files_are_refused_naming_the_column(db, german_csv, mutate, target, column):
    mutate(pd.read_csv(german_csv)).to_csv(german_csv, index=False)
    with pytest.raises(CommandError) as error:
        run("--data", str(german_csv), "--target", target)
    assert column in str(error.value)
    assert not ScoringModelVersion.objects.exists()


def test_an_unknown_column_can_be_dropped_on_request(german_csv):
    pd.read_csv(german_csv).assign(branch="north").to_csv(german_csv, index=False)
    X, y, notes = training.training_data_from_csv(german_csv, target="bad", ignore_unknown=True)
    assert "branch" not in X.columns and len(y) == 1000
    assert notes == ["Ignored column “branch”: not in the feature schema."]


def test_unreadable_or_missing_files_are_clear_errors(db, tmp_path):
    with pytest.raises(CommandError, match="No such file"):
        run("--data", str(tmp_path / "nope.csv"), "--target", "bad")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(CommandError, match="Cannot read"):
        run("--data", str(empty), "--target", "bad")
    with pytest.raises(CommandError, match="--target"):
        run("--data", str(empty))


def test_retraining_from_the_book_without_history_says_so(db):
    with pytest.raises(CommandError, match="No plan has 12 months of repayment history yet"):
        run("--from-book")


def test_seed_demo_trains_activates_and_adds_default_rules_once(db):
    from installments.assessment.demo import seed_demo

    out = StringIO()
    seed_demo(stdout=out)
    seed_demo(stdout=out)
    assert ScoringModelVersion.objects.filter(is_active=True).count() == 1
    assert ScoringModelVersion.objects.count() == 1
    assert PolicyRule.objects.count() == 7
