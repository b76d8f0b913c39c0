"""Batch rescoring of the book with the active model, vectorised over the stored feature snapshots
(`Scorecard.score_frame` and numpy), never row by row; open applications get their result updated.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.db import transaction
from django.utils import timezone

from installments.assessment.online import _pd_decimal, _reason_dicts
from installments.models import Application
from scoring.features import validate_frame
from scoring.models import ScoreResult
from scoring.registry import active_model
from scoring.scorecard import MAX_REASON_CODES, Scorecard, _reason_code


def points_matrix(card: Scorecard, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(points, slots): per applicant (row) and model feature (column), vectorised. `frame` must
    already be validated (`validate_frame`)."""
    slots = np.column_stack([f.binning.bin_index(frame[f.name]) for f in card.features])
    table = [f.slot_points for f in card.features]
    points = np.column_stack([table[j][slots[:, j]] for j in range(len(table))])
    return points, slots


def reason_matrix(card: Scorecard, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(feature index, points lost) of the top reason codes per row, largest shortfall first, ties
    in model feature order (as `Scorecard.score_one`); -1 where a row has fewer shortfalls."""
    best = np.asarray([f.best_points for f in card.features], dtype="int64")
    shortfall = best[None, :] - points
    order = np.argsort(-shortfall, axis=1, kind="stable")[:, :MAX_REASON_CODES]
    lost = np.take_along_axis(shortfall, order, axis=1)
    order = np.where(lost > 0, order, -1)
    return order, np.where(lost > 0, lost, 0)


@dataclass
class RescoreReport:
    model_version: str
    rows: int
    written: int
    scoring_seconds: float
    total_seconds: float
    grades: dict[str, int]
    frame: pd.DataFrame | None = None

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.scoring_seconds if self.scoring_seconds > 0 else math.inf


def book_rescore(*, include_decided: bool = False, write: bool = True, batch_size: int = 2000) -> RescoreReport:
    """Rescore the book with the active model, vectorised (`Scorecard.score_frame` and numpy on
    the stored feature snapshots), never row by row.

    Open applications (submitted to awaiting approval) get their ScoreResult updated (the earlier
    result moves to `history`, `rescored_at` is set) unless `write` is False. With
    `include_decided`, decided applications are scored too but never written: their stored result
    is the record of the decision. `frame` in the report holds every row's new score.
    """
    started = time.perf_counter()
    version, card = active_model()
    results = ScoreResult.objects.all()
    if not include_decided:
        results = results.filter(application__state__in=Application.OPEN_STATES)
    rows = list(results.order_by("pk").values_list("pk", "application_id", "application__state", "features"))
    if not rows:
        return RescoreReport(version.label, 0, 0, 0.0, time.perf_counter() - started, {})
    index = pd.Index([r[0] for r in rows], name="score_result")
    raw = pd.DataFrame.from_records([r[3] for r in rows], index=index)

    scoring_started = time.perf_counter()
    frame = validate_frame(raw)
    scored = card.score_frame(frame)
    points, slots = points_matrix(card, frame)
    reason_index, reason_lost = reason_matrix(card, points)
    scoring_seconds = time.perf_counter() - scoring_started

    scored["application"] = [r[1] for r in rows]
    scored["state"] = [r[2] for r in rows]
    open_mask = scored["state"].isin(Application.OPEN_STATES).to_numpy()
    written = 0
    if write and open_mask.any():
        written = _write_rescores(card, version, scored, points, slots, reason_index, reason_lost, open_mask,
                                  batch_size)
    grades = {g: int(n) for g, n in scored["grade"].value_counts().sort_index().items()}
    return RescoreReport(version.label, len(rows), written, scoring_seconds, time.perf_counter() - started, grades,
                         frame=scored)


_RESCORE_FIELDS = ("history", "score", "pd", "grade", "model_version", "points_by_feature", "reason_codes",
                   "rescored_at")


def _write_rescores(card, version, scored, points, slots, reason_index, reason_lost, open_mask, batch_size) -> int:
    """Write the new scores of the open applications, in chunks, each chunk locked and written with
    one executemany UPDATE (bulk_update's CASE expressions grow quadratically with the chunk)."""
    names = card.feature_names
    missing_slot = np.asarray([f.binning.n_bins for f in card.features])
    now = timezone.now()
    fields = [ScoreResult._meta.get_field(name) for name in _RESCORE_FIELDS]
    db = transaction.get_connection()  # the wrapper itself, not the thread-local proxy (hot loop below)
    quote = db.ops.quote_name
    sql = (f"UPDATE {quote(ScoreResult._meta.db_table)} SET "
           + ", ".join(f"{quote(f.column)} = %s" for f in fields) + f" WHERE {quote('id')} = %s")
    position_of = {int(pk): i for i, pk in enumerate(scored.index)}
    ids = [int(scored.index[i]) for i in np.flatnonzero(open_mask)]
    new_scores = scored["score"].to_numpy()
    new_pds = scored["pd"].to_numpy()
    new_grades = scored["grade"].to_numpy()
    written = 0
    for start in range(0, len(ids), batch_size):
        chunk = ids[start:start + batch_size]
        with transaction.atomic():
            current = ScoreResult.objects.select_for_update().filter(pk__in=chunk).order_by("pk").values_list(
                "pk", "score", "pd", "grade", "outcome", "model_version_id", "scored_at", "rule_hits", "history")
            params = []
            for pk, score, pd_value, grade, outcome, version_id, scored_at, rule_hits, history in current:
                i = position_of[pk]
                reasons = [_reason_code(names[j], int(lost), bool(slots[i, j] == missing_slot[j]))
                           for j, lost in zip(reason_index[i], reason_lost[i], strict=True) if j >= 0]
                previous = {"score": score, "pd": str(pd_value), "grade": grade, "outcome": outcome,
                            "model_version": version_id, "scored_at": scored_at.isoformat(),
                            "rule_hits": [h.get("rule") for h in rule_hits]}
                values = (
                    [*history, previous],
                    int(new_scores[i]),
                    _pd_decimal(new_pds[i]),
                    str(new_grades[i]),
                    version.pk,
                    {names[j]: int(points[i, j]) for j in range(len(names))},
                    _reason_dicts(reasons),
                    now,
                )
                params.append([f.get_db_prep_save(v, db) for f, v in zip(fields, values, strict=True)] + [pk])
            with db.cursor() as cursor:
                cursor.executemany(sql, params)
            written += len(params)
    return written
