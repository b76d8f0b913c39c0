"""Credit scorecard: monotonic WOE binning, logistic regression, points, reason codes.

Pure (no Django import): plain functions and classes on pandas/numpy values.

How a score is made
1. Each schema feature is binned (`bin_feature`). Numeric features start from quantile
   bins and are merged until the bad rate, hence the weight of evidence (WOE), is
   strictly monotonic in the direction the business expects (`Feature.risk_trend`) or,
   without one, the direction of the data's rank correlation; every bin then holds at
   least `min_bin_share` of the rows and both goods and bads. Categorical features get
   one bin per value; values too small to judge are pooled. Missing values have their
   own bin. Its WOE is estimated when enough training rows are missing, capped at
   neutral (`missing_woe_cap`) so that withholding information never scores above the
   average applicant; otherwise it scores as the feature's riskiest bin. Those missing points
   apply to the characteristics the credit policy requires; a characteristic the applicant
   was told is optional scores a missing value as WOE 0, the population's neutral value
   (`Scorecard(required=...)`): missing is not bad.
2. Features with IV >= `min_iv` enter, strongest first, unless their WOE correlates
   above `max_correlation` with one already in. A logistic regression on the WOE values
   is fitted; a feature whose coefficient has the wrong sign is dropped and the model
   refitted, so points always rise with WOE.
3. Points: with factor = pdo / ln 2 and offset = base_points - factor * ln(base_odds),
   a bin's points are round(-(coef * woe + intercept / n) * factor + offset / n) for n
   model features. The score is the sum of the applicant's bin points (an integer);
   score = offset + factor * ln(good:bad odds), which fixes the probability of default
   (PD). The risk grade comes from score bands (or PD bands converted to scores). When the
   training sample's bad rate is not the portfolio's, the intercept is prior-corrected
   (`prior_correction`) so the PD is calibrated to the portfolio's expected bad rate.

WOE convention: woe = ln(share of goods in the bin / share of bads in the bin), so
positive WOE means lower risk. Target convention: 1 = bad (default), 0 = good.
"""

from __future__ import annotations

import bisect
import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score, roc_curve
from sklearn.model_selection import StratifiedKFold, train_test_split

from scoring.features import (
    CATEGORICAL,
    FEATURES,
    FEATURES_BY_NAME,
    NUMERIC,
    Feature,
    validate_frame,
    vector_from_mapping,
)

FORMAT_NAME = "scorecard"
FORMAT_VERSION = 1
MAX_REASON_CODES = 4


class ScorecardFormatError(ValueError):
    """A serialised scorecard is malformed or does not fit the feature schema."""


# ---------------------------------------------------------------------------
# Scaling and grades
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ScalingSpec:
    """The points scale: `base_points` at good:bad odds of `base_odds`; +`pdo` doubles them."""

    base_points: float = 600.0
    base_odds: float = 50.0
    pdo: float = 20.0

    def __post_init__(self) -> None:
        if not (self.base_odds > 0 and self.pdo > 0 and math.isfinite(self.base_points)):
            raise ValueError("ScalingSpec needs base_odds > 0, pdo > 0 and finite base_points")

    @property
    def factor(self) -> float:
        return self.pdo / math.log(2)

    @property
    def offset(self) -> float:
        return self.base_points - self.factor * math.log(self.base_odds)

    def pd_from_score(self, score: Any) -> Any:
        """PD implied by a score (scalar or array): 1 / (1 + good:bad odds)."""
        return 1.0 / (1.0 + np.exp((np.asarray(score, dtype="float64") - self.offset) / self.factor))

    def score_from_pd(self, pd_value: float) -> float:
        """Unrounded score at which the PD equals `pd_value` (0 < pd_value < 1)."""
        if not 0.0 < pd_value < 1.0:
            raise ValueError("pd_value must be strictly between 0 and 1")
        return self.offset + self.factor * math.log((1.0 - pd_value) / pd_value)


@dataclass(frozen=True)
class GradeBands:
    """Risk grades by integer score: labels[i] for scores >= min_scores[i], else the last.

    `min_scores` has one entry fewer than `labels` and is strictly descending. The
    defaults put A at PD <= 1.96 % (600 points = 50:1) and step one grade per 20 points,
    i.e. per doubling of the odds.
    """

    labels: tuple[str, ...] = ("A", "B", "C", "D", "E", "F", "G")
    min_scores: tuple[float, ...] = (600, 580, 560, 540, 520, 500)

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", tuple(self.labels))
        object.__setattr__(self, "min_scores", tuple(float(s) for s in self.min_scores))
        if len(self.min_scores) != len(self.labels) - 1:
            raise ValueError("GradeBands needs exactly one min_score fewer than labels")
        if any(a <= b for a, b in zip(self.min_scores, self.min_scores[1:], strict=False)):
            raise ValueError("GradeBands.min_scores must be strictly descending")

    @classmethod
    def from_pd_bands(
        cls,
        max_pds: Sequence[float],
        scaling: ScalingSpec = ScalingSpec(),
        labels: Sequence[str] = ("A", "B", "C", "D", "E", "F", "G"),
    ) -> GradeBands:
        """Bands given as the highest PD of each grade but the last (ascending PDs).

        A score gets labels[i] exactly when its PD is <= max_pds[i] (and above the
        previous band's): min score = ceil(score at that PD).
        """
        min_scores = tuple(math.ceil(scaling.score_from_pd(p) - 1e-9) for p in max_pds)
        return cls(labels=tuple(labels), min_scores=min_scores)

    @cached_property
    def _ascending(self) -> np.ndarray:
        return np.asarray(self.min_scores[::-1], dtype="float64")

    def grade(self, score: float) -> str:
        """Grade of one score."""
        passed = bisect.bisect_right(self.min_scores[::-1], score)
        return self.labels[len(self.labels) - 1 - passed]

    def grades(self, scores: np.ndarray) -> np.ndarray:
        """Grades of many scores (vectorised), as an object array of labels."""
        passed = np.searchsorted(self._ascending, scores, side="right")
        return np.asarray(self.labels, dtype=object)[len(self.labels) - 1 - passed]


# ---------------------------------------------------------------------------
# Binning
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BinningSpec:
    """How features are binned: start from `initial_bins` quantiles, keep at most
    `max_bins`, each with at least `min_bin_share` of all rows and both classes.

    Missing values: with at least `min_bin_share` of rows missing, their bin's WOE is
    estimated and capped at `missing_woe_cap` (None: no cap); with fewer, it takes the
    lowest (riskiest) WOE of the feature's bins.
    """

    initial_bins: int = 20
    min_bin_share: float = 0.05
    max_bins: int = 6
    missing_woe_cap: float | None = 0.0


@dataclass(frozen=True)
class FeatureBinning:
    """The bins of one feature with their training counts and WOE.

    Numeric: bin i holds cuts[i-1] < x <= cuts[i] (open-ended at both extremes).
    Categorical: bin i holds the values in groups[i]. Missing values have their own bin
    (see BinningSpec); an allowed categorical value never seen in training gets neutral
    WOE 0: it is a declared, verifiable fact the data could not judge.
    """

    name: str
    kind: str
    labels: tuple[str, ...]
    counts: tuple[int, ...]
    bads: tuple[int, ...]
    woe: tuple[float, ...]
    cuts: tuple[float, ...] = ()
    groups: tuple[tuple[str, ...], ...] = ()
    missing_count: int = 0
    missing_bads: int = 0
    missing_woe: float = 0.0
    iv: float = 0.0
    trend: str | None = None

    @property
    def n_bins(self) -> int:
        return len(self.labels)

    @cached_property
    def _value_bins(self) -> dict[str, int]:
        return {value: i for i, group in enumerate(self.groups) for value in group}

    @cached_property
    def _value_index(self) -> tuple[pd.Index, np.ndarray]:
        values = list(self._value_bins)
        return pd.Index(values, dtype=object), np.asarray([self._value_bins[v] for v in values], dtype="int64")

    def bin_index(self, column: pd.Series | np.ndarray) -> np.ndarray:
        """Slot of each value: 0..n_bins-1 a bin, n_bins missing, n_bins+1 unseen category."""
        k = self.n_bins
        if self.kind == NUMERIC:
            x = np.asarray(column, dtype="float64")
            slots = np.searchsorted(np.asarray(self.cuts, dtype="float64"), x, side="left")
            slots[np.isnan(x)] = k
            return slots
        values = np.asarray(column, dtype=object)
        index, bins = self._value_index
        codes = index.get_indexer(values)
        slots = bins[codes]
        unmatched = codes < 0  # missing or unseen; checked apart because isna is slow
        if unmatched.any():
            slots[unmatched] = np.where(pd.isna(values[unmatched]), k, k + 1)
        return slots

    def slot_of(self, value: float | str | None) -> int:
        """`bin_index` for one normalised value (see `vector_from_mapping`)."""
        if self.kind == NUMERIC:
            return self.n_bins if math.isnan(value) else bisect.bisect_left(self.cuts, value)
        if value is None:
            return self.n_bins
        return self._value_bins.get(value, self.n_bins + 1)

    def woe_values(self, column: pd.Series | np.ndarray) -> np.ndarray:
        """WOE of each value (missing -> missing WOE, unseen category -> 0)."""
        table = np.asarray([*self.woe, self.missing_woe, 0.0], dtype="float64")
        return table[self.bin_index(column)]


def _woe(goods: float, bads: float, total_goods: float, total_bads: float) -> float:
    """ln(share of goods / share of bads); 0.5 added to both counts when one is zero."""
    if goods == 0 or bads == 0:
        goods, bads = goods + 0.5, bads + 0.5
    return math.log((goods / total_goods) / (bads / total_bads))


def _merge_adjacent(counts: list, bads: list, cuts: list, i: int) -> None:
    """Merge bin i with bin i+1 in place."""
    counts[i] += counts.pop(i + 1)
    bads[i] += bads.pop(i + 1)
    if cuts:
        cuts.pop(i)


def _pool_adjacent_violators(counts: list, bads: list, cuts: list, increasing: bool):
    """Merge adjacent bins until the bad rate is strictly monotonic in one direction."""
    out_counts: list[int] = []
    out_bads: list[int] = []
    out_cuts: list[float] = []
    for i, (count, bad) in enumerate(zip(counts, bads, strict=True)):
        if i:
            out_cuts.append(cuts[i - 1])
        out_counts.append(count)
        out_bads.append(bad)
        while len(out_counts) >= 2:
            # rate[-2] vs rate[-1] compared by cross-multiplication: exact on integers.
            left = out_bads[-2] * out_counts[-1]
            right = out_bads[-1] * out_counts[-2]
            if (left < right) if increasing else (left > right):
                break
            _merge_adjacent(out_counts, out_bads, out_cuts, len(out_counts) - 2)
    return out_counts, out_bads, out_cuts


def _enforce_bin_constraints(counts: list, bads: list, cuts: list, min_count: int, max_bins: int):
    """Merge until each bin has >= min_count rows and both classes, and <= max_bins bins.

    Merging neighbours of a monotonic sequence keeps it monotonic, so the order of these
    steps after pool-adjacent-violators is safe.
    """

    def rate(i: int) -> float:
        return bads[i] / counts[i]

    while len(counts) > 1:
        weak = [i for i in range(len(counts)) if counts[i] < min_count or bads[i] in (0, counts[i])]
        if not weak:
            break
        i = min(weak, key=lambda j: counts[j])
        if i == 0:
            _merge_adjacent(counts, bads, cuts, 0)
        elif i == len(counts) - 1:
            _merge_adjacent(counts, bads, cuts, i - 1)
        else:
            left_gap, right_gap = abs(rate(i) - rate(i - 1)), abs(rate(i + 1) - rate(i))
            _merge_adjacent(counts, bads, cuts, i - 1 if left_gap <= right_gap else i)
    while len(counts) > max_bins:
        gaps = [abs(rate(i + 1) - rate(i)) for i in range(len(counts) - 1)]
        _merge_adjacent(counts, bads, cuts, int(np.argmin(gaps)))


def _interval_label(low: float, high: float) -> str:
    low_text = "-inf" if low == -math.inf else f"{low:.6g}"
    high_text = "inf)" if high == math.inf else f"{high:.6g}]"
    return f"({low_text}, {high_text}"


def _finish_binning(
    name: str,
    kind: str,
    counts: list[int],
    bads: list[int],
    *,
    labels: Sequence[str],
    cuts: Sequence[float] = (),
    groups: Sequence[tuple[str, ...]] = (),
    missing_count: int,
    missing_bads: int,
    total_goods: int,
    total_bads: int,
    min_count: int,
    spec: BinningSpec,
    trend: str | None = None,
) -> FeatureBinning:
    woe = [_woe(c - b, b, total_goods, total_bads) for c, b in zip(counts, bads, strict=True)]
    if missing_count < max(min_count, 1):
        # Training cannot say what a missing value means: score it as the riskiest bin,
        # so leaving a field empty never beats any answer.
        missing_woe = min(woe, default=0.0)
    else:
        missing_woe = _woe(missing_count - missing_bads, missing_bads, total_goods, total_bads)
        if spec.missing_woe_cap is not None:
            missing_woe = min(missing_woe, spec.missing_woe_cap)
    iv = (
        sum(((c - b) / total_goods - b / total_bads) * w for c, b, w in zip(counts, bads, woe, strict=True))
        + ((missing_count - missing_bads) / total_goods - missing_bads / total_bads) * missing_woe
    )
    return FeatureBinning(
        name=name,
        kind=kind,
        labels=tuple(labels),
        counts=tuple(int(c) for c in counts),
        bads=tuple(int(b) for b in bads),
        woe=tuple(float(w) for w in woe),
        cuts=tuple(float(c) for c in cuts),
        groups=tuple(tuple(g) for g in groups),
        missing_count=int(missing_count),
        missing_bads=int(missing_bads),
        missing_woe=float(missing_woe),
        iv=float(iv),
        trend=trend,
    )


def _bin_numeric(feature: Feature, x: np.ndarray, y: np.ndarray, spec: BinningSpec, **totals):
    present = ~np.isnan(x)
    xv, yv = x[present], y[present]
    counts: list[int] = []
    bads: list[int] = []
    cuts: list[float] = []
    trend = feature.risk_trend
    if xv.size:
        distinct = np.unique(xv)
        if distinct.size > 1:
            levels = np.arange(1, spec.initial_bins) / spec.initial_bins
            quantiles = np.unique(np.quantile(xv, levels, method="lower"))
            position = np.searchsorted(distinct, quantiles)
            position = position[position < distinct.size - 1]
            # Cut midway between neighbouring observed values.
            cuts = list((distinct[position] + distinct[position + 1]) / 2)
        slots = np.searchsorted(np.asarray(cuts, dtype="float64"), xv, side="left")
        counts = np.bincount(slots, minlength=len(cuts) + 1).tolist()
        bads = np.bincount(slots, weights=yv, minlength=len(cuts) + 1).astype("int64").tolist()
        if trend is None:
            varies = distinct.size > 1 and yv.min() != yv.max()
            rank_corr = np.corrcoef(pd.Series(xv).rank().to_numpy(), yv)[0, 1] if varies else 0.0
            trend = "decreasing" if rank_corr < 0 else "increasing"
        counts, bads, cuts = _pool_adjacent_violators(counts, bads, cuts, trend == "increasing")
        _enforce_bin_constraints(counts, bads, cuts, totals["min_count"], spec.max_bins)
    edges = [-math.inf, *cuts, math.inf]
    labels = [_interval_label(edges[i], edges[i + 1]) for i in range(len(counts))]
    return _finish_binning(
        feature.name,
        NUMERIC,
        counts,
        bads,
        labels=labels,
        cuts=cuts,
        missing_count=int((~present).sum()),
        missing_bads=int(y[~present].sum()),
        spec=spec,
        trend=trend,
        **totals,
    )


def _bin_categorical(feature: Feature, values: pd.Series, y: np.ndarray, spec: BinningSpec, **totals):
    min_count = totals["min_count"]
    missing = values.isna().to_numpy()
    stats = (
        pd.DataFrame({"value": values[~missing].astype(object).to_numpy(), "bad": y[~missing]})
        .groupby("value")["bad"]
        .agg(["size", "sum"])
    )
    groups: list[tuple[str, ...]] = []
    pooled: list[str] = []
    for value in feature.allowed:  # schema order keeps the output stable
        if value not in stats.index:
            continue
        size, bad = int(stats.at[value, "size"]), int(stats.at[value, "sum"])
        if size >= min_count and 0 < bad < size:
            groups.append((value,))
        else:
            pooled.append(value)

    def group_stats(group: Iterable[str]) -> tuple[int, int]:
        group = list(group)
        return int(stats.loc[group, "size"].sum()), int(stats.loc[group, "sum"].sum())

    labels = [g[0] for g in groups]
    if pooled:
        size, bad = group_stats(pooled)
        if (size >= min_count and 0 < bad < size) or not groups:
            groups.append(tuple(pooled))
            labels.append(f"other ({', '.join(pooled)})")
        else:
            # Too small to stand alone: join the judged bin with the closest bad rate.
            rates = [group_stats(g)[1] / group_stats(g)[0] for g in groups]
            target = int(np.argmin([abs(r - bad / size) for r in rates]))
            groups[target] = groups[target] + tuple(pooled)
            labels[target] = ", ".join(groups[target])
    sizes_bads = [group_stats(g) for g in groups]
    return _finish_binning(
        feature.name,
        CATEGORICAL,
        [s for s, _ in sizes_bads],
        [b for _, b in sizes_bads],
        labels=labels,
        groups=groups,
        missing_count=int(missing.sum()),
        missing_bads=int(y[missing].sum()),
        spec=spec,
        **totals,
    )


def bin_feature(
    values: pd.Series | np.ndarray,
    target: np.ndarray | pd.Series,
    feature: Feature,
    spec: BinningSpec = BinningSpec(),
) -> FeatureBinning:
    """Bin one validated feature column against a 0/1 target (1 = bad).

    Numeric bins are strictly monotonic in WOE (direction: `feature.risk_trend` or the
    data's rank correlation); every bin has >= spec.min_bin_share of all rows and both
    classes unless only one bin remains; at most spec.max_bins bins. Categorical values
    with too few rows or a single class are pooled into an "other" bin (or, if that pool
    is itself too small, into the bin with the closest bad rate).
    """
    y = np.asarray(target, dtype="int64")
    total_bads = int(y.sum())
    total_goods = int(y.size - total_bads)
    if total_bads == 0 or total_goods == 0:
        raise ValueError("binning needs both goods and bads in the target")
    totals = {
        "total_goods": total_goods,
        "total_bads": total_bads,
        "min_count": max(1, math.ceil(spec.min_bin_share * y.size)),
    }
    if feature.kind == NUMERIC:
        return _bin_numeric(feature, np.asarray(values, dtype="float64"), y, spec, **totals)
    series = values if isinstance(values, pd.Series) else pd.Series(values, dtype=object)
    return _bin_categorical(feature, series.reset_index(drop=True), y, spec, **totals)


# ---------------------------------------------------------------------------
# The scorecard
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ReasonCode:
    """One factor that cost the applicant points, with customer-ready explanations."""

    code: str
    feature: str
    points_lost: int
    text_en: str
    text_zh: str


@dataclass(frozen=True)
class ScoreResult:
    """The outcome of scoring one applicant.

    score == sum(points_by_feature.values()); pd is the PD that score implies; reason
    codes are the (at most 4) features that cost the most points against their best bin.
    """

    score: int
    pd: float
    grade: str
    points_by_feature: dict[str, int]
    reason_codes: list[ReasonCode]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ScoredFeature:
    """A feature in the model: its binning, coefficient and points per slot."""

    binning: FeatureBinning
    coefficient: float
    points: tuple[int, ...]
    missing_points: int
    unseen_points: int

    @property
    def name(self) -> str:
        return self.binning.name

    @cached_property
    def slot_points(self) -> np.ndarray:
        """Points by slot: bins, then missing, then unseen category."""
        return np.asarray([*self.points, self.missing_points, self.unseen_points], dtype="int64")

    @cached_property
    def best_points(self) -> int:
        """Points of the feature's best bin (missing and unseen slots are not bins)."""
        return max(self.points)


def _round_half_up(value: np.ndarray | float) -> np.ndarray:
    return np.floor(np.asarray(value, dtype="float64") + 0.5).astype("int64")


class Scorecard:
    """A points scorecard. Score with `score_frame` (batch) or `score_one` (online).

    Both paths validate input against the feature schema and give identical scores and
    grades; serialise with `to_dict` / `from_dict` (plain JSON types, no pickle).
    """

    def __init__(
        self,
        *,
        features: Sequence[ScoredFeature],
        intercept: float,
        scaling: ScalingSpec,
        grade_bands: GradeBands,
        metadata: Mapping[str, Any] | None = None,
        required: Iterable[str] | None = None,
    ) -> None:
        if not features:
            raise ValueError("a scorecard needs at least one feature")
        self.features = tuple(features)
        self.intercept = float(intercept)
        self.scaling = scaling
        self.grade_bands = grade_bands
        self.metadata = dict(metadata or {})
        # None: every characteristic is required (a missing value scores its trained missing points).
        self.required = None if required is None else frozenset(required)
        self._slot_points = tuple(self._points_by_slot(f) for f in self.features)

    def _points_by_slot(self, feature: ScoredFeature) -> np.ndarray:
        """The feature's points by slot; a characteristic that is not required scores a missing
        value as the population's neutral value (WOE 0, the `unseen_points`): missing is not bad."""
        table = feature.slot_points
        if self.required is not None and feature.name not in self.required:
            table = table.copy()
            table[feature.binning.n_bins] = feature.unseen_points
        return table

    def is_neutral_when_missing(self, name: str) -> bool:
        """Whether a missing value of this characteristic scores neutral (it is not required)."""
        return self.required is not None and name not in self.required

    @property
    def slot_tables(self) -> tuple[np.ndarray, ...]:
        """Points by slot (bins, missing, unseen) of each model feature, as this scorecard scores them."""
        return self._slot_points

    def with_required(self, required: Iterable[str] | None) -> Scorecard:
        """The same scorecard, scoring missing values of characteristics outside `required` as
        neutral (None: all required)."""
        return Scorecard(features=self.features, intercept=self.intercept, scaling=self.scaling,
                         grade_bands=self.grade_bands, metadata=self.metadata, required=required)

    def with_grade_bands(self, grade_bands: GradeBands) -> Scorecard:
        """The same scorecard graded by other bands (the master scale)."""
        return Scorecard(features=self.features, intercept=self.intercept, scaling=self.scaling,
                         grade_bands=grade_bands, metadata=self.metadata, required=self.required)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    def __repr__(self) -> str:
        return f"Scorecard(features={list(self.feature_names)!r})"

    # -- scoring ------------------------------------------------------------

    def score_frame(self, df: pd.DataFrame) -> pd.DataFrame:
        """Score many applicants at once (vectorised; no per-row Python).

        `df` is validated with `validate_frame` (FeatureSchemaError on bad input).
        Returns a DataFrame on df's index with `score` (int64), `pd` (float64) and
        `grade` (str).
        """
        frame = validate_frame(df)
        score = np.zeros(len(frame), dtype="int64")
        for feature, slot_points in zip(self.features, self._slot_points, strict=True):
            score += slot_points[feature.binning.bin_index(frame[feature.name])]
        return pd.DataFrame(
            {
                "score": score,
                "pd": self.scaling.pd_from_score(score),
                "grade": self.grade_bands.grades(score),
            },
            index=df.index,
        )

    def score_one(self, values: Mapping[str, Any]) -> ScoreResult:
        """Score one applicant from a dict of raw values (see `vector_from_mapping`).

        Same score and grade as `score_frame` on the same values. Reason codes: features
        whose points fall short of their best bin, largest shortfall first (ties in
        model feature order), at most four; a shortfall caused by a missing value gets
        the code R_<FEATURE>_MISSING.
        """
        vector = vector_from_mapping(values)
        points: dict[str, int] = {}
        slots: dict[str, int] = {}
        for feature, slot_points in zip(self.features, self._slot_points, strict=True):
            slot = feature.binning.slot_of(vector[feature.name])
            slots[feature.name] = slot
            points[feature.name] = int(slot_points[slot])
        score = sum(points.values())
        shortfalls = [
            (feature.best_points - points[feature.name], order, feature)
            for order, feature in enumerate(self.features)
            if feature.best_points > points[feature.name]
        ]
        shortfalls.sort(key=lambda item: (-item[0], item[1]))
        reasons = [
            _reason_code(feature.name, lost, slots[feature.name] == feature.binning.n_bins,
                         neutral=self.is_neutral_when_missing(feature.name))
            for lost, _, feature in shortfalls[:MAX_REASON_CODES]
        ]
        return ScoreResult(
            score=score,
            pd=float(self.scaling.pd_from_score(score)),
            grade=self.grade_bands.grade(score),
            points_by_feature=points,
            reason_codes=reasons,
        )

    def points_table(self) -> list[dict[str, Any]]:
        """One row per feature slot (bins, then missing): feature, bin, points, woe."""
        rows = []
        for feature in self.features:
            b = feature.binning
            for label, pts, woe in zip(b.labels, feature.points, b.woe, strict=True):
                rows.append({"feature": b.name, "bin": label, "points": pts, "woe": woe})
            neutral = self.required is not None and b.name not in self.required
            rows.append({"feature": b.name, "bin": "missing",
                         "points": feature.unseen_points if neutral else feature.missing_points,
                         "woe": 0.0 if neutral else b.missing_woe})
        return rows

    # -- serialisation ------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Everything needed to score, as plain JSON types."""
        features = []
        for feature in self.features:
            b = feature.binning
            bins = []
            for i, label in enumerate(b.labels):
                entry: dict[str, Any] = {"label": label}
                if b.kind == CATEGORICAL:
                    entry["values"] = list(b.groups[i])
                entry.update(count=b.counts[i], bads=b.bads[i], woe=b.woe[i], points=feature.points[i])
                bins.append(entry)
            features.append(
                {
                    "name": b.name,
                    "kind": b.kind,
                    "coefficient": feature.coefficient,
                    "iv": b.iv,
                    "trend": b.trend,
                    "cuts": list(b.cuts),
                    "bins": bins,
                    "missing": {
                        "count": b.missing_count,
                        "bads": b.missing_bads,
                        "woe": b.missing_woe,
                        "points": feature.missing_points,
                    },
                    "unseen_points": feature.unseen_points,
                }
            )
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "scaling": asdict(self.scaling),
            "grade_bands": {
                "labels": list(self.grade_bands.labels),
                "min_scores": list(self.grade_bands.min_scores),
            },
            "intercept": self.intercept,
            "features": features,
            "metadata": self.metadata,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scorecard:
        """Rebuild a scorecard from `to_dict` output; ScorecardFormatError if malformed."""
        try:
            if data.get("format") != FORMAT_NAME or data.get("version") != FORMAT_VERSION:
                raise ScorecardFormatError(
                    f"expected format {FORMAT_NAME!r} version {FORMAT_VERSION}, "
                    f"got {data.get('format')!r} version {data.get('version')!r}"
                )
            scaling = ScalingSpec(**data["scaling"])
            bands = GradeBands(
                labels=tuple(data["grade_bands"]["labels"]),
                min_scores=tuple(data["grade_bands"]["min_scores"]),
            )
            features = [_scored_feature_from_dict(entry) for entry in data["features"]]
            return cls(
                features=features,
                intercept=float(data["intercept"]),
                scaling=scaling,
                grade_bands=bands,
                metadata=data.get("metadata") or {},
            )
        except ScorecardFormatError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise ScorecardFormatError(f"malformed scorecard: {exc!r}") from exc


def _reason_code(name: str, points_lost: int, missing: bool, neutral: bool = False) -> ReasonCode:
    """A reason code; `neutral`: the value is missing on an optional characteristic, scored as the
    average applicant (it costs only what a good value would have earned)."""
    feature = FEATURES_BY_NAME[name]
    if missing:
        return ReasonCode(
            code=f"R_{name.upper()}_MISSING",
            feature=name,
            points_lost=points_lost,
            text_en=(f"{feature.label} was not provided (optional: scored as the average applicant)" if neutral
                     else f"{feature.label} was not provided"),
            text_zh=(f"未提供{feature.label_zh}（选填：按平均水平计分）" if neutral else f"未提供{feature.label_zh}"),
        )
    return ReasonCode(
        code=f"R_{name.upper()}",
        feature=name,
        points_lost=points_lost,
        text_en=feature.reason_en,
        text_zh=feature.reason_zh,
    )


def _as_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ScorecardFormatError(f"{what} must be an integer, got {value!r}")
    return int(value)


def _scored_feature_from_dict(entry: Mapping[str, Any]) -> ScoredFeature:
    name = entry["name"]
    schema = FEATURES_BY_NAME.get(name)
    if schema is None:
        raise ScorecardFormatError(f"{name!r} is not a schema feature")
    if entry["kind"] != schema.kind:
        raise ScorecardFormatError(f"{name}: kind {entry['kind']!r}, schema says {schema.kind!r}")
    bins = entry["bins"]
    if not bins:
        raise ScorecardFormatError(f"{name}: no bins")
    cuts = tuple(float(c) for c in entry.get("cuts", ()))
    groups: tuple[tuple[str, ...], ...] = ()
    if schema.kind == NUMERIC:
        if len(cuts) != len(bins) - 1 or any(a >= b for a, b in zip(cuts, cuts[1:], strict=False)):
            raise ScorecardFormatError(f"{name}: need {len(bins) - 1} strictly ascending cuts")
    else:
        groups = tuple(tuple(b["values"]) for b in bins)
        seen = [v for g in groups for v in g]
        if len(seen) != len(set(seen)) or not set(seen) <= set(schema.allowed):
            raise ScorecardFormatError(f"{name}: bin values must be distinct allowed values")
    missing = entry["missing"]
    binning = FeatureBinning(
        name=name,
        kind=schema.kind,
        labels=tuple(str(b["label"]) for b in bins),
        counts=tuple(_as_int(b["count"], f"{name} count") for b in bins),
        bads=tuple(_as_int(b["bads"], f"{name} bads") for b in bins),
        woe=tuple(float(b["woe"]) for b in bins),
        cuts=cuts,
        groups=groups,
        missing_count=_as_int(missing["count"], f"{name} missing count"),
        missing_bads=_as_int(missing["bads"], f"{name} missing bads"),
        missing_woe=float(missing["woe"]),
        iv=float(entry["iv"]),
        trend=entry.get("trend"),
    )
    return ScoredFeature(
        binning=binning,
        coefficient=float(entry["coefficient"]),
        points=tuple(_as_int(b["points"], f"{name} points") for b in bins),
        missing_points=_as_int(missing["points"], f"{name} missing points"),
        unseen_points=_as_int(entry["unseen_points"], f"{name} unseen points"),
    )


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _FitOptions:
    scaling: ScalingSpec = ScalingSpec()
    grade_bands: GradeBands = GradeBands()
    binning: BinningSpec = BinningSpec()
    min_iv: float = 0.02
    max_correlation: float = 0.7
    regularization: float = 1.0
    metadata: Mapping[str, Any] = field(default_factory=dict)
    intercept_shift: float = 0.0  # prior correction, in log-odds of bad (see `prior_correction`)


def _fit_scorecard(
    frame: pd.DataFrame, y: np.ndarray, options: _FitOptions
) -> tuple[Scorecard, dict[str, FeatureBinning]]:
    """Bin every feature, select, fit the regression and turn it into points."""
    binnings = {f.name: bin_feature(frame[f.name], y, f, options.binning) for f in FEATURES}
    ranked = sorted((b for b in binnings.values() if b.iv >= options.min_iv), key=lambda b: -b.iv)
    woe = {b.name: b.woe_values(frame[b.name]) for b in ranked}
    selected: list[str] = []
    for b in ranked:
        if all(abs(np.corrcoef(woe[b.name], woe[other])[0, 1]) <= options.max_correlation for other in selected):
            selected.append(b.name)
    while True:
        if not selected:
            raise ValueError(f"no feature reaches IV {options.min_iv} with a sensible sign")
        model = LogisticRegression(C=options.regularization, max_iter=1000)
        model.fit(np.column_stack([woe[name] for name in selected]), y)
        coefficients = model.coef_[0]
        # Higher WOE means lower risk, so every coefficient on P(bad) must be negative.
        if (coefficients < 0).all():
            break
        selected.pop(int(np.argmax(coefficients)))

    coefficient_of = dict(zip(selected, coefficients.tolist(), strict=True))
    intercept = float(model.intercept_[0]) + options.intercept_shift
    n = len(selected)
    factor, offset = options.scaling.factor, options.scaling.offset

    def points(coefficient: float, woe_values: Sequence[float]) -> list[int]:
        raw = -(coefficient * np.asarray(woe_values) + intercept / n) * factor + offset / n
        return _round_half_up(raw).tolist()

    scored = []
    for feature in FEATURES:  # schema order: stable output and reason-code ties
        if feature.name not in coefficient_of:
            continue
        b = binnings[feature.name]
        coefficient = coefficient_of[feature.name]
        missing_points, unseen_points = points(coefficient, [b.missing_woe, 0.0])
        scored.append(
            ScoredFeature(
                binning=b,
                coefficient=coefficient,
                points=tuple(points(coefficient, b.woe)),
                missing_points=missing_points,
                unseen_points=unseen_points,
            )
        )
    scorecard = Scorecard(
        features=scored,
        intercept=intercept,
        scaling=options.scaling,
        grade_bands=options.grade_bands,
        metadata=options.metadata,
    )
    return scorecard, binnings


def _target_array(y: Any, frame: pd.DataFrame) -> np.ndarray:
    if isinstance(y, pd.Series) and not y.index.equals(frame.index):
        raise ValueError("target index does not match the feature frame's index")
    target = np.asarray(y)
    if target.shape != (len(frame),):
        raise ValueError(f"target has shape {target.shape}, expected ({len(frame)},)")
    if not np.isin(target, [0, 1]).all():
        raise ValueError("target must hold only 0 (good) and 1 (bad)")
    target = target.astype("int64")
    if target.min() == target.max():
        raise ValueError("target needs both goods and bads")
    return target


def classification_metrics(y: np.ndarray, pd_values: np.ndarray) -> dict[str, float]:
    """AUC, KS (max TPR - FPR), Gini (2 AUC - 1) and Brier score of PDs against 0/1 outcomes."""
    auc = float(roc_auc_score(y, pd_values))
    fpr, tpr, _ = roc_curve(y, pd_values)
    return {
        "auc": auc,
        "ks": float(np.max(tpr - fpr)),
        "gini": 2 * auc - 1,
        "brier": float(brier_score_loss(y, pd_values)),
    }


def calibration_table(y: np.ndarray, pd_values: np.ndarray, groups: int = 10) -> list[dict]:
    """Predicted vs actual default rate by PD decile (1 = lowest PD); ties split by order."""
    order = pd.Series(pd_values).rank(method="first").to_numpy()
    decile = np.ceil(order * groups / len(order)).astype("int64")
    table = (
        pd.DataFrame({"decile": decile, "pd": pd_values, "bad": y})
        .groupby("decile")
        .agg(count=("bad", "size"), mean_pd=("pd", "mean"), bad_rate=("bad", "mean"))
        .reset_index()
    )
    return [
        {"decile": int(r.decile), "count": int(r.count), "mean_pd": float(r.mean_pd), "bad_rate": float(r.bad_rate)}
        for r in table.itertuples(index=False)
    ]


def binning_table(binnings: Mapping[str, FeatureBinning], scorecard: Scorecard) -> list[dict]:
    """One row per bin of every feature (missing bins where they hold rows or are scored):
    feature, bin, count, share, bads, bad_rate, woe, iv, points (None if not in the model)."""
    scored = {f.name: f for f in scorecard.features}
    rows = []
    for name, b in binnings.items():
        total = sum(b.counts) + b.missing_count
        goods_total = sum(c - d for c, d in zip(b.counts, b.bads, strict=True)) + b.missing_count - b.missing_bads
        bads_total = sum(b.bads) + b.missing_bads
        feature = scored.get(name)
        slots = list(
            zip(b.labels, b.counts, b.bads, b.woe, feature.points if feature else [None] * b.n_bins, strict=True)
        )
        if b.missing_count or feature:
            slots.append(
                ("missing", b.missing_count, b.missing_bads, b.missing_woe, feature.missing_points if feature else None)
            )
        for label, count, bads, woe, points in slots:
            goods = count - bads
            rows.append(
                {
                    "feature": name,
                    "bin": label,
                    "count": count,
                    "share": count / total if total else 0.0,
                    "bads": bads,
                    "bad_rate": bads / count if count else None,
                    "woe": woe,
                    "iv": (goods / goods_total - bads / bads_total) * woe,
                    "points": points,
                    "feature_iv": b.iv,
                    "selected": feature is not None,
                }
            )
    return rows


def prior_correction(train_bad_rate: float, target_bad_rate: float) -> float:
    """Log-odds shift that turns PDs learnt on a sample with `train_bad_rate` into PDs for a
    population whose bad rate is `target_bad_rate` (prior correction, King & Zeng 2001):
    logit(PD_target) = logit(PD_sample) + logit(target_bad_rate) - logit(train_bad_rate).
    It moves the intercept only, so the ranking (AUC, KS) is unchanged."""
    for name, rate in (("train_bad_rate", train_bad_rate), ("target_bad_rate", target_bad_rate)):
        if not 0.0 < rate < 1.0:
            raise ValueError(f"{name} must be strictly between 0 and 1")
    return math.log(target_bad_rate / (1 - target_bad_rate)) - math.log(train_bad_rate / (1 - train_bad_rate))


def _holdout_split(y: np.ndarray, share: float, random_state: int):
    return train_test_split(np.arange(y.size), test_size=share, stratify=y, random_state=random_state)


def train_scorecard(
    X: pd.DataFrame,  # noqa: N803 - scikit-learn's name for the feature matrix
    y: Any,
    *,
    scaling: ScalingSpec = ScalingSpec(),
    grade_bands: GradeBands = GradeBands(),
    binning: BinningSpec = BinningSpec(),
    min_iv: float = 0.02,
    max_correlation: float = 0.7,
    regularization: float = 1.0,
    cv_folds: int = 5,
    holdout_share: float = 0.3,
    random_state: int = 0,
    metadata: Mapping[str, Any] | None = None,
    target_bad_rate: float | None = None,
) -> tuple[Scorecard, dict[str, Any]]:
    """Train a scorecard on applicants `X` and outcomes `y` (1 = bad), with its metrics.

    `target_bad_rate`: the bad rate expected in the portfolio the model will score, when the
    training sample's differs (another lender's book, a sample with bads over-represented). The
    final scorecard's PDs are then prior-corrected to it (`prior_correction`); the out-of-sample
    metrics and the calibration table measure the uncorrected fit against the sample's outcomes,
    and `prior_correction` in the metrics records the shift.

    The returned scorecard is fitted on all rows. The metrics (plain JSON types) measure
    the same procedure out of sample: `cross_validation` refits binning, selection and
    regression in each of `cv_folds` stratified folds (mean and std of AUC, KS, Gini,
    Brier, and per fold); `holdout` fits on a stratified (1 - holdout_share) split and
    tests on the rest; `calibration` compares mean PD with the bad rate by decile of the
    out-of-fold PDs. Also: `binning_table` of the final fit, `feature_iv`,
    `selected_features`, `coefficients`, `intercept`, `data_fingerprint`. The same
    `random_state` gives the same folds, split and model.
    """
    frame = validate_frame(X)
    target = _target_array(y, frame)
    fingerprint = data_fingerprint(frame.assign(target=target))
    options = _FitOptions(
        scaling=scaling,
        grade_bands=grade_bands,
        binning=binning,
        min_iv=min_iv,
        max_correlation=max_correlation,
        regularization=regularization,
        metadata={
            "trained_rows": int(target.size),
            "bad_rate": float(target.mean()),
            "data_fingerprint": fingerprint,
            "random_state": random_state,
            **(metadata or {}),
        },
    )

    out_of_fold = np.empty(target.size, dtype="float64")
    per_fold = []
    folds = StratifiedKFold(n_splits=cv_folds, shuffle=True, random_state=random_state)
    for train_rows, test_rows in folds.split(frame, target):
        fold_card, _ = _fit_scorecard(frame.iloc[train_rows], target[train_rows], options)
        fold_pd = fold_card.score_frame(frame.iloc[test_rows])["pd"].to_numpy()
        out_of_fold[test_rows] = fold_pd
        per_fold.append({"n_test": int(test_rows.size), **classification_metrics(target[test_rows], fold_pd)})
    cv = {
        "folds": cv_folds,
        **{key: float(np.mean([fold[key] for fold in per_fold])) for key in ("auc", "ks", "gini", "brier")},
        "auc_std": float(np.std([fold["auc"] for fold in per_fold])),
        "per_fold": per_fold,
    }

    train_rows, test_rows = _holdout_split(target, holdout_share, random_state)
    holdout_card, _ = _fit_scorecard(frame.iloc[train_rows], target[train_rows], options)
    holdout_pd = holdout_card.score_frame(frame.iloc[test_rows])["pd"].to_numpy()
    holdout = {
        "share": holdout_share,
        "n_train": int(train_rows.size),
        "n_test": int(test_rows.size),
        **classification_metrics(target[test_rows], holdout_pd),
    }

    shift = 0.0 if target_bad_rate is None else prior_correction(float(target.mean()), target_bad_rate)
    final_options = options
    if shift:
        final_options = replace(options, intercept_shift=shift,
                                metadata={**options.metadata, "target_bad_rate": target_bad_rate})
    scorecard, binnings = _fit_scorecard(frame, target, final_options)
    metrics = {
        "n_rows": int(target.size),
        "n_bad": int(target.sum()),
        "bad_rate": float(target.mean()),
        "data_fingerprint": fingerprint,
        "cross_validation": cv,
        "holdout": holdout,
        "calibration": calibration_table(target, out_of_fold),
        "prior_correction": {
            "train_bad_rate": float(target.mean()),
            "target_bad_rate": target_bad_rate,
            "log_odds_shift": shift,
            "points_shift": -shift * scaling.factor,
        },
        "selected_features": list(scorecard.feature_names),
        "feature_iv": {name: b.iv for name, b in binnings.items()},
        "coefficients": {f.name: f.coefficient for f in scorecard.features},
        "intercept": scorecard.intercept,
        "binning_table": binning_table(binnings, scorecard),
    }
    return scorecard, metrics


def _challenger_matrix(frame: pd.DataFrame) -> pd.DataFrame:
    columns = {}
    for feature in FEATURES:
        column = frame[feature.name]
        if column.isna().all():
            continue
        if feature.kind == NUMERIC:
            columns[feature.name] = column.astype("float64")
        else:
            columns[feature.name] = pd.Categorical(column, categories=list(feature.allowed))
    return pd.DataFrame(columns, index=frame.index)


def train_challenger(
    X: pd.DataFrame,  # noqa: N803 - scikit-learn's name for the feature matrix
    y: Any,
    *,
    holdout_share: float = 0.3,
    random_state: int = 0,
    **scorecard_options: Any,
) -> dict[str, Any]:
    """Compare a gradient-boosting challenger with the scorecard on one holdout split.

    Uses the same stratified split as `train_scorecard` with the same `holdout_share`
    and `random_state`. Returns {"split": ..., "scorecard": metrics, "challenger":
    metrics} with AUC, KS, Gini and Brier on the held-out rows. The challenger is a
    benchmark only: it has no points, reason codes or monotonicity guarantees.
    """
    frame = validate_frame(X)
    target = _target_array(y, frame)
    train_rows, test_rows = _holdout_split(target, holdout_share, random_state)
    options = _FitOptions(**scorecard_options)
    card, _ = _fit_scorecard(frame.iloc[train_rows], target[train_rows], options)
    card_pd = card.score_frame(frame.iloc[test_rows])["pd"].to_numpy()

    matrix = _challenger_matrix(frame)
    challenger = HistGradientBoostingClassifier(
        learning_rate=0.05,
        max_iter=200,
        max_depth=3,
        min_samples_leaf=20,
        l2_regularization=1.0,
        categorical_features="from_dtype",
        random_state=random_state,
    )
    challenger.fit(matrix.iloc[train_rows], target[train_rows])
    challenger_pd = challenger.predict_proba(matrix.iloc[test_rows])[:, 1]
    return {
        "split": {
            "share": holdout_share,
            "n_train": int(train_rows.size),
            "n_test": int(test_rows.size),
            "random_state": random_state,
        },
        "scorecard": classification_metrics(target[test_rows], card_pd),
        "challenger": {
            "model": "HistGradientBoostingClassifier",
            **classification_metrics(target[test_rows], challenger_pd),
        },
    }


# ---------------------------------------------------------------------------
# Monitoring and fairness
# ---------------------------------------------------------------------------


def data_fingerprint(df: pd.DataFrame | pd.Series) -> str:
    """SHA-256 (hex) of a canonical CSV of the data.

    Canonical: columns sorted by name, rows in their given order (order decides CV
    folds, so it is part of the data's identity), index dropped, numbers as float64 in
    shortest round-trip form (1 and 1.0 hash alike), missing values as empty fields,
    "\\n" line ends, UTF-8.
    """
    frame = df.to_frame() if isinstance(df, pd.Series) else df
    frame = frame.rename(columns=str)
    frame = frame[sorted(frame.columns)]
    canonical = {}
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            canonical[name] = column.astype("float64")
        else:
            canonical[name] = column.astype(object)
    text = pd.DataFrame(canonical).to_csv(index=False, lineterminator="\n", na_rep="")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


_PSI_FLOOR = 1e-4  # share given to an empty bin so the logarithm stays finite


def psi(expected: Any, actual: Any, bins: int = 10) -> float:
    """Population stability index of `actual` against `expected`.

    Numeric dtypes (both samples): bins at the deciles (or `bins` quantiles) of
    `expected`; anything else: one bin per value. Missing values form their own bin. Empty bins count as a
    share of 0.0001. PSI = sum((actual share - expected share) * ln(actual / expected));
    0 for identical distributions. See `psi_status` for the usual reading.
    """
    e = expected if isinstance(expected, pd.Series) else pd.Series(expected)
    a = actual if isinstance(actual, pd.Series) else pd.Series(actual)
    if e.empty or a.empty:
        raise ValueError("psi needs non-empty expected and actual samples")
    numeric = all(pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s) for s in (e, a))
    if numeric:
        ev, av = e.to_numpy("float64", na_value=np.nan), a.to_numpy("float64", na_value=np.nan)
        present = ev[~np.isnan(ev)]
        edges = np.unique(np.quantile(present, np.arange(1, bins) / bins)) if present.size else np.empty(0)
        n_slots = edges.size + 2

        def shares(values: np.ndarray) -> np.ndarray:
            slots = np.searchsorted(edges, values, side="left")
            slots[np.isnan(values)] = edges.size + 1
            return np.bincount(slots, minlength=n_slots) / values.size

        expected_share, actual_share = shares(ev), shares(av)
    else:
        e_keys = e.astype(object).where(e.notna(), "\0missing")
        a_keys = a.astype(object).where(a.notna(), "\0missing")
        categories = pd.Index(pd.concat([e_keys, a_keys]).unique())
        expected_share = e_keys.value_counts(normalize=True).reindex(categories, fill_value=0).to_numpy()
        actual_share = a_keys.value_counts(normalize=True).reindex(categories, fill_value=0).to_numpy()
    expected_share = np.maximum(expected_share.astype("float64"), _PSI_FLOOR)
    actual_share = np.maximum(actual_share.astype("float64"), _PSI_FLOOR)
    return float(np.sum((actual_share - expected_share) * np.log(actual_share / expected_share)))


# The usual action bands of a PSI: "stable" below PSI_WATCH_FROM, "watch" up to PSI_ACT_ABOVE, "act" above.
PSI_WATCH_FROM = 0.10
PSI_ACT_ABOVE = 0.25


def psi_status(value: float) -> str:
    """The usual reading of a PSI: "stable" below 0.1, "watch" 0.1-0.25, "act" above 0.25."""
    if math.isnan(value) or value < 0:
        raise ValueError(f"PSI must be a non-negative number, got {value!r}")
    if value < PSI_WATCH_FROM:
        return "stable"
    if value <= PSI_ACT_ABOVE:
        return "watch"
    return "act"


@dataclass(frozen=True)
class AdverseImpact:
    """One group's approval rate against the best-treated group's."""

    approval_rate: float
    impact_ratio: float
    flagged: bool


def four_fifths_flags(approval_rates_by_group: Mapping[str, float], threshold: float = 0.8) -> dict[str, AdverseImpact]:
    """The four-fifths rule: flag each group whose approval rate is below `threshold`
    times the highest group's rate (impact ratio = rate / highest rate).

    Rates are fractions in [0, 1]. When no group is approved at all, every ratio is 1.0
    and nothing is flagged.
    """
    for group, rate in approval_rates_by_group.items():
        if not 0.0 <= float(rate) <= 1.0:
            raise ValueError(f"{group}: approval rate must be within [0, 1], got {rate!r}")
    if not approval_rates_by_group:
        return {}
    highest = max(float(r) for r in approval_rates_by_group.values())
    result = {}
    for group, rate in approval_rates_by_group.items():
        ratio = float(rate) / highest if highest > 0 else 1.0
        result[group] = AdverseImpact(approval_rate=float(rate), impact_ratio=ratio, flagged=ratio < threshold)
    return result
