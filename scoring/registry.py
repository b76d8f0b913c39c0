"""The model registry: store trained scorecards as model versions, activate one (audited, in one
transaction), read the active version, and compare the champion with its challengers.

Every version is applied under one credit policy (settings): grades come from the PD master scale
(`SCORING_MASTER_SCALE`), so a grade means the same PD whatever the version, and a characteristic
outside `SCORING_REQUIRED_CHARACTERISTICS` scores a missing value as neutral (WOE 0).

A version's parsed scorecard is kept per process, keyed by its id, `updated_at` and that policy, so a
newly activated model is used from the next scoring on, whichever process saved it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from config.errors import DomainError
from customers.audit import audit_record
from customers.models import User
from scoring import consumer_credit
from scoring.features import FEATURE_NAMES, FeatureSchemaError, validate_frame
from scoring.models import GRADE_LABELS, ScoreResult, ScoringModelVersion
from scoring.scorecard import GradeBands, ScalingSpec, Scorecard, psi, psi_status, train_challenger, train_scorecard

TRAINING_SCORE_SAMPLE = 20_000


@dataclass(frozen=True)
class LoadedModel:
    """A model version as online scoring needs it, as of the row's `updated_at`: its id, label and
    parsed scorecard (with the version's grade bands)."""

    pk: int
    label: str
    updated_at: datetime
    scorecard: Scorecard
    policy: tuple = ()


def master_scale() -> tuple[float, ...]:
    """The PD master scale: the highest PD of each grade but the last (ascending)."""
    scale = tuple(float(p) for p in settings.SCORING_MASTER_SCALE)
    if len(scale) != len(GRADE_LABELS) - 1 or any(not 0 < p < 1 for p in scale) or \
            any(a >= b for a, b in zip(scale, scale[1:], strict=False)):
        raise DomainError(gettext("SCORING_MASTER_SCALE needs six strictly ascending PDs between 0 and 1."),
                          field="SCORING_MASTER_SCALE", code="master_scale")
    return scale


def required_characteristics() -> frozenset[str]:
    """The characteristics the credit policy requires (see the module docstring)."""
    return frozenset(settings.SCORING_REQUIRED_CHARACTERISTICS) & frozenset(FEATURE_NAMES)


def _credit_policy() -> tuple:
    return master_scale(), tuple(sorted(required_characteristics()))


def scorecard_under_policy(card: Scorecard) -> Scorecard:
    """`card` graded by the master scale, with the policy's required characteristics."""
    bands = GradeBands.from_pd_bands(master_scale(), scaling=card.scaling, labels=GRADE_LABELS)
    return card.with_grade_bands(bands).with_required(required_characteristics())


# In-process copies, keyed by version id and valid while the row's `updated_at` is unchanged. Every
# change to a version goes through save() or an update() that sets `updated_at` (activation,
# grade bands), so a changed row is never served from here.
_LOADED_MODELS: dict[int, LoadedModel] = {}


def _model_loaded(pk: int, updated_at: datetime) -> LoadedModel:
    """The version with this id, parsed once per process and re-read when its `updated_at` is not
    the one cached (a changed or reactivated version)."""
    cached = _LOADED_MODELS.get(pk)
    policy = _credit_policy()
    if cached is not None and cached.updated_at == updated_at and cached.policy == policy:
        return cached
    row = ScoringModelVersion.objects.only("pk", "label", "updated_at", "scorecard").get(pk=pk)
    card = scorecard_under_policy(Scorecard.from_dict(row.scorecard))
    loaded = LoadedModel(pk=row.pk, label=row.label, updated_at=row.updated_at, scorecard=card, policy=policy)
    _LOADED_MODELS[row.pk] = loaded
    return loaded


def model_version_scorecard(version: ScoringModelVersion) -> Scorecard:
    """The version's scorecard under the credit policy (master scale, required characteristics),
    parsed once per process and re-read when the row changes (its `updated_at`)."""
    return _model_loaded(version.pk, version.updated_at).scorecard


def _no_active_model() -> DomainError:
    return DomainError(gettext("No scoring model is active. Train one with `manage.py train_scoring_model "
                               "--consumer-credit --activate` or activate a version in the admin."),
                       code="no_active_model")


def active_model() -> tuple[ScoringModelVersion, Scorecard]:
    """The active version and its scorecard; DomainError when none is active."""
    version = (ScoringModelVersion.objects.filter(is_active=True).only("pk", "label", "updated_at").order_by()
               .first())
    if version is None:
        raise _no_active_model()
    return version, model_version_scorecard(version)


def _unique_label(label: str) -> str:
    candidate, n = label, 1
    while ScoringModelVersion.objects.filter(label=candidate).exists():
        n += 1
        candidate = f"{label}-{n}"
    return candidate


def _training_characteristics(card: Scorecard) -> dict[str, list[int]]:
    """Training rows per slot of each model feature: its bins, then missing (the PSI baseline)."""
    return {f.name: [*f.binning.counts, f.binning.missing_count] for f in card.features}


@transaction.atomic
def model_version_create(*, scorecard: Scorecard, metrics: Mapping[str, Any], training_frame: pd.DataFrame,
                         source: str, label: str, trained_by: User | None = None, target_definition: str = "",
                         description: str = "", is_challenger: bool = False) -> ScoringModelVersion:
    """Store a trained scorecard as a new (inactive) version with its metrics, binning table,
    fingerprint and the training score sample and bin counts that PSI monitoring compares with."""
    metrics = dict(metrics)
    binning = metrics.pop("binning_table", [])
    scores = scorecard_under_policy(scorecard).score_frame(training_frame)["score"]
    if len(scores) > TRAINING_SCORE_SAMPLE:
        scores = scores.sample(TRAINING_SCORE_SAMPLE, random_state=0)
    version = ScoringModelVersion.objects.create(
        label=_unique_label(label),
        description=description,
        source=source[:300],
        target_definition=target_definition[:200],
        trained_by=trained_by if getattr(trained_by, "pk", None) else None,
        scorecard=scorecard.to_dict(),
        metrics=metrics,
        binning_table=binning,
        data_fingerprint=metrics.get("data_fingerprint", ""),
        training_rows=int(metrics.get("n_rows") or len(training_frame)),
        bad_rate=float(metrics.get("bad_rate") or 0.0),
        scaling={"base_points": scorecard.scaling.base_points, "base_odds": scorecard.scaling.base_odds,
                 "pdo": scorecard.scaling.pdo},
        grade_bands={"labels": list(GRADE_LABELS), "max_pds": list(master_scale())},
        is_challenger=is_challenger,
        training_scores=[int(s) for s in scores],
        training_characteristics=_training_characteristics(scorecard),
    )
    audit_record(actor=trained_by, action="scoring.model_version.create", target=version,
                 data={"source": version.source, "rows": version.training_rows,
                       "cv_auc": version.cv_auc, "fingerprint": version.data_fingerprint})
    return version


def model_version_train(*, features: pd.DataFrame, target: pd.Series, source: str, label: str | None = None,
                        trained_by: User | None = None, activate: bool = False, target_definition: str = "",
                        challenger: bool = False, scaling: ScalingSpec | None = None, max_correlation: float = 0.7,
                        target_bad_rate: float | None = None, is_challenger: bool = False,
                        description: str = "") -> ScoringModelVersion:
    """Train a scorecard (metrics by stratified CV and holdout), store it, optionally activate it.

    `challenger=True` also trains a gradient-boosting challenger on the same holdout split and
    stores the comparison under metrics["challenger"]. `target_bad_rate`: prior-correct the PD to
    the portfolio's expected bad rate (data from another population). `is_challenger` marks the
    version as a challenger of the active champion (a model trained on our own book). Raises
    DomainError on unusable data, naming the column; nothing is stored then.
    """
    scaling = scaling or ScalingSpec()
    bands = GradeBands.from_pd_bands(master_scale(), scaling=scaling, labels=GRADE_LABELS)
    try:
        card, metrics = train_scorecard(features, target, scaling=scaling, grade_bands=bands,
                                        max_correlation=max_correlation, target_bad_rate=target_bad_rate,
                                        metadata={"source": source, "target": target_definition})
        if challenger:
            metrics["challenger"] = train_challenger(features, target, scaling=scaling, grade_bands=bands,
                                                     max_correlation=max_correlation)
    except FeatureSchemaError as error:
        raise DomainError(error.message if error.row is None else f"{error.message} (row {error.row})",
                          field=error.column, code="feature_schema")
    except ValueError as error:
        raise DomainError(str(error), field="target" if "target" in str(error) else None, code="training_failed")
    label = label or f"{'german' if 'German' in source else 'model'}-{timezone.localtime():%Y%m%d-%H%M%S}"
    version = model_version_create(scorecard=card, metrics=metrics, training_frame=features, source=source,
                                   label=label, trained_by=trained_by, target_definition=target_definition,
                                   is_challenger=is_challenger, description=description)
    if activate:
        version = model_version_activate(version=version, by=trained_by)
    return version


# The shipped default: the consumer-credit book (scoring.consumer_credit). Income and the installment
# share their missing rows, which alone lifts the correlation of their WOE to 0.79: 0.8 lets both in.
DEFAULT_MAX_CORRELATION = 0.8


def model_version_train_default(*, label: str | None = None, activate: bool = False,
                                trained_by: User | None = None) -> ScoringModelVersion:
    """Train the shipped default model on the consumer-credit book, prior-corrected to the portfolio's
    expected bad rate (`SCORING_PORTFOLIO_BAD_RATE`), with its gradient-boosting challenger."""
    features, target = consumer_credit.load_consumer_credit()
    return model_version_train(
        features=features, target=target, source=consumer_credit.SOURCE,
        label=label or f"consumer-credit-{timezone.localtime():%Y%m%d-%H%M%S}", trained_by=trained_by,
        activate=activate, target_definition=consumer_credit.TARGET_DEFINITION, challenger=True,
        max_correlation=DEFAULT_MAX_CORRELATION, target_bad_rate=settings.SCORING_PORTFOLIO_BAD_RATE,
        description=(f"Prior-corrected from the sample's bad rate to the portfolio's expected "
                     f"{settings.SCORING_PORTFOLIO_BAD_RATE:.1%}."),
    )


@transaction.atomic
def model_version_activate(*, version: ScoringModelVersion, by: User | None) -> ScoringModelVersion:
    """Make `version` the one active model (the previous one is deactivated); audited."""
    locked = list(ScoringModelVersion.objects.select_for_update().filter(Q(is_active=True) | Q(pk=version.pk))
                  .order_by("pk"))
    target = next(v for v in locked if v.pk == version.pk)
    previous = [v for v in locked if v.is_active and v.pk != version.pk]
    if target.is_active:
        return target
    ScoringModelVersion.objects.filter(pk__in=[v.pk for v in previous]).update(is_active=False,
                                                                                updated_at=timezone.now())
    target.is_active = True
    target.is_challenger = False
    target.activated_by = by if getattr(by, "pk", None) else None
    target.activated_at = timezone.now()
    target.save(update_fields=["is_active", "is_challenger", "activated_by", "activated_at", "updated_at"])
    audit_record(actor=by, action="scoring.model_version.activate", target=target,
                 from_state=", ".join(v.label for v in previous), to_state=target.label,
                 data={"previous": [v.pk for v in previous]})
    return target


# --- Champion and challengers ----------------------------------------------------------------------------

RECENT_APPLICANTS_DAYS = 90
RECENT_APPLICANTS_LIMIT = 20_000


def recent_applicants(*, days: int = RECENT_APPLICANTS_DAYS, limit: int = RECENT_APPLICANTS_LIMIT) -> pd.DataFrame:
    """The features of the applicants scored in the last `days` (newest first, at most `limit`): the
    population every version is compared on."""
    since = timezone.now() - timedelta(days=days)
    rows = list(ScoreResult.objects.filter(scored_at__gte=since).order_by("-scored_at")
                .values_list("features", flat=True)[:limit])
    return pd.DataFrame.from_records(rows, columns=list(FEATURE_NAMES)) if rows else pd.DataFrame(
        columns=list(FEATURE_NAMES))


@dataclass(frozen=True)
class VersionStability:
    """One version on the recent applicants: PSI of its score against its own training scores."""

    version: ScoringModelVersion
    role: str  # "champion", "challenger" or "retired"
    applicants: int
    score_psi: float | None
    status: str


def versions_stability(*, applicants: pd.DataFrame | None = None) -> list[VersionStability]:
    """The champion and every challenger, each with the PSI of the recent applicants' scores (as that
    version scores them) against the version's training scores."""
    frame = recent_applicants() if applicants is None else applicants
    if len(frame):
        frame = validate_frame(frame.reindex(columns=list(FEATURE_NAMES)))
    out = []
    for version in ScoringModelVersion.objects.filter(Q(is_active=True) | Q(is_challenger=True)).order_by(
            "-is_active", "-created_at"):
        role = "champion" if version.is_active else "challenger"
        value = None
        if len(frame) and version.training_scores:
            scores = model_version_scorecard(version).score_frame(frame)["score"].to_numpy()
            value = float(psi(version.training_scores, scores))
        out.append(VersionStability(version=version, role=role, applicants=len(frame), score_psi=value,
                                    status=psi_status(value) if value is not None else ""))
    return out
