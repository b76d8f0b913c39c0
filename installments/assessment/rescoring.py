"""Batch rescoring of the book with the active model, vectorised over the stored feature snapshots
(`Scorecard.score_frame` and numpy), never row by row; open applications get their result updated.

The book is read, scored and written in chunks of `batch_size` results (by primary key), so memory
stays flat whatever the size of the book. Per chunk: one query reads the snapshots as JSON text,
parsed with one `json.loads`; the scores, points and reason codes are computed on the whole chunk;
the JSON of the points and of the reason codes is rendered once per distinct row (a book has far
fewer distinct rows than applicants). On PostgreSQL each chunk is written with one UPDATE from
arrays (`unnest`), the earlier result appended to `history` by the database from the row itself;
elsewhere (SQLite) with one executemany UPDATE. Measured with `bench/bench_scoring_service.py`.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
from django.db import connections, transaction
from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils import timezone

from installments.assessment.online import _pd_decimal, _reason_dicts
from installments.models import Application
from scoring.features import validate_frame
from scoring.models import ScoreResult
from scoring.registry import active_model
from scoring.scorecard import MAX_REASON_CODES, Scorecard, _reason_code

BATCH_SIZE = 10_000
# The advisory lock key of rescoring's writes on PostgreSQL (a constant no other code uses).
_REWRITE_LOCK = 7_300_418_001


def points_matrix(card: Scorecard, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(points, slots): per applicant (row) and model feature (column), vectorised. `frame` must
    already be validated (`validate_frame`)."""
    slots = np.column_stack([f.binning.bin_index(frame[f.name]) for f in card.features])
    table = card.slot_tables  # as the scorecard scores (a missing optional value scores neutral)
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


def book_rescore(*, include_decided: bool = False, write: bool = True,
                 batch_size: int = BATCH_SIZE) -> RescoreReport:
    """Rescore the book with the active model, vectorised (`Scorecard.score_frame` and numpy on
    the stored feature snapshots), never row by row, in chunks of `batch_size` results.

    Open applications (submitted to awaiting approval) get their ScoreResult updated (the earlier
    result moves to `history`, `rescored_at` is set) unless `write` is False; each chunk is written
    in a transaction of its own, and a result whose application was decided meanwhile is left as it
    is. With `include_decided`, decided applications are scored too but never written: their stored
    result is the record of the decision. `frame` in the report holds every row's new score, PD,
    grade, application and state (not the features).
    """
    started = time.perf_counter()
    version, card = active_model()
    results = ScoreResult.objects.all()
    if not include_decided:
        results = results.filter(application__state__in=Application.OPEN_STATES)
    # The snapshot as the database's JSON text: one json.loads per chunk, not one per row.
    results = results.order_by("pk").values_list("pk", "application_id", "application__state",
                                                 Cast("features", output_field=TextField()))
    now = timezone.now()
    parts: list[tuple[pd.DataFrame, float]] = []
    writer = _ChunkWriter()
    try:
        written = _rescore_chunks(card, version, results, batch_size, write, now, writer, parts)
    finally:
        writer.close()
    scoring_seconds = sum(seconds for _, seconds in parts)
    if not parts:
        return RescoreReport(version.label, 0, 0, 0.0, time.perf_counter() - started, {})
    scored = pd.concat([frame for frame, _ in parts]) if len(parts) > 1 else parts[0][0]
    grades = {g: int(n) for g, n in scored["grade"].value_counts().sort_index().items()}
    return RescoreReport(version.label, len(scored), written, scoring_seconds, time.perf_counter() - started,
                         grades, frame=scored)


def _rescore_chunks(card, version, results, batch_size, write, now, writer, parts) -> int:
    """Read, score and hand to `writer` the book chunk by chunk; appends (scored frame, scoring
    seconds) to `parts`; returns how many results were written."""
    # Chunks are ranges of primary keys, `batch_size` results each (whatever their state), bounded
    # first by an index-only read of the ids: the chunk's query then reads a key range, whatever the
    # planner believes of the states (a LIMIT over the join picked a plan that reads the whole book
    # when the statistics were stale).
    ids = ScoreResult.objects.order_by("pk").values_list("pk", flat=True)
    last_pk, more = None, True
    while more:
        bound = list((ids if last_pk is None else ids.filter(pk__gt=last_pk))[batch_size - 1:batch_size])
        chunk = results if last_pk is None else results.filter(pk__gt=last_pk)
        if bound:
            chunk = chunk.filter(pk__lte=bound[0])
            last_pk = bound[0]
        else:
            more = False
        rows = list(chunk)
        if not rows:
            continue
        index = pd.Index([r[0] for r in rows], name="score_result")
        raw = pd.DataFrame.from_records(json.loads("[" + ",".join([r[3] for r in rows]) + "]"), index=index)

        scoring_started = time.perf_counter()
        frame = validate_frame(raw)
        scored = card.score_frame(frame)
        points, slots = points_matrix(card, frame)
        reason_index, reason_lost = reason_matrix(card, points)
        scoring_seconds = time.perf_counter() - scoring_started

        scored["application"] = [r[1] for r in rows]
        scored["state"] = [r[2] for r in rows]
        open_mask = scored["state"].isin(Application.OPEN_STATES).to_numpy()
        if write and open_mask.any():
            writer.write(partial(_write_rescores, card, version, scored[open_mask], points[open_mask],
                                 slots[open_mask], reason_index[open_mask], reason_lost[open_mask], now))
        parts.append((scored, scoring_seconds))
    return writer.finish()


class _ChunkWriter:
    """Writes the chunks handed to it. On PostgreSQL, when the caller is not inside a transaction
    (whose rows another connection could not see), on a thread of its own with its own connection:
    the database writes one chunk while this thread reads and scores the next, and at most one
    chunk waits (memory stays flat). Otherwise in this thread, in turn."""

    def __init__(self) -> None:
        db = transaction.get_connection()
        self._pool = None
        if db.vendor == "postgresql" and not db.in_atomic_block:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="book-rescore-writer")
        self._pending: Future | None = None
        self.written = 0

    def write(self, job: Callable[[], int]) -> None:
        if self._pool is None:
            self.written += job()
            return
        self._wait()
        self._pending = self._pool.submit(job)

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self.written += pending.result()  # a failed chunk raises here

    def finish(self) -> int:
        """Wait for the last chunk (its error raised here); the number of results written."""
        self._wait()
        return self.written

    def close(self) -> None:
        """Let the chunk under way end (its error already raised, or another one on its way) and
        close the writer thread's connection."""
        if self._pool is None:
            return
        if self._pending is not None:
            wait([self._pending])
        self._pool.submit(connections.close_all).result()
        self._pool.shutdown()


def _json_by_row(matrix: np.ndarray, render) -> tuple[list[str], np.ndarray]:
    """(JSON texts, key per row): `render(row)` of each distinct row of `matrix`, and each row's
    position among them."""
    distinct, key = np.unique(matrix, axis=0, return_inverse=True)
    return [json.dumps(render(row)) for row in distinct.tolist()], key.reshape(-1)


def _rendered(card: Scorecard, points, slots, reason_index, reason_lost):
    """(points texts, points key per row, reasons texts, reasons key per row): the JSON of
    `points_by_feature` and of `reason_codes`, as `application_score` stores them."""
    names = card.feature_names
    missing_slot = np.asarray([f.binning.n_bins for f in card.features])
    points_texts, points_key = _json_by_row(points, lambda row: dict(zip(names, row, strict=True)))
    feature = np.maximum(reason_index, 0)
    missing = (np.take_along_axis(slots, feature, axis=1) == missing_slot[feature]) & (reason_index >= 0)
    codes = np.concatenate([reason_index, reason_lost, missing.astype("int64")], axis=1)

    def reasons(row: list[int]) -> list[dict]:
        return _reason_dicts([_reason_code(names[j], lost, bool(gone), neutral=card.is_neutral_when_missing(names[j]))
                              for j, lost, gone in zip(row[:MAX_REASON_CODES], row[MAX_REASON_CODES:2 * MAX_REASON_CODES],
                                                       row[2 * MAX_REASON_CODES:], strict=True) if j >= 0])

    reasons_texts, reasons_key = _json_by_row(codes, reasons)
    return points_texts, points_key, reasons_texts, reasons_key


def _pd_texts(pds: np.ndarray) -> list[str]:
    """Each PD as `application_score` stores it (`_pd_decimal`), computed once per distinct value."""
    distinct, key = np.unique(pds, return_inverse=True)
    texts = [str(_pd_decimal(value)) for value in distinct.tolist()]
    return [texts[i] for i in key.reshape(-1).tolist()]


def _write_rescores(card, version, scored, points, slots, reason_index, reason_lost, now) -> int:
    """Write the new results of one chunk of open applications, in one transaction; returns how
    many were written (a result whose application is no longer open is skipped)."""
    points_texts, points_key, reasons_texts, reasons_key = _rendered(card, points, slots, reason_index, reason_lost)
    ids = [int(pk) for pk in scored.index]
    new = {"score": scored["score"].to_numpy().tolist(), "pd": _pd_texts(scored["pd"].to_numpy()),
           "grade": [str(g) for g in scored["grade"]]}
    with transaction.atomic():
        db = transaction.get_connection()
        if db.vendor == "postgresql":
            return _write_postgresql(db, version, ids, new, points_texts, points_key.tolist(), reasons_texts,
                                     reasons_key.tolist(), now)
        return _write_rowwise(db, version, ids, new, points_texts, points_key, reasons_texts, reasons_key, now)


def _write_postgresql(db, version, ids, new, points_texts, points_key, reasons_texts, reasons_key, now) -> int:
    """One UPDATE from arrays. The database appends the earlier result to `history` from the row
    itself (as `online._previous` writes it: `scored_at` in ISO 8601 with +00:00, `pd` as its text,
    the rule names) and takes the points and reason codes JSON from the chunk's distinct texts by
    key. A transaction-level advisory lock keeps two rescoring runs from writing at once, so the
    UPDATE's row locks cannot deadlock (online scoring locks one result at a time); no JIT for a
    statement planned once."""
    quote = db.ops.quote_name
    table, applications = quote(ScoreResult._meta.db_table), quote(Application._meta.db_table)
    with db.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s); SET LOCAL jit = off", [_REWRITE_LOCK])
        cursor.execute(f"""
            UPDATE {table} AS r SET
                history = r.history || jsonb_build_array(jsonb_build_object(
                    'score', r.score, 'pd', r.pd::text, 'grade', r.grade, 'outcome', r.outcome,
                    'model_version', r.model_version_id,
                    'scored_at', to_char(r.scored_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
                        || CASE WHEN to_char(r.scored_at AT TIME ZONE 'UTC', 'US') = '000000' THEN ''
                                ELSE '.' || to_char(r.scored_at AT TIME ZONE 'UTC', 'US') END || '+00:00',
                    'rule_hits', COALESCE((SELECT jsonb_agg(hit.value -> 'rule' ORDER BY hit.position)
                                           FROM jsonb_array_elements(r.rule_hits) WITH ORDINALITY
                                                AS hit(value, position)), '[]'::jsonb))),
                score = n.score, pd = n.pd, grade = n.grade, model_version_id = %s,
                points_by_feature = n.points_by_feature, reason_codes = n.reason_codes, rescored_at = %s
            FROM (SELECT n.id, n.score, n.pd, n.grade, p.doc AS points_by_feature, q.doc AS reason_codes
                  FROM unnest(%s::bigint[], %s::integer[], %s::numeric[], %s::text[], %s::integer[], %s::integer[])
                           AS n(id, score, pd, grade, points_key, reasons_key)
                       JOIN unnest(%s::jsonb[]) WITH ORDINALITY AS p(doc, key) ON p.key = n.points_key + 1
                       JOIN unnest(%s::jsonb[]) WITH ORDINALITY AS q(doc, key) ON q.key = n.reasons_key + 1) AS n
            WHERE r.id = n.id
              AND (SELECT a.state FROM {applications} AS a WHERE a.id = r.application_id) = ANY(%s::text[])
        """, [version.pk, now, *map(_array, (ids, new["score"], new["pd"], new["grade"], points_key, reasons_key,
                                             points_texts, reasons_texts)), list(Application.OPEN_STATES)])
        return cursor.rowcount


def _array(values: list) -> str:
    """A PostgreSQL array literal ('{1,2}', '{"a","b"}') of ints or strings: one string parameter
    parsed by the server's array input, not an ARRAY[...] expression of thousands of constants."""
    if values and isinstance(values[0], str):
        return "{" + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values) + "}"
    return "{" + ",".join(map(str, values)) + "}"


_RESCORE_FIELDS = ("history", "score", "pd", "grade", "model_version", "points_by_feature", "reason_codes",
                   "rescored_at")


def _write_rowwise(db, version, ids, new, points_texts, points_key, reasons_texts, reasons_key, now) -> int:
    """Lock the chunk's rows whose application is still open and write them with one executemany
    UPDATE (bulk_update's CASE expressions grow quadratically with the chunk)."""
    fields = [ScoreResult._meta.get_field(name) for name in _RESCORE_FIELDS]
    quote = db.ops.quote_name
    sql = (f"UPDATE {quote(ScoreResult._meta.db_table)} SET "
           + ", ".join(f"{quote(f.column)} = %s" for f in fields) + f" WHERE {quote('id')} = %s")
    position_of = {pk: i for i, pk in enumerate(ids)}
    points_values = [json.loads(text) for text in points_texts]
    reasons_values = [json.loads(text) for text in reasons_texts]
    current = (ScoreResult.objects.select_for_update()
               .filter(pk__in=ids, application__state__in=Application.OPEN_STATES).order_by("pk")
               .values_list("pk", "score", "pd", "grade", "outcome", "model_version_id", "scored_at", "rule_hits",
                            "history"))
    params = []
    for pk, score, pd_value, grade, outcome, version_id, scored_at, rule_hits, history in current:
        i = position_of[pk]
        previous = {"score": score, "pd": str(pd_value), "grade": grade, "outcome": outcome,
                    "model_version": version_id, "scored_at": scored_at.isoformat(),
                    "rule_hits": [h.get("rule") for h in rule_hits]}
        values = ([*history, previous], new["score"][i], new["pd"][i], new["grade"][i], version.pk,
                  points_values[points_key[i]], reasons_values[reasons_key[i]], now)
        params.append([f.get_db_prep_save(v, db) for f, v in zip(fields, values, strict=True)] + [pk])
    with db.cursor() as cursor:
        cursor.executemany(sql, params)
    return len(params)
