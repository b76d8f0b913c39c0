"""Monitoring of the model in use: population stability (PSI) of the score and of each characteristic
against the training sample, the score and grade distributions and the fairness report, recorded
per period (`monitoring_snapshot_record`); and what the model scores on (`model_inputs`), so the
fairness page states exactly that and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from datetime import time as dt_time
from typing import Any

import numpy as np
import pandas as pd
from django.utils import timezone
from django.utils.translation import gettext

from config.errors import DomainError
from scoring.features import FEATURES_BY_NAME, PROTECTED_ATTRIBUTES, validate_frame
from scoring.models import MonitoringSnapshot, ScoreResult, ScoringModelVersion
from scoring.registry import active_model, model_version_scorecard
from scoring.scorecard import PSI_ACT_ABOVE, PSI_WATCH_FROM, FeatureBinning, Scorecard, psi, psi_status  # noqa: F401 - the PSI bands, re-exported for the page

STATUS_ORDER = {"few": -1, "stable": 0, "watch": 1, "act": 2}
# Below this many applicants a PSI is mostly sampling noise (20 scores over 10 deciles leave bins
# empty): the figure is shown, but read as "too few to judge", never as a call to act.
PSI_MIN_APPLICANTS = 100


# Characteristics that may lawfully be scored on but that a fairness review must see named: when the
# model uses one, the monitoring page says so plainly. Protected attributes (sex, ethnicity, ...) are
# scoring.features.PROTECTED_ATTRIBUTES: never model inputs.
SENSITIVE_CHARACTERISTICS: tuple[str, ...] = ("age", "marital_status", "dependants")


def model_inputs(card: Scorecard) -> dict[str, Any]:
    """What `card` scores on, from its own features (not from the feature catalogue):

    - `features`: one dict per model feature in the card's order, with `name`, `label`, `label_zh`
      (scoring.features) and `sensitive` (in SENSITIVE_CHARACTERISTICS);
    - `sensitive_used`: names of the sensitive characteristics the card uses;
    - `sensitive_unused`: names of those it does not use;
    - `protected_never`: protected attributes the card does not use (all of them, for a valid model);
    - `protected_used`: protected attributes the card does use (empty unless something is badly wrong).
    """
    names = list(card.feature_names)
    features = []
    for name in names:
        feature = FEATURES_BY_NAME.get(name)
        label = (feature.label if feature else "") or name
        features.append({"name": name, "label": label, "label_zh": (feature.label_zh if feature else "") or label,
                         "sensitive": name in SENSITIVE_CHARACTERISTICS})
    return {
        "features": features,
        "sensitive_used": [n for n in names if n in SENSITIVE_CHARACTERISTICS],
        "sensitive_unused": [n for n in SENSITIVE_CHARACTERISTICS if n not in names],
        "protected_never": [a for a in PROTECTED_ATTRIBUTES if a not in names],
        "protected_used": [a for a in PROTECTED_ATTRIBUTES if a in names],
    }


def _day_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    tz = timezone.get_current_timezone()
    return (datetime.combine(start, dt_time.min, tzinfo=tz), datetime.combine(end + timedelta(days=1), dt_time.min,
                                                                               tzinfo=tz))


def _binning_slot_labels(binning: FeatureBinning) -> list[str]:
    return [*binning.labels, "missing", "unseen"]


def characteristic_psi(card: Scorecard, baseline: Mapping[str, list[int]], frame: pd.DataFrame) -> dict[str, dict]:
    """PSI of each model characteristic over its scorecard bins: training counts vs `frame`."""
    out = {}
    for feature in card.features:
        counts = baseline.get(feature.name) or [*feature.binning.counts, feature.binning.missing_count]
        labels = _binning_slot_labels(feature.binning)
        expected = pd.Series(np.repeat(np.arange(len(counts)), counts).astype(str), dtype=object)
        slots = feature.binning.bin_index(frame[feature.name])
        actual = pd.Series(slots.astype(str), dtype=object)
        value = psi(expected, actual)
        shares_expected = np.asarray(counts, dtype="float64") / max(sum(counts), 1)
        shares_actual = np.bincount(slots, minlength=len(labels)) / max(len(slots), 1)
        out[feature.name] = {
            "psi": round(value, 6),
            "status": psi_status(value),
            "bins": [{"bin": labels[i], "expected": round(float(shares_expected[i]) if i < len(counts) else 0.0, 6),
                      "actual": round(float(shares_actual[i]), 6)} for i in range(len(labels))
                     if (i < len(counts) and counts[i]) or shares_actual[i]],
        }
    return out


def score_distribution(training_scores: list[int], scores: np.ndarray, *, width: int = 20) -> list[dict]:
    """Shares of training and current scores in `width`-point bands (for the chart)."""
    both = np.concatenate([np.asarray(training_scores, dtype="int64"), scores.astype("int64")])
    if both.size == 0:
        return []
    low, high = int(both.min() // width * width), int(both.max() // width * width + width)
    edges = np.arange(low, high + width, width)
    expected = np.histogram(training_scores, bins=edges)[0] / max(len(training_scores), 1)
    actual = np.histogram(scores, bins=edges)[0] / max(len(scores), 1)
    return [{"from": int(edges[i]), "to": int(edges[i + 1]) - 1, "expected": round(float(expected[i]), 6),
             "actual": round(float(actual[i]), 6)} for i in range(len(edges) - 1)]


def monitoring_snapshot_record(*, period_start: date | None = None, period_end: date | None = None,
                               version: ScoringModelVersion | None = None) -> MonitoringSnapshot:
    """Record the population stability of one period (default: this month to date) for a version
    (default: the active one): PSI of the score and of each characteristic against the training
    sample, the score and grade distributions and the fairness report. Re-running a period
    replaces its snapshot."""
    from installments.assessment.selectors import fairness_report

    today = timezone.localdate()
    period_end = period_end or today
    period_start = period_start or period_end.replace(day=1)
    if period_start > period_end:
        raise DomainError(gettext("The period must start before it ends."), field="period_start")
    if version is None:
        version, card = active_model()
    else:
        card = model_version_scorecard(version)
    version = ScoringModelVersion.objects.get(pk=version.pk)
    start, end = _day_bounds(period_start, period_end)
    rows = list(ScoreResult.objects.filter(model_version=version, scored_at__gte=start, scored_at__lt=end)
                .values_list("score", "grade", "features"))
    values: dict[str, Any] = {"applications": len(rows), "recorded_at": timezone.now(),
                              "fairness": fairness_report(until=period_end)}
    if rows:
        scores = np.asarray([r[0] for r in rows], dtype="int64")
        frame = validate_frame(pd.DataFrame.from_records([r[2] for r in rows]))
        score_value = psi(pd.Series(version.training_scores, dtype="int64"), pd.Series(scores))
        characteristics = characteristic_psi(card, version.training_characteristics, frame)
        few = len(rows) < PSI_MIN_APPLICANTS
        if few:
            for entry in characteristics.values():
                entry["status"] = "few"
        score_status = "few" if few else psi_status(score_value)
        statuses = [score_status, *(c["status"] for c in characteristics.values())]
        grades = pd.Series([r[1] for r in rows]).value_counts()
        values.update(
            score_psi=round(score_value, 6),
            score_status=score_status,
            worst_status=max(statuses, key=STATUS_ORDER.__getitem__),
            characteristics=characteristics,
            score_distribution=score_distribution(version.training_scores, scores),
            grade_distribution={g: int(grades.get(g, 0)) for g in card.grade_bands.labels},
        )
    else:
        values.update(score_psi=None, score_status="", worst_status="", characteristics={},
                      score_distribution=score_distribution(version.training_scores, np.empty(0)),
                      grade_distribution={})
    snapshot, _ = MonitoringSnapshot.objects.update_or_create(
        model_version=version, period_start=period_start, period_end=period_end, defaults=values,
    )
    return snapshot
