"""The model registry: store trained scorecards as model versions, activate one, change a version's
grade bands (each audited, in one transaction), and read the active version.

A version's parsed scorecard is kept per process, keyed by its id and `updated_at`, so a newly
activated model or changed grade bands are used from the next scoring on, whichever process saved them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from config.errors import DomainError
from customers.audit import audit_record
from customers.models import User
from scoring.features import FeatureSchemaError
from scoring.models import DEFAULT_GRADE_MAX_PDS, GRADE_LABELS, ScoringModelVersion, grade_bands_from_json
from scoring.scorecard import GradeBands, ScalingSpec, Scorecard, train_challenger, train_scorecard

TRAINING_SCORE_SAMPLE = 20_000


@dataclass(frozen=True)
class LoadedModel:
    """A model version as online scoring needs it, as of the row's `updated_at`: its id, label and
    parsed scorecard (with the version's grade bands)."""

    pk: int
    label: str
    updated_at: datetime
    scorecard: Scorecard


# In-process copies, keyed by version id and valid while the row's `updated_at` is unchanged. Every
# change to a version goes through save() or an update() that sets `updated_at` (activation,
# grade bands), so a changed row is never served from here.
_LOADED_MODELS: dict[int, LoadedModel] = {}


def _model_loaded(pk: int, updated_at: datetime) -> LoadedModel:
    """The version with this id, parsed once per process and re-read when its `updated_at` is not
    the one cached (a changed or reactivated version)."""
    cached = _LOADED_MODELS.get(pk)
    if cached is not None and cached.updated_at == updated_at:
        return cached
    row = ScoringModelVersion.objects.only("pk", "label", "updated_at", "scorecard", "grade_bands").get(pk=pk)
    card = Scorecard.from_dict(row.scorecard)
    bands = grade_bands_from_json(row.grade_bands, card.scaling)
    card = Scorecard(features=card.features, intercept=card.intercept, scaling=card.scaling, grade_bands=bands,
                     metadata=card.metadata)
    loaded = LoadedModel(pk=row.pk, label=row.label, updated_at=row.updated_at, scorecard=card)
    _LOADED_MODELS[row.pk] = loaded
    return loaded


def model_version_scorecard(version: ScoringModelVersion) -> Scorecard:
    """The version's scorecard with the version's grade bands, parsed once per process and
    re-read when the row changes (its `updated_at`)."""
    return _model_loaded(version.pk, version.updated_at).scorecard


def _no_active_model() -> DomainError:
    return DomainError(gettext("No scoring model is active. Train one with `manage.py train_scoring_model "
                               "--german-credit --activate` or activate a version in the admin."),
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
                         grade_max_pds: tuple[float, ...] = DEFAULT_GRADE_MAX_PDS, description: str = "",
                         ) -> ScoringModelVersion:
    """Store a trained scorecard as a new (inactive) version with its metrics, binning table,
    fingerprint and the training score sample and bin counts that PSI monitoring compares with."""
    metrics = dict(metrics)
    binning = metrics.pop("binning_table", [])
    scores = scorecard.score_frame(training_frame)["score"]
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
        grade_bands={"labels": list(GRADE_LABELS), "max_pds": list(grade_max_pds)},
        training_scores=[int(s) for s in scores],
        training_characteristics=_training_characteristics(scorecard),
    )
    audit_record(actor=trained_by, action="scoring.model_version.create", target=version,
                 data={"source": version.source, "rows": version.training_rows,
                       "cv_auc": version.cv_auc, "fingerprint": version.data_fingerprint})
    return version


def model_version_train(*, features: pd.DataFrame, target: pd.Series, source: str, label: str | None = None,
                        trained_by: User | None = None, activate: bool = False, target_definition: str = "",
                        challenger: bool = False, scaling: ScalingSpec | None = None,
                        grade_max_pds: tuple[float, ...] = DEFAULT_GRADE_MAX_PDS) -> ScoringModelVersion:
    """Train a scorecard (metrics by stratified CV and holdout), store it, optionally activate it.

    `challenger=True` also trains a gradient-boosting challenger on the same holdout split and
    stores the comparison under metrics["challenger"]. Raises DomainError on unusable data.
    """
    scaling = scaling or ScalingSpec()
    bands = GradeBands.from_pd_bands(grade_max_pds, scaling=scaling, labels=GRADE_LABELS)
    try:
        card, metrics = train_scorecard(features, target, scaling=scaling, grade_bands=bands,
                                        metadata={"source": source, "target": target_definition})
        if challenger:
            metrics["challenger"] = train_challenger(features, target, scaling=scaling, grade_bands=bands)
    except FeatureSchemaError as error:
        raise DomainError(error.message if error.row is None else f"{error.message} (row {error.row})",
                          field=error.column, code="feature_schema")
    except ValueError as error:
        raise DomainError(str(error), code="training_failed")
    label = label or f"{'german' if 'German' in source else 'model'}-{timezone.localtime():%Y%m%d-%H%M%S}"
    version = model_version_create(scorecard=card, metrics=metrics, training_frame=features, source=source,
                                   label=label, trained_by=trained_by, target_definition=target_definition,
                                   grade_max_pds=grade_max_pds)
    if activate:
        version = model_version_activate(version=version, by=trained_by)
    return version


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
    target.activated_by = by if getattr(by, "pk", None) else None
    target.activated_at = timezone.now()
    target.save(update_fields=["is_active", "activated_by", "activated_at", "updated_at"])
    audit_record(actor=by, action="scoring.model_version.activate", target=target,
                 from_state=", ".join(v.label for v in previous), to_state=target.label,
                 data={"previous": [v.pk for v in previous]})
    return target


@transaction.atomic
def model_version_update_grade_bands(*, version: ScoringModelVersion, grade_bands: Mapping[str, Any],
                                     by: User | None) -> ScoringModelVersion:
    """Change a version's grade bands (validated); audited with the old and new bands."""
    locked = ScoringModelVersion.objects.select_for_update().get(pk=version.pk)
    try:
        grade_bands_from_json(dict(grade_bands), ScalingSpec(**locked.scaling))
    except (TypeError, ValueError) as error:
        raise DomainError(str(error), field="grade_bands")
    before = locked.grade_bands
    locked.grade_bands = dict(grade_bands)
    locked.save(update_fields=["grade_bands", "updated_at"])
    audit_record(actor=by, action="scoring.model_version.grade_bands", target=locked,
                 data={"changes": {"grade_bands": [before, locked.grade_bands]}})
    return locked
