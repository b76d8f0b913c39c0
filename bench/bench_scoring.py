"""Scoring speed: single-applicant `score_one` latency and batch `score_frame` throughput.

Trains the scorecard on German Credit, then measures, in the same run, each scoring path
beside its floor: scikit-learn's `predict_proba` of the very same logistic regression on
an already WOE-encoded matrix (no validation, no binning, no points, no reasons).
Targets: score_one under 1 ms; score_frame at least 50,000 rows/s. Prints figures only.

    python bench/bench_scoring.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scoring.features import validate_frame  # noqa: E402
from scoring.german_credit import load_german_credit  # noqa: E402
from scoring.scorecard import train_scorecard  # noqa: E402

SINGLE_CALLS = 2_000
BATCH_ROWS = 200_000
BATCH_REPEATS = 5


def same_regression(card) -> LogisticRegression:
    """The scorecard's regression as a fitted scikit-learn estimator (for the floor)."""
    model = LogisticRegression()
    model.classes_ = np.array([0, 1])
    model.coef_ = np.array([[f.coefficient for f in card.features]])
    model.intercept_ = np.array([card.intercept])
    return model


def woe_matrix(card, frame) -> np.ndarray:
    return np.column_stack([f.binning.woe_values(frame[f.name]) for f in card.features])


def median_call_seconds(call, arguments) -> float:
    timings = []
    for argument in arguments:
        start = time.perf_counter()
        call(argument)
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def best_of(call, repeats: int) -> float:
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        timings.append(time.perf_counter() - start)
    return min(timings)


def main() -> None:
    features, outcomes = load_german_credit()
    start = time.perf_counter()
    card, metrics = train_scorecard(features, outcomes, random_state=0)
    train_seconds = time.perf_counter() - start
    model = same_regression(card)
    cv, holdout = metrics["cross_validation"], metrics["holdout"]
    print(
        f"trained on German Credit in {train_seconds:.2f} s (incl. 5-fold CV and holdout): "
        f"{len(card.features)} features; CV AUC {cv['auc']:.3f}, holdout AUC {holdout['auc']:.3f}, "
        f"KS {holdout['ks']:.3f}, Gini {holdout['gini']:.3f}"
    )

    # Single applicant: raw dicts in, like the online path.
    rng = np.random.default_rng(0)
    rows = features.iloc[rng.integers(0, len(features), SINGLE_CALLS)]
    applicants = [row.to_dict() for _, row in rows.iterrows()]
    woe_rows = [r.reshape(1, -1) for r in woe_matrix(card, rows)]
    for applicant in applicants[:50]:  # warm caches
        card.score_one(applicant)
    one = median_call_seconds(card.score_one, applicants)
    one_floor = median_call_seconds(model.predict_proba, woe_rows)
    print(
        f"score_one: median {one * 1e6:8.1f} us/applicant   "
        f"(floor: sklearn predict_proba on one WOE row {one_floor * 1e6:8.1f} us)   target < 1000 us"
    )

    # Batch: 200,000 rows sampled with replacement.
    batch = features.iloc[rng.integers(0, len(features), BATCH_ROWS)].reset_index(drop=True)
    matrix = woe_matrix(card, batch)
    card.score_frame(batch.head(1_000))  # warm caches
    frame_seconds = best_of(lambda: card.score_frame(batch), BATCH_REPEATS)
    validate_seconds = best_of(lambda: validate_frame(batch), BATCH_REPEATS)
    floor_seconds = best_of(lambda: model.predict_proba(matrix), BATCH_REPEATS)
    print(
        f"score_frame: {BATCH_ROWS / frame_seconds:12,.0f} rows/s ({frame_seconds * 1e3:6.1f} ms for "
        f"{BATCH_ROWS:,} rows, of which validate_frame {validate_seconds * 1e3:6.1f} ms)   "
        f"(floor: sklearn predict_proba on the WOE matrix {BATCH_ROWS / floor_seconds:12,.0f} rows/s, "
        f"{floor_seconds * 1e3:6.1f} ms)   target >= 50,000 rows/s"
    )


if __name__ == "__main__":
    main()
