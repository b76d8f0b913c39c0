"""Verbs of credit scoring: build an applicant's features, score an application, train and activate
model versions, rescore the book, record population stability.

Every path (the Celery task, the sweep, management commands, admin actions, the demo) calls these
functions, so each gets the same validation, audit record and transaction.

Online scoring (`application_score`)
    1. lock the application; only a `submitted` one is scored (a result that exists already is
       returned as it is: scoring twice never creates two results);
    2. features from the customer profile, the latest bank-statement summary and the application
       (`applicant_features`; the same schema as training, protected attributes never included);
    3. knock-out / policy rules (`scoring.rules`), the active scorecard, anomaly flags;
    4. store one `ScoreResult`, move the application to `scored` (or `declined` with the reason
       "knock-out: <rule>"), then let installments generate offers -- all in one transaction.

    Reads are few and the registry is not read at all on most scorings: the locked application
    comes in one query with its product, stored result, customer and profile, and with the keys
    of this process's copies of the active scorecard (version id + `updated_at`) and of the
    policy rules (row count + latest `updated_at`), so a newly activated model or an edited rule
    is used from the next scoring on, whichever process saved it (`_application_to_score`); the
    profile's latest bank statement comes with it too. One more query reads the profile's finance
    lines with the product's price tiers (`_profile_lines_and_tier_rates`); those, the statement
    and the anomaly evidence are read afresh on every scoring, never cached. The hot queries are
    compiled to SQL once per process (`config.prepared.PreparedQuery`), and the state change
    moves the already locked application (`application_transition(..., locked=True)`).
    Occupation income peers are kept per process for a minute in front of the shared cache.
"""

from __future__ import annotations

import calendar
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from decimal import ROUND_HALF_UP, Decimal, localcontext
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from cryptography.fernet import InvalidToken
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import (
    Count,
    DecimalField,
    ExpressionWrapper,
    F,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.utils import timezone
from django.utils.translation import gettext

from config.errors import DomainError
from config.prepared import PreparedQuery
from customers import national_id
from customers.audit import audit_record
from customers.models import (
    AssetLine,
    CustomerProfile,
    DebtLine,
    ExpenseLine,
    IncomeLine,
    StatementSummary,
    User,
)
from customers.pii import decrypt, search_hash
from customers.selectors import ProfileLines, profile_summary
from installments.models import Application, Offer, Plan, PriceTier
from scoring import anomalies, rules
from scoring.features import (
    FEATURE_NAMES,
    PROTECTED_ATTRIBUTES,
    FeatureSchemaError,
    validate_frame,
    vector_from_mapping,
)
from scoring.models import (
    DEFAULT_GRADE_MAX_PDS,
    GRADE_LABELS,
    MonitoringSnapshot,
    PolicyRule,
    ScoreResult,
    ScoringModelVersion,
    grade_bands_from_json,
)
from scoring.scorecard import (
    MAX_REASON_CODES,
    FeatureBinning,
    GradeBands,
    ScalingSpec,
    Scorecard,
    _reason_code,
    psi,
    psi_status,
    train_challenger,
    train_scorecard,
)

logger = logging.getLogger(__name__)

CENT = Decimal("0.01")
PD_QUANTUM = Decimal("0.000001")
TRAINING_SCORE_SAMPLE = 20_000
MIN_TRAINING_ROWS = 50
MIN_TRAINING_CLASS_ROWS = 10
PENDING_AFTER = timedelta(minutes=2)
BOOK_OUTCOME_MONTHS = 12
BOOK_BAD_DAYS_PAST_DUE = 30
BOOK_TARGET_DEFINITION = "ever 30+ days past due within 12 months of disbursement"
STATUS_ORDER = {"stable": 0, "watch": 1, "act": 2}

# Application purposes -> the schema's purposes. "car" is scored as a new car, the riskier of the
# two car purposes in the training data, because the application does not say new or used.
PURPOSES = {
    Application.Purpose.CAR: "car_new",
    Application.Purpose.FURNITURE: "furniture",
    Application.Purpose.APPLIANCES: "electronics",
    Application.Purpose.EDUCATION: "education",
    Application.Purpose.BUSINESS: "business",
    Application.Purpose.MEDICAL: "medical",
    Application.Purpose.TRAVEL: "travel",
    Application.Purpose.RENOVATION: "renovation",
    Application.Purpose.OTHER: "other",
}
# Debts that are installment credits, by the kind of lender (mortgages are described by housing,
# credit cards are revolving credit, not installment plans).
BANK_INSTALLMENT_DEBTS = {"consumer_loan", "car_loan"}
OTHER_INSTALLMENT_DEBTS = {"other"}
# A statement with no overdraft and a salary-like inflow in at least this share of its months
# counts as a "high" current-account balance (the schema's "salary paid in" case).
REGULAR_SALARY_SHARE = Decimal("0.75")

DEFAULT_POLICY_RULES = (
    {"name": "Applicant under 18", "kind": rules.MIN_AGE, "threshold": Decimal("18")},
    {"name": "Applicant over 65", "kind": rules.MAX_AGE, "threshold": Decimal("65")},
    {"name": "Monthly income below 2,000", "kind": rules.MIN_INCOME, "threshold": Decimal("2000")},
    {"name": "Debt-to-income over 60 % with the new plan", "kind": rules.MAX_DEBT_TO_INCOME,
     "threshold": Decimal("0.60")},
    {"name": "ID number invalid", "kind": rules.INVALID_ID, "threshold": None},
    {"name": "ID number used by another customer", "kind": rules.DUPLICATE_ID, "threshold": None},
    {"name": "Overdue with us", "kind": rules.OPEN_DELINQUENCY_WITH_US, "threshold": Decimal("0")},
)


# ---------------------------------------------------------------------------------------------
# Features


@dataclass(frozen=True)
class RequestedPlan:
    """The installment the applicant asks for, on which payment-to-income is computed.

    basis: `chosen_offer` (the offer the customer picked) or `reference_annuity` (an annuity over
    the requested term at the product's grade-free reference rate: the middle price tier's rate,
    so the feature does not depend on the grade it helps to decide).
    """

    installment: Decimal
    term_months: int
    annual_rate: Decimal
    method: str
    basis: str

    def as_context(self) -> dict[str, Any]:
        return {
            "installment": str(self.installment),
            "term_months": self.term_months,
            "annual_rate": str(self.annual_rate),
            "plan_type": self.method,
            "installment_basis": self.basis,
        }


def annuity_installment(amount: Decimal, annual_rate_percent: Decimal, term_months: int) -> Decimal:
    """Level monthly payment repaying `amount` over `term_months` at a nominal annual rate (percent),
    rounded half-up to the cent: amount x r / (1 - (1 + r) ** -n) with r = rate / 1200."""
    with localcontext(prec=34):
        amount = Decimal(amount)
        r = Decimal(annual_rate_percent) / Decimal(1200)
        if r == 0:
            payment = amount / term_months
        else:
            payment = amount * r / (1 - (1 + r) ** -term_months)
    return payment.quantize(CENT, rounding=ROUND_HALF_UP)


_LOOK_UP: Any = object()  # "not read yet: read it here", as a default where None is a real answer


def requested_plan(application: Application, *, chosen_offer: Offer | None = _LOOK_UP,
                   tier_rates: list[Decimal] | None = None) -> RequestedPlan:
    """The plan the applicant asks for (see `RequestedPlan`). A missing term is read as the middle
    of the product's term range. `chosen_offer`: the offer the customer picked (None: none), and
    `tier_rates`: the annual rates of the product's price tiers in grade order, when the caller has
    read them already."""
    chosen = chosen_offer
    if chosen is _LOOK_UP:
        # order_by(): the default ordering of offers joins the application; one chosen offer at most.
        chosen = Offer.objects.filter(application_id=application.pk, chosen_at__isnull=False).order_by().first()
    if chosen is not None:
        return RequestedPlan(installment=chosen.installment, term_months=chosen.term_months,
                             annual_rate=chosen.annual_rate, method=chosen.method, basis="chosen_offer")
    product = application.product
    term = application.term_months or round((product.min_term_months + product.max_term_months) / 2)
    tiers = tier_rates
    if tiers is None:
        tiers = list(PriceTier.objects.filter(product_id=product.pk).order_by("grade").values_list("annual_rate",
                                                                                                  flat=True))
    rate = tiers[len(tiers) // 2] if tiers else Decimal("0")
    return RequestedPlan(
        installment=annuity_installment(application.amount, rate, term), term_months=term, annual_rate=rate,
        method=application.preferred_method or "annuity", basis="reference_annuity",
    )


def applicant_summary(profile: CustomerProfile | None, *, lines: ProfileLines | None = None,
                      statement: StatementSummary | None = _LOOK_UP) -> dict[str, Any] | None:
    """`customers.selectors.profile_summary` plus the kinds of assets and debts the profile lists
    (`asset_kinds`, `debt_kinds`), which the features `main_asset` and `other_installment_plans` need.
    `lines` and `statement` (the latest; None: none) when the caller has read them already."""
    if profile is None:
        return None
    lines = lines or ProfileLines.of(profile)
    if statement is _LOOK_UP:
        summary = profile_summary(profile, finances=lines.finances())
    else:
        summary = profile_summary(profile, finances=lines.finances(), statement=statement)
    summary["asset_kinds"] = sorted({kind for kind, value in lines.assets if value > 0})
    summary["debt_kinds"] = sorted({kind for kind, balance, payment in lines.debts if balance > 0 or payment > 0})
    return summary


def _checking_status(summary: Mapping[str, Any]) -> str | None:
    """From the latest statement: overdrawn on any day -> negative; a regular salary-like inflow
    (>= 75 % of months) -> high; otherwise low. No statement -> missing."""
    if summary.get("overdraft_days") is None:
        return None
    if summary["overdraft_days"] > 0:
        return "negative"
    regularity = summary.get("income_regularity")
    if regularity is not None and Decimal(regularity) >= REGULAR_SALARY_SHARE:
        return "high"
    return "low"


def _credit_history(summary: Mapping[str, Any]) -> str:
    """From the declared history and our repayment record (a bureau report is not parsed yet, so
    `critical_account` is never derived): any late payment -> past_delays; repaid with us ->
    all_repaid_at_this_lender; other credits running -> repaid_on_time; else no credit."""
    late = (summary.get("past_delinquencies") or 0) + (summary.get("late_payments") or 0)
    if late > 0 or Decimal(summary.get("current_overdue") or 0) > 0:
        return "past_delays"
    if (summary.get("on_time_payments") or 0) > 0:
        return "all_repaid_at_this_lender"
    if (summary.get("number_of_existing_credits") or 0) > 0:
        return "repaid_on_time"
    return "no_credit_or_all_repaid"


def _main_asset(summary: Mapping[str, Any]) -> str | None:
    """Most valuable kind held: property -> real_estate; vehicle or other -> vehicle_or_other;
    savings only -> savings_plan_or_insurance; nothing -> none. Unknown kinds -> from the totals."""
    kinds = summary.get("asset_kinds")
    if kinds is None:
        total, savings = summary.get("total_assets"), summary.get("savings")
        if total is None:
            return None
        if Decimal(total) <= 0:
            return "none"
        return "savings_plan_or_insurance" if savings is not None and Decimal(savings) >= Decimal(total) else None
    kinds = set(kinds)
    if "property" in kinds:
        return "real_estate"
    if kinds & {"vehicle", "other"}:
        return "vehicle_or_other"
    if "savings" in kinds:
        return "savings_plan_or_insurance"
    return "none"


def _other_installment_plans(summary: Mapping[str, Any]) -> str | None:
    kinds = summary.get("debt_kinds")
    if kinds is None:
        return None
    kinds = set(kinds)
    if kinds & BANK_INSTALLMENT_DEBTS:
        return "bank"
    if kinds & OTHER_INSTALLMENT_DEBTS:
        return "store"
    return "none"


def _json_number(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def applicant_features(*, application: Application, summary: Mapping[str, Any] | None = None,
                       plan: RequestedPlan | None = None) -> dict[str, float | str | None]:
    """The applicant's feature vector in the schema of `scoring.features` (schema order).

    `summary` is `customers.selectors.profile_summary(profile)` (optionally with `asset_kinds` and
    `debt_kinds`, see `applicant_summary`); None scores the application alone. Numbers are floats
    (None when unknown), categories the schema's values (None when unknown). checking_status,
    credit_history, main_asset and other_installment_plans are derived (see the helpers above),
    purpose is mapped (`PURPOSES`), payment_to_income is the requested plan's installment over
    monthly income (`requested_plan`); the rest are copied. Protected attributes are never read, whatever `summary` holds.
    Raises DomainError naming the feature when a value does not fit the schema.
    """
    s = {k: v for k, v in (summary or {}).items() if k not in PROTECTED_ATTRIBUTES}
    plan = plan or requested_plan(application)
    income = s.get("monthly_income")
    payment_to_income = (plan.installment / Decimal(income)) if income is not None and Decimal(income) > 0 else None
    raw = {
        "age": s.get("age"),
        "employment_type": s.get("employment_type"),
        "years_in_job": s.get("years_in_job"),
        "housing": s.get("housing"),
        "marital_status": s.get("marital_status"),
        "dependants": s.get("dependants"),
        "education": s.get("education"),
        "monthly_income": income,
        "monthly_expenses": s.get("monthly_expenses"),
        "total_assets": s.get("total_assets"),
        "savings": s.get("savings"),
        "existing_debt_balance": s.get("existing_debt_balance"),
        "existing_debt_monthly_payment": s.get("existing_debt_monthly_payment"),
        "debt_to_income": s.get("debt_to_income"),
        "payment_to_income": payment_to_income,
        "requested_amount": application.amount,
        "term_months": plan.term_months,
        "purpose": PURPOSES.get(application.purpose, "other"),
        "number_of_existing_credits": s.get("number_of_existing_credits"),
        "past_delinquencies": s.get("past_delinquencies"),
        "income_volatility": s.get("income_volatility"),
        "checking_status": _checking_status(s) if summary else None,
        "credit_history": _credit_history(s) if summary else None,
        "main_asset": _main_asset(s) if summary else None,
        "other_installment_plans": _other_installment_plans(s) if summary else None,
    }
    try:
        vector = vector_from_mapping(raw)
    except FeatureSchemaError as error:
        raise DomainError(error.message, field=error.column, code="feature_schema")
    return {name: _json_number(vector[name]) for name in FEATURE_NAMES}


# ---------------------------------------------------------------------------------------------
# The model registry

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


# ---------------------------------------------------------------------------------------------
# Training data


def _target_values(column: pd.Series, name: str) -> pd.Series:
    """A CSV target column as 0 (good) / 1 (bad); accepts 0/1, true/false and good/bad."""
    if column.isna().any():
        line = int(column.index[column.isna().to_numpy().argmax()]) + 2
        raise DomainError(gettext("target column “%(column)s” is empty on line %(line)s of the file.")
                          % {"column": name, "line": line}, field=name, code="target_missing_value")
    words = {"0": 0, "1": 1, "0.0": 0, "1.0": 1, "good": 0, "bad": 1, "false": 0, "true": 1}
    text = column.astype(str).str.strip().str.lower()
    mapped = text.map(words)
    if mapped.isna().any():
        found = sorted(set(text[mapped.isna()]))[:5]
        raise DomainError(gettext("target column “%(column)s” must be binary (0 = good, 1 = bad, or good/bad); "
                                  "found %(values)s.") % {"column": name, "values": ", ".join(found)},
                          field=name, code="target_not_binary")
    values = mapped.astype("int64").rename("bad")
    counts = values.value_counts()
    goods, bads = int(counts.get(0, 0)), int(counts.get(1, 0))
    if min(goods, bads) < MIN_TRAINING_CLASS_ROWS:
        raise DomainError(gettext("target column “%(column)s” needs at least %(n)s goods and %(n)s bads; found "
                                  "%(goods)s goods and %(bads)s bads.")
                          % {"column": name, "n": MIN_TRAINING_CLASS_ROWS, "goods": goods, "bads": bads},
                          field=name, code="target_not_binary")
    return values


def training_data_from_csv(path: str | Path, *, target: str, ignore_unknown: bool = False,
                           ) -> tuple[pd.DataFrame, pd.Series, list[str]]:
    """Read a training CSV whose columns use the schema's names (missing ones allowed).

    Returns (features, target 0/1, notes). Protected attributes are dropped (with a note); other
    unknown columns are an error naming them unless `ignore_unknown`. Raises DomainError naming
    the column at fault (`field`): missing target, a non-binary target, a value that does not fit
    the feature's type or allowed values, an unknown column.
    """
    path = Path(path)
    try:
        frame = pd.read_csv(path, skipinitialspace=True)
    except FileNotFoundError:
        raise DomainError(gettext("No such file: %(path)s") % {"path": path}, field="data")
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise DomainError(gettext("Cannot read %(path)s as CSV: %(error)s") % {"path": path, "error": error},
                          field="data")
    frame.columns = [str(c).strip() for c in frame.columns]
    if target not in frame.columns:
        raise DomainError(gettext("target column “%(column)s” not found; the file has: %(columns)s.")
                          % {"column": target, "columns": ", ".join(frame.columns)}, field=target,
                          code="target_missing")
    if len(frame) < MIN_TRAINING_ROWS:
        raise DomainError(gettext("The file has %(n)s rows; at least %(min)s are needed to train.")
                          % {"n": len(frame), "min": MIN_TRAINING_ROWS}, field="data")
    notes = []
    unknown = [c for c in frame.columns if c != target and c not in FEATURE_NAMES]
    for column in unknown:
        if column in PROTECTED_ATTRIBUTES:
            notes.append(gettext("Ignored protected attribute “%(column)s”: it is never a model input.")
                         % {"column": column})
        elif ignore_unknown:
            notes.append(gettext("Ignored column “%(column)s”: not in the feature schema.") % {"column": column})
        else:
            raise DomainError(gettext("unknown column “%(column)s”: not in the feature schema (scoring/features.py); "
                                      "rename it or pass --ignore-unknown.") % {"column": column},
                              field=column, code="unknown_column")
    present = [c for c in frame.columns if c in FEATURE_NAMES]
    if not present:
        raise DomainError(gettext("No column of the file is a schema feature."), field="data")
    y = _target_values(frame[target], target)
    X = frame[present]  # noqa: N806 - scikit-learn's name for the feature matrix
    try:
        validate_frame(X)
    except FeatureSchemaError as error:
        # The frame keeps the file's RangeIndex: row 0 is line 2, below the header.
        line = "" if error.row is None else f" (line {int(error.row) + 2} of the file)"
        raise DomainError(f"{error.column}: {error.message}{line}", field=error.column, code="feature_schema")
    return X, y, notes


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def book_outcomes(plans: list[dict], *, months: int = BOOK_OUTCOME_MONTHS,
                  days: int = BOOK_BAD_DAYS_PAST_DUE) -> dict[int, int]:
    """1 (bad) for each plan that was ever `days`+ days past due on an installment due within
    `months` of disbursement (still overdue that long, or paid that late); 0 otherwise.

    `plans` are dicts with `pk` and `disbursement_date`.
    """
    from installments.models import Installment

    horizon = {p["pk"]: _add_months(p["disbursement_date"], months) for p in plans}
    outcome = dict.fromkeys(horizon, 0)
    # Lateness counts from the value date (when the money was received, `paid_on`), never from when
    # the payment was booked: a back-dated or batch-posted receipt is not a late payment.
    rows = Installment.objects.filter(plan_id__in=list(horizon)).values_list("plan_id", "due_date", "days_past_due",
                                                                            "paid_on", "status")
    for plan_id, due, dpd, paid_on, status in rows.iterator(chunk_size=5000):
        if due > horizon[plan_id]:
            continue
        late_days = dpd or 0
        if paid_on is not None and status == Installment.Status.PAID:
            late_days = (paid_on - due).days
        if late_days >= days:
            outcome[plan_id] = 1
    return outcome


def training_data_from_book(*, on: date | None = None) -> tuple[pd.DataFrame, pd.Series, str]:
    """Our own book as training data: the features each plan's application was scored on, and the
    outcome "ever 30+ days past due within 12 months". Only plans disbursed at least 12 months
    before `on` count. Raises DomainError saying clearly when there is not enough history."""
    on = on or timezone.localdate()
    cutoff = _add_months(on, -BOOK_OUTCOME_MONTHS)
    plans = list(Plan.objects.filter(disbursement_date__lte=cutoff, application__score_result__isnull=False)
                 .values("pk", "disbursement_date", "application__score_result__features"))
    if not plans:
        total = Plan.objects.count()
        raise DomainError(gettext("No plan has 12 months of repayment history yet (plans disbursed on or before "
                                  "%(cutoff)s with a stored score: none; plans in the book: %(total)s). Retraining "
                                  "from our own book needs them; keep using the current model.")
                          % {"cutoff": cutoff.isoformat(), "total": total}, field="from_book", code="no_history")
    outcomes = book_outcomes(plans)
    X = pd.DataFrame.from_records(  # noqa: N806
        [p["application__score_result__features"] for p in plans], index=[p["pk"] for p in plans],
    ).reindex(columns=list(FEATURE_NAMES))
    y = pd.Series([outcomes[p["pk"]] for p in plans], index=X.index, name="bad", dtype="int64")
    goods, bads = int((y == 0).sum()), int((y == 1).sum())
    if len(y) < MIN_TRAINING_ROWS or min(goods, bads) < MIN_TRAINING_CLASS_ROWS:
        raise DomainError(gettext("Our book has %(n)s plans with 12 months of history (%(bads)s bad, %(goods)s "
                                  "good); at least %(min)s plans with %(cls)s of each outcome are needed to train.")
                          % {"n": len(y), "bads": bads, "goods": goods, "min": MIN_TRAINING_ROWS,
                             "cls": MIN_TRAINING_CLASS_ROWS}, field="from_book", code="not_enough_history")
    source = f"Own book: {len(y)} plans disbursed on or before {cutoff.isoformat()} (as of {on.isoformat()})"
    return X, y, source


# ---------------------------------------------------------------------------------------------
# Policy rules and anomaly flags


# What identifies the state of the rule table: its row count and latest `updated_at` (a deletion
# changes the count, an addition or an edit through save() the latest time).
PolicyRulesStamp = tuple[int, datetime | None]
# The in-process copy is re-read at least this often whatever the stamp says: the safety net for a
# change the stamp cannot see (an edit saved by a server whose clock runs behind the latest
# `updated_at`, or a bulk update() that does not set `updated_at`).
POLICY_RULES_MAX_AGE_SECONDS = 60.0


@dataclass(frozen=True)
class _PolicyRulesCopy:
    stamp: PolicyRulesStamp
    read_at: float  # time.monotonic()
    rows: tuple[tuple[rules.RuleSpec, bool, date, date | None], ...]  # (spec, is_active, from, to)


_POLICY_RULES: _PolicyRulesCopy | None = None


def _policy_rules_stamp_subqueries() -> dict[str, Subquery]:
    """The stamp as two scalar subqueries, to be read with another query (`application_score`)."""
    every_rule = PolicyRule.objects.order_by().values(every_rule=Value(1))  # one group: the whole table
    return {
        "scoring_policy_rules_count": Subquery(every_rule.annotate(n=Count("pk")).values("n")),
        "scoring_policy_rules_updated_at": Subquery(every_rule.annotate(latest=Max("updated_at")).values("latest")),
    }


def policy_rules_in_force(on: date | None = None, *, stamp: PolicyRulesStamp | None = None) -> list[rules.RuleSpec]:
    """The rules that apply on `on` (default today), in a stable order (kind, name).

    From an in-process copy of the rule table, read again when the table's stamp (row count, latest
    `updated_at`) differs from the copy's, and at least every `POLICY_RULES_MAX_AGE_SECONDS`.
    `stamp` is the current stamp when the caller read it already (with the application); otherwise
    it is read here, in one query.
    """
    global _POLICY_RULES
    on = on or timezone.localdate()
    if stamp is None:
        current = PolicyRule.objects.aggregate(n=Count("pk"), latest=Max("updated_at"))
        stamp = (current["n"], current["latest"])
    copy = _POLICY_RULES
    if copy is None or copy.stamp != stamp or time.monotonic() - copy.read_at > POLICY_RULES_MAX_AGE_SECONDS:
        read_at = time.monotonic()
        rows = list(PolicyRule.objects.order_by("kind", "name"))
        copy = _PolicyRulesCopy(
            stamp=(len(rows), max((row.updated_at for row in rows), default=None)), read_at=read_at,
            rows=tuple((row.to_spec(), row.is_active, row.effective_from, row.effective_to) for row in rows),
        )
        _POLICY_RULES = copy
    return [spec for spec, is_active, effective_from, effective_to in copy.rows
            if rules.rule_is_in_force(is_active=is_active, effective_from=effective_from, effective_to=effective_to,
                                      on=on)]


@transaction.atomic
def policy_rules_ensure_defaults(*, by: User | None = None) -> int:
    """Create the default knock-out rules that do not exist yet (by name); returns how many."""
    created = 0
    for spec in DEFAULT_POLICY_RULES:
        rule, made = PolicyRule.objects.get_or_create(name=spec["name"], defaults={
            "kind": spec["kind"], "threshold": spec["threshold"], "effective_from": date(2020, 1, 1),
        })
        if made:
            created += 1
            audit_record(actor=by, action="scoring.policy_rule.create", target=rule,
                         data={"kind": rule.kind, "threshold": str(rule.threshold)})
    return created


def _id_is_valid(profile: CustomerProfile) -> bool:
    """Re-check the stored ID number (decrypted in memory only, never logged or stored)."""
    try:
        number = decrypt(profile.id_number_encrypted)
        national_id.validate_id_number(profile.id_type, number, today=timezone.localdate())
    except (national_id.NationalIdError, InvalidToken, ValueError, TypeError):
        return False
    return True


@dataclass(frozen=True)
class IdentityHistory:
    """Earlier score results carrying the applicant's ID number (by its keyed hash)."""

    name_hashes: frozenset[str] = frozenset()
    other_customer: bool = False


# Markers of the prepared queries' per-call parameters: values no real parameter takes.
_MARKER_ID = -7_000_000_001
_MARKER_OTHER_ID = -7_000_000_002
_MARKER_TEXT = "scoring:prepared-query-marker:text"
_MARKER_OTHER_TEXT = "scoring:prepared-query-marker:other-text"
_MARKER_TIME = datetime(1901, 2, 3, 4, 5, 6, 789012, tzinfo=UTC)

_IDENTITY_ROWS = PreparedQuery(
    lambda id_number_hash, application_id: (ScoreResult.objects.filter(id_number_hash=id_number_hash)
                                            .exclude(application_id=application_id)
                                            .values_list("name_hash", "application__customer_id")),
    {"id_number_hash": _MARKER_TEXT, "application_id": _MARKER_ID},
)


def identity_history(*, application: Application, profile: CustomerProfile | None) -> IdentityHistory:
    if profile is None or not profile.id_number_hash:
        return IdentityHistory()
    rows = _IDENTITY_ROWS.tuples(id_number_hash=profile.id_number_hash, application_id=application.pk)
    return IdentityHistory(name_hashes=frozenset(n for n, _ in rows if n),
                           other_customer=any(c != application.customer_id for _, c in rows))


def applicant_facts(*, application: Application, profile: CustomerProfile | None,
                    summary: Mapping[str, Any] | None, plan: RequestedPlan,
                    identity: IdentityHistory | None = None,
                    worst_days_past_due: int | None = _LOOK_UP) -> rules.ApplicantFacts:
    """What the knock-out rules look at, gathered from the profile, our book and the request.
    `worst_days_past_due`: of the customer's live plans with us (None: no live plan), when the
    caller has read it already."""
    s = summary or {}
    id_valid = duplicate = None
    if profile is not None:
        id_valid = bool(profile.id_number_hash) and _id_is_valid(profile)
        identity = identity or identity_history(application=application, profile=profile)
        duplicate = identity.other_customer
    worst = worst_days_past_due
    if worst is _LOOK_UP:
        worst = _live_plans(customer_id=application.customer_id).aggregate(dpd=Max("days_past_due"))["dpd"]
    return rules.ApplicantFacts(
        age=s.get("age"),
        monthly_income=s.get("monthly_income"),
        monthly_expenses=s.get("monthly_expenses"),
        existing_debt_monthly_payment=s.get("existing_debt_monthly_payment"),
        new_installment=plan.installment,
        past_delinquencies=s.get("past_delinquencies"),
        id_valid=id_valid,
        id_used_by_another_customer=duplicate,
        days_past_due_with_us=worst or 0,
        amount_overdue_with_us=s.get("current_overdue"),
    )


def _live_plans(*, customer_id: int | OuterRef):
    return Plan.objects.filter(customer_id=customer_id, state__in=Plan.LIVE_STATES)


def anomaly_thresholds() -> anomalies.AnomalyThresholds:
    """Thresholds from settings (`SCORING_ANOMALY_*`), with the defaults of AnomalyThresholds."""
    d = anomalies.AnomalyThresholds()
    return anomalies.AnomalyThresholds(
        burst_window_hours=float(getattr(settings, "SCORING_ANOMALY_BURST_WINDOW_HOURS", d.burst_window_hours)),
        burst_count=int(getattr(settings, "SCORING_ANOMALY_BURST_COUNT", d.burst_count)),
        income_multiple=float(getattr(settings, "SCORING_ANOMALY_INCOME_MULTIPLE", d.income_multiple)),
        income_robust_z=float(getattr(settings, "SCORING_ANOMALY_INCOME_ROBUST_Z", d.income_robust_z)),
        income_min_peers=int(getattr(settings, "SCORING_ANOMALY_INCOME_MIN_PEERS", d.income_min_peers)),
        inflow_multiple=float(getattr(settings, "SCORING_ANOMALY_INFLOW_MULTIPLE", d.inflow_multiple)),
    )


OCCUPATION_PEER_SAMPLE = 2_000
OCCUPATION_INCOME_CACHE_SECONDS = 600
# Each process keeps the prepared peers of an occupation this long before asking the shared cache
# again (a Redis round trip and unpickling up to 2,000 Decimals per scoring otherwise).
OCCUPATION_PEERS_PROCESS_SECONDS = 60.0


def occupation_incomes(occupation: str) -> list[tuple[int, Decimal]]:
    """(profile id, declared monthly income) of up to 2,000 recent customers in an occupation.

    Cached for 10 minutes: the peer median moves slowly and the query scans every peer."""
    key = f"scoring:occupation-incomes:{occupation}"
    cached = cache.get(key)
    if cached is None:
        cached = list(IncomeLine.objects.filter(profile__occupation=occupation).values("profile_id")
                      .annotate(total=Sum("monthly_amount")).order_by("-profile_id")
                      .values_list("profile_id", "total")[:OCCUPATION_PEER_SAMPLE])
        cache.set(key, cached, OCCUPATION_INCOME_CACHE_SECONDS)
    return cached


@dataclass(frozen=True)
class OccupationPeers:
    """An occupation's peers prepared for `anomalies.income_outlier`: every peer's income by profile
    id (to leave the applicant out) and the incomes sorted with their logs."""

    income_by_profile: dict[int, Decimal]
    incomes: anomalies.PeerIncomes
    expires_at: float  # time.monotonic()

    def without(self, profile_id: int) -> anomalies.PeerIncomes:
        return self.incomes.without(self.income_by_profile.get(profile_id))


_OCCUPATION_PEERS: dict[str, OccupationPeers] = {}


def occupation_peers(occupation: str) -> OccupationPeers:
    """`occupation_incomes`, prepared once per process every `OCCUPATION_PEERS_PROCESS_SECONDS`."""
    peers = _OCCUPATION_PEERS.get(occupation)
    if peers is None or time.monotonic() >= peers.expires_at:
        rows = occupation_incomes(occupation)
        peers = OccupationPeers(income_by_profile=dict(rows),
                                incomes=anomalies.PeerIncomes.from_values(total for _, total in rows),
                                expires_at=time.monotonic() + OCCUPATION_PEERS_PROCESS_SECONDS)
        _OCCUPATION_PEERS[occupation] = peers
    return peers


def process_caches_clear() -> None:
    """Forget this process's copies of the model versions, the policy rules and the occupation
    peers (tests; a process that must see a change at once). The shared cache is not touched."""
    global _POLICY_RULES
    _LOADED_MODELS.clear()
    _POLICY_RULES = None
    _OCCUPATION_PEERS.clear()


_RECENT_APPLICATIONS = PreparedQuery(
    lambda since, phone, email: (
        Application.objects.filter(submitted_at__gte=since)
        .filter(Q(customer__profile__phone=phone) | Q(customer__email__iexact=email)
                | Q(customer__profile__email__iexact=email))
        .values_list("pk", "customer_id", "customer__profile__phone", "customer__email", "customer__profile__email")
        .distinct()),
    {"since": _MARKER_TIME, "phone": _MARKER_TEXT, "email": _MARKER_OTHER_TEXT},
)


def _recent_applications(*, since: datetime, phone: str, email: str) -> list[tuple]:
    """(pk, customer id, profile phone, user e-mail, profile e-mail) of the applications submitted
    since `since` whose customer has this phone or (case-insensitively) this e-mail; an empty phone
    or e-mail matches nothing (NULL in the comparison)."""
    ops = connection.ops
    return _RECENT_APPLICATIONS.tuples(since=ops.adapt_datetimefield_value(since), phone=phone or None,
                                       email=ops.prep_for_iexact_query(email) if email else None)


def applicant_anomalies(*, application: Application, profile: CustomerProfile | None,
                        summary: Mapping[str, Any] | None, name_hash: str,
                        identity: IdentityHistory | None = None) -> list[dict]:
    """Anomaly flags for officers (never a decline); see `scoring.anomalies`."""
    if profile is None:
        return []
    thresholds = anomaly_thresholds()
    s = summary or {}
    flags: list[anomalies.AnomalyFlag | None] = []

    identity = identity or identity_history(application=application, profile=profile)
    flags.append(anomalies.same_id_different_names([name_hash, *identity.name_hashes]))

    # One query for both channels: recent applications sharing the phone or the e-mail.
    since = timezone.now() - timedelta(hours=thresholds.burst_window_hours)
    email = (profile.email or "").lower()
    recent = _recent_applications(since=since, phone=profile.phone, email=email) if profile.phone or email else []
    for channel, value in (("phone", profile.phone), ("email", email)):
        if not value:
            continue
        if channel == "phone":
            rows = {(pk, c) for pk, c, phone, _, _ in recent if phone == value}
        else:
            rows = {(pk, c) for pk, c, _, e1, e2 in recent if value in ((e1 or "").lower(), (e2 or "").lower())}
        rows.add((application.pk, application.customer_id))
        flags.append(anomalies.application_burst(channel=channel, count=len({pk for pk, _ in rows}),
                                                 distinct_customers=len({c for _, c in rows}), thresholds=thresholds))

    if profile.occupation and s.get("monthly_income"):
        peers = occupation_peers(profile.occupation).without(profile.pk)
        flags.append(anomalies.income_outlier(s["monthly_income"], peers, occupation=profile.occupation,
                                              thresholds=thresholds))

    flags.append(anomalies.inflow_contradicts_income(s.get("monthly_income"), s.get("average_monthly_inflow"),
                                                     thresholds=thresholds))
    return [flag.to_dict() for flag in flags if flag is not None]


# ---------------------------------------------------------------------------------------------
# Online scoring


def _name_hash(profile: CustomerProfile | None) -> str:
    if profile is None or not profile.full_name.strip():
        return ""
    return search_hash("name:" + anomalies.normalised_name(profile.full_name))


def _reason_dicts(reasons) -> list[dict]:
    return [{"code": r.code, "feature": r.feature, "points_lost": r.points_lost, "text_en": r.text_en,
             "text_zh": r.text_zh} for r in reasons]


def _pd_decimal(value: float) -> Decimal:
    return Decimal(repr(float(value))).quantize(PD_QUANTUM, rounding=ROUND_HALF_UP)


def _previous(result: ScoreResult) -> dict:
    return {"score": result.score, "pd": str(result.pd), "grade": result.grade, "outcome": result.outcome,
            "model_version": result.model_version_id, "scored_at": result.scored_at.isoformat(),
            "rule_hits": [h.get("rule") for h in result.rule_hits]}


def _generate_offers(application: Application) -> None:
    """Let installments generate the personalised offers, when that verb exists. A business refusal
    (DomainError, e.g. nothing affordable) leaves the application scored and is recorded; any other
    error rolls the whole scoring back so the task or the sweep retries it."""
    import installments.origination.applications as installment_services

    generate = getattr(installment_services, "application_offers_generate", None)
    if generate is None:
        return
    try:
        with transaction.atomic():
            generate(application=application)
    except DomainError as error:
        logger.info("No offers for application %s: %s", application.pk, error.message)
        audit_record(actor=None, action="scoring.offers_not_generated", target=application, reason=error.message)


def _application_to_score(application_id: int) -> Application | None:
    """The application with its row locked, read in one query with what scoring needs besides the
    profile's lines: its product, stored result, customer and profile (joined), and as `scoring_*`
    annotations the active model version's id and `updated_at` and the policy rules' stamp (the
    keys of the in-process copies), the worst days past due of the customer's live plans, the id of
    the offer the customer chose, if any, and the profile's latest bank statement."""
    found = _APPLICATION_TO_SCORE.instances(application_id=application_id)
    return found[0] if found else None


# The latest statement's fields read with the application (`_latest_statement` puts them together).
STATEMENT_FIELDS = ("pk", "average_monthly_inflow", "income_volatility", "income_regularity", "overdraft_days",
                    "summary")


def _applications_to_score(application_id: int) -> QuerySet[Application]:
    """The query of `_application_to_score`, compiled once per process and connection
    (`_APPLICATION_TO_SCORE`): compiling its annotations costs more than running it.

    Only the application's row is locked (of=self), not its product or customer: scoring must not
    serialise on them.
    """
    active = ScoringModelVersion.objects.filter(is_active=True).order_by()
    worst = (_live_plans(customer_id=OuterRef("customer_id")).order_by().values("customer_id")
             .annotate(worst=Max("days_past_due")).values("worst"))
    chosen = Offer.objects.filter(application_id=OuterRef("pk"), chosen_at__isnull=False).order_by().values("pk")
    # The order of customers.selectors.statement_latest.
    statement = (StatementSummary.objects.filter(profile_id=OuterRef("customer__profile__id"))
                 .order_by("-period_end", "-imported_at", "-pk"))
    return (Application.objects.select_for_update(of=("self",))
            .select_related("product", "score_result", "customer__profile")
            .filter(pk=application_id)
            .annotate(scoring_active_model_id=Subquery(active.values("pk")[:1]),
                      scoring_active_model_updated_at=Subquery(active.values("updated_at")[:1]),
                      scoring_worst_days_past_due=Subquery(worst),
                      scoring_chosen_offer_id=Subquery(chosen[:1]),
                      **{f"scoring_statement_{name}": Subquery(statement.values(name)[:1])
                         for name in STATEMENT_FIELDS},
                      **_policy_rules_stamp_subqueries())
            .order_by())


_APPLICATION_TO_SCORE = PreparedQuery(_applications_to_score, {"application_id": _MARKER_ID})


def _latest_statement(application: Application) -> StatementSummary | None:
    """The customer's latest statement as read with the application (the fields scoring reads)."""
    if application.scoring_statement_pk is None:
        return None
    return StatementSummary(**{name: getattr(application, f"scoring_statement_{name}") for name in STATEMENT_FIELDS})


def _lines_and_tiers(profile_id: int, product_id: int) -> QuerySet:
    """(source, kind, amount, other amount) rows: the profile's income, expense, debt and asset lines
    and the product's price tiers, in one query (`_LINES_AND_TIERS`); see `_profile_lines_and_tier_rates`."""
    def rows(queryset: QuerySet, source: str, kind: Any, amount: str, other: str | None = None) -> QuerySet:
        # Amounts as plain decimals: the first part's column would otherwise set every part's rounding
        # (SQLite); the caller restores each column's places. Without a second amount the first is
        # repeated (an untyped NULL would not match the other parts' numeric type on PostgreSQL).
        return queryset.order_by().annotate(
            line_source=Value(source), line_kind=kind,
            line_amount=ExpressionWrapper(F(amount), output_field=DecimalField()),
            line_other=ExpressionWrapper(F(other or amount), output_field=DecimalField()),
        ).values_list("line_source", "line_kind", "line_amount", "line_other")

    no_kind = Value("")
    return rows(IncomeLine.objects.filter(profile_id=profile_id), "income", no_kind, "monthly_amount").union(
        rows(ExpenseLine.objects.filter(profile_id=profile_id), "expense", no_kind, "monthly_amount"),
        rows(DebtLine.objects.filter(profile_id=profile_id), "debt", F("kind"), "outstanding_balance",
             "monthly_payment"),
        rows(AssetLine.objects.filter(profile_id=profile_id), "asset", F("kind"), "value"),
        rows(PriceTier.objects.filter(product_id=product_id), "tier", F("grade"), "annual_rate"),
        all=True)


_LINES_AND_TIERS = PreparedQuery(_lines_and_tiers, {"profile_id": _MARKER_ID, "product_id": _MARKER_OTHER_ID})


def _places(model, field: str) -> Decimal:
    return Decimal(1).scaleb(-model._meta.get_field(field).decimal_places)


def _profile_lines_and_tier_rates(*, profile: CustomerProfile | None,
                                  product_id: int) -> tuple[ProfileLines | None, list[Decimal]]:
    """The profile's finance lines (None without a profile) and the annual rates of the product's
    price tiers in grade order, read in one query."""
    found: dict[str, list] = {"income": [], "expense": [], "debt": [], "asset": [], "tier": []}
    for source, kind, amount, other in _LINES_AND_TIERS.tuples(profile_id=profile.pk if profile else None,
                                                               product_id=product_id):
        found[source].append((kind, amount, other))
    cent = _places(IncomeLine, "monthly_amount")
    rate_places = _places(PriceTier, "annual_rate")
    lines = None
    if profile is not None:
        lines = ProfileLines(
            incomes=tuple(amount.quantize(cent) for _, amount, _ in found["income"]),
            expenses=tuple(amount.quantize(cent) for _, amount, _ in found["expense"]),
            debts=tuple((kind, balance.quantize(cent), payment.quantize(cent))
                        for kind, balance, payment in found["debt"]),
            assets=tuple((kind, value.quantize(cent)) for kind, value, _ in found["asset"]))
    tiers = sorted((grade, rate.quantize(rate_places)) for grade, rate, _ in found["tier"])
    return lines, [rate for _, rate in tiers]


def _profile_of(customer: User) -> CustomerProfile | None:
    try:
        return customer.profile
    except CustomerProfile.DoesNotExist:
        return None


def application_score(*, application_id: int) -> ScoreResult:
    """Score a submitted application once: features, knock-out rules, scorecard, anomaly flags.

    Stores the ScoreResult, moves the application to `scored` (or `declined` with the reason
    "knock-out: <rule names>") and then asks installments for offers, in one transaction. An
    application that already has its result and is no longer `submitted` gets that result back
    unchanged; a re-submitted one is re-scored in place (the previous result moves to `history`).
    Raises DomainError when the application does not exist, is not submitted, no model is
    active or its data does not fit the feature schema; nothing is changed then.
    """
    from installments.origination.applications import application_transition

    started = time.perf_counter()
    with transaction.atomic():
        application = _application_to_score(application_id)
        if application is None:
            raise DomainError(gettext("No such application."), field="application_id", code="not_found")
        existing = getattr(application, "score_result", None)
        if application.state != Application.State.SUBMITTED:
            if existing is not None:
                return existing
            raise DomainError(gettext("Only a submitted application can be scored; this one is %(state)s.")
                              % {"state": application.get_state_display()}, field="state", code="invalid_state")

        if application.scoring_active_model_id is None:
            raise _no_active_model()
        model = _model_loaded(application.scoring_active_model_id, application.scoring_active_model_updated_at)
        profile = _profile_of(application.customer)
        lines, tier_rates = _profile_lines_and_tier_rates(profile=profile, product_id=application.product_id)
        summary = applicant_summary(profile, lines=lines, statement=_latest_statement(application))
        chosen_offer_id = application.scoring_chosen_offer_id
        plan = requested_plan(application, chosen_offer=Offer.objects.get(pk=chosen_offer_id) if chosen_offer_id
                              else None, tier_rates=tier_rates)
        features = applicant_features(application=application, summary=summary, plan=plan)
        identity = identity_history(application=application, profile=profile)
        in_force = policy_rules_in_force(stamp=(application.scoring_policy_rules_count,
                                                application.scoring_policy_rules_updated_at))
        hits = rules.evaluate_rules(in_force, applicant_facts(
            application=application, profile=profile, summary=summary, plan=plan, identity=identity,
            worst_days_past_due=application.scoring_worst_days_past_due))
        outcome = model.scorecard.score_one(features)
        name_hash = _name_hash(profile)
        flags = applicant_anomalies(application=application, profile=profile, summary=summary, name_hash=name_hash,
                                    identity=identity)
        knock_outs = [hit for hit in hits if hit.knock_out]
        values = {
            "model_version_id": model.pk,
            "outcome": ScoreResult.Outcome.KNOCKED_OUT if knock_outs else ScoreResult.Outcome.SCORED,
            "score": outcome.score,
            "pd": _pd_decimal(outcome.pd),
            "grade": outcome.grade,
            "reason_codes": _reason_dicts(outcome.reason_codes),
            "points_by_feature": outcome.points_by_feature,
            "features": features,
            "context": {**plan.as_context(), "product": application.product.code,
                        "currency": application.product.currency, "model_version": model.label},
            "rule_hits": [hit.to_dict() for hit in hits],
            "anomaly_flags": flags,
            "id_number_hash": profile.id_number_hash if profile else "",
            "name_hash": name_hash,
            "scored_at": timezone.now(),
            "duration_ms": (time.perf_counter() - started) * 1000,
        }
        if existing is None and transaction.get_connection().features.has_select_for_update:
            # The application's row lock keeps any other run from storing a result meanwhile.
            result = ScoreResult.objects.create(application=application, **values)
        elif existing is None:
            try:
                with transaction.atomic():
                    result = ScoreResult.objects.create(application=application, **values)
            except IntegrityError:  # a concurrent run stored it first (no row locks on SQLite)
                return ScoreResult.objects.get(application_id=application.pk)
        else:
            history = [*existing.history, _previous(existing)]
            for key, value in values.items():
                setattr(existing, key, value)
            existing.history = history
            existing.rescored_at = None
            existing.save()
            result = existing

        data = {"score": result.score, "grade": result.grade, "pd": str(result.pd), "model_version": model.label}
        # locked=True: this transaction has held the application's row lock since it was read.
        if knock_outs:
            application_transition(application=application, to=Application.State.DECLINED, by=None,
                                   reason="knock-out: " + ", ".join(hit.rule for hit in knock_outs),
                                   data={**data, "rules": [hit.rule for hit in knock_outs]}, locked=True)
        else:
            scored = application_transition(application=application, to=Application.State.SCORED, by=None,
                                            reason=f"scored {result.score} (grade {result.grade})", data=data,
                                            locked=True)
            _generate_offers(scored)
    logger.info("Application %s scored %s grade %s%s in %.1f ms", application.pk, result.score, result.grade,
                " (knock-out)" if knock_outs else "", result.duration_ms)
    return result


@dataclass
class SweepReport:
    scored: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)


def applications_score_pending(*, older_than: timedelta = PENDING_AFTER, limit: int = 500) -> SweepReport:
    """Score applications left in `submitted` for longer than `older_than` (the broker or worker
    was down when they were submitted, or a task failed). Oldest first, at most `limit`."""
    cutoff = timezone.now() - older_than
    pending = list(Application.objects.filter(state=Application.State.SUBMITTED, updated_at__lte=cutoff)
                   .order_by("updated_at", "pk").values_list("pk", flat=True)[:limit])
    report = SweepReport()
    for application_id in pending:
        try:
            application_score(application_id=application_id)
        except DomainError as error:
            report.failed[application_id] = error.message
            logger.warning("Sweep could not score application %s: %s", application_id, error.message)
            if error.code == "no_active_model":
                break
        else:
            report.scored.append(application_id)
    return report


# ---------------------------------------------------------------------------------------------
# Batch rescoring


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


# ---------------------------------------------------------------------------------------------
# Monitoring


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
    from scoring.selectors import fairness_report

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
        statuses = [psi_status(score_value), *(c["status"] for c in characteristics.values())]
        grades = pd.Series([r[1] for r in rows]).value_counts()
        values.update(
            score_psi=round(score_value, 6),
            score_status=psi_status(score_value),
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

