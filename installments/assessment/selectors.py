"""Questions about credit scoring: an application's score, the reasons a customer is told, the
model registry and monitoring page, and the fairness report."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from datetime import time as dt_time
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.models import Sex
from customers.roles import Role
from customers.selectors import age_on
from installments.assessment.monitoring import model_inputs
from installments.models import Application
from scoring.models import MonitoringSnapshot, ScoreResult, ScoringModelVersion
from scoring.registry import model_version_scorecard
from scoring.scorecard import four_fifths_flags

# Who sees scores, reasons, rule hits and anomaly flags (page and API); customers never do.
SCORE_VIEW_ROLES = (Role.LOAN_OFFICER, Role.APPROVER, Role.MANAGER, Role.ADMIN)
# Who sees model monitoring and the fairness report.
MONITORING_ROLES = (Role.APPROVER, Role.MANAGER, Role.ADMIN)

APPROVED_STATES = (Application.State.APPROVED, Application.State.CONTRACTED, Application.State.ACTIVE,
                   Application.State.CLOSED)
DECLINED_STATES = (Application.State.DECLINED,)
AGE_BANDS: tuple[tuple[int | None, int | None, str], ...] = (
    (None, 25, "under 25"), (25, 35, "25-34"), (35, 45, "35-44"), (45, 55, "45-54"), (55, None, "55 and over"),
)
FOUR_FIFTHS = 0.8


def score_result_for_application(application_id: int) -> ScoreResult | None:
    return (ScoreResult.objects.select_related("application", "model_version")
            .filter(application_id=application_id).first())


def score_results() -> QuerySet[ScoreResult]:
    return ScoreResult.objects.select_related("application", "model_version").order_by("-scored_at", "-pk")


def decline_reasons(application: Application, *, language: str = "en") -> list[str]:
    """What a declined customer is told, in plain words in their language: the knock-out rules that
    declined them or, for a decline after scoring, the top reasons of the score. Empty otherwise."""
    if application.state != Application.State.DECLINED:
        return []
    result = score_result_for_application(application.pk)
    if result is None:
        return []
    key = "text_zh" if language.lower().startswith("zh") else "text_en"
    hits = result.knock_out_hits
    if hits:
        return [hit[key] for hit in hits]
    return [reason[key] for reason in result.reason_codes]


def active_model_version() -> ScoringModelVersion | None:
    return ScoringModelVersion.objects.filter(is_active=True).select_related("activated_by", "trained_by").first()


def model_versions() -> QuerySet[ScoringModelVersion]:
    return ScoringModelVersion.objects.select_related("activated_by", "trained_by").defer(
        "scorecard", "binning_table", "training_scores")


def _age_band(age: int | None) -> str:
    if age is None:
        return "unknown"
    for low, high, label in AGE_BANDS:
        if (low is None or age >= low) and (high is None or age < high):
            return label
    return "unknown"  # pragma: no cover - the bands cover every age


def _groups_table(rows: list[dict], key: str, labels: dict[str, Any], order: list[str]) -> list[dict]:
    """Per group: approvals of decided applications and outcomes of the plans granted, each with the
    four-fifths rule (approval rate, and good rate = plans never bad / plans, against the best group's).
    The "unknown" group is shown but never judged."""
    stats: dict[str, dict[str, int]] = {}
    for row in rows:
        group = stats.setdefault(row[key], {"decided": 0, "approved": 0, "plans": 0, "bad": 0})
        group["decided"] += 1
        group["approved"] += row["approved"]
        if row["plan"] is not None:
            group["plans"] += 1
            group["bad"] += row["bad"]
    judged = {g: s["approved"] / s["decided"] for g, s in stats.items() if g != "unknown" and s["decided"]}
    impact = four_fifths_flags(judged, threshold=FOUR_FIFTHS)
    repaid = {g: (s["plans"] - s["bad"]) / s["plans"] for g, s in stats.items() if g != "unknown" and s["plans"]}
    outcome_impact = four_fifths_flags(repaid, threshold=FOUR_FIFTHS)
    table = []
    for group in [*order, "unknown"]:
        if group not in stats:
            continue
        s = stats[group]
        verdict = impact.get(group)
        outcome_verdict = outcome_impact.get(group)
        table.append({
            "group": group,
            "label": str(labels.get(group, group)),
            "decided": s["decided"],
            "approved": s["approved"],
            "approval_rate": s["approved"] / s["decided"] if s["decided"] else None,
            "impact_ratio": verdict.impact_ratio if verdict else None,
            "flagged": bool(verdict and verdict.flagged),
            "plans": s["plans"],
            "bad": s["bad"],
            "bad_rate": s["bad"] / s["plans"] if s["plans"] else None,
            "good": s["plans"] - s["bad"],
            "good_rate": (s["plans"] - s["bad"]) / s["plans"] if s["plans"] else None,
            "outcome_impact_ratio": outcome_verdict.impact_ratio if outcome_verdict else None,
            "outcome_flagged": bool(outcome_verdict and outcome_verdict.flagged),
        })
    return table


def fairness_report(*, since: date | None = None, until: date | None = None) -> dict[str, Any]:
    """Approval rate and repayment outcome by sex and by age band at application, with the
    four-fifths rule on both.

    Decided applications only (approved and later states vs declined), by decision date within
    [since, until]. Bad: the plan was ever 30+ days past due within 12 months of disbursement, the
    days counted from each installment's value date (`book.book_outcomes`), never from when a
    payment was booked; a plan younger than 12 months counts with what it has shown so far. Good:
    a plan that is not bad. A group is flagged on approvals when its approval rate is below 4/5 of
    the best group's, and on outcomes when its good rate is below 4/5 of the best group's. Sex is
    read from the profile for this report only; it is never a scoring input (PROTECTED_ATTRIBUTES).
    `scored_by`: decided applications per model version that scored them (None: no stored score).
    """
    from installments.assessment.book import book_outcomes

    decided = Application.objects.filter(state__in=[*APPROVED_STATES, *DECLINED_STATES])
    tz = timezone.get_current_timezone()
    if since:
        decided = decided.filter(decided_at__gte=datetime.combine(since, dt_time.min, tzinfo=tz))
    if until:
        decided = decided.filter(decided_at__lt=datetime.combine(until + timedelta(days=1), dt_time.min, tzinfo=tz))
    raw = list(decided.values("pk", "state", "submitted_at", "created_at", "customer__profile__sex",
                              "customer__profile__date_of_birth", "plan__pk", "plan__disbursement_date",
                              "score_result__model_version__label"))
    plans = [{"pk": r["plan__pk"], "disbursement_date": r["plan__disbursement_date"]} for r in raw if r["plan__pk"]]
    outcomes = book_outcomes(plans) if plans else {}
    rows = []
    for r in raw:
        when = timezone.localtime(r["submitted_at"] or r["created_at"]).date()
        birth = r["customer__profile__date_of_birth"]
        rows.append({
            "sex": r["customer__profile__sex"] or "unknown",
            "age_band": _age_band(age_on(birth, when) if birth else None),
            "approved": int(r["state"] in APPROVED_STATES),
            "plan": r["plan__pk"],
            "bad": outcomes.get(r["plan__pk"], 0),
        })
    scored_by = Counter(r["score_result__model_version__label"] for r in raw)
    sex_labels = {**dict(Sex.choices), "unknown": _("Not recorded")}
    age_labels = {label: label for _low, _high, label in AGE_BANDS} | {"unknown": _("Not recorded")}
    return {
        "decided": len(rows),
        "threshold": FOUR_FIFTHS,
        "scored_by": sorted(scored_by.items(), key=lambda item: (item[0] is None, -item[1], item[0] or "")),
        "sex": _groups_table(rows, "sex", sex_labels, [c for c, _label in Sex.choices]),
        "age_band": _groups_table(rows, "age_band", age_labels, [label for _l, _h, label in AGE_BANDS]),
    }


def monitoring_overview() -> dict[str, Any]:
    """What the monitoring page shows: the active version with its metrics and calibration, what it
    scores on (`monitoring.model_inputs` of its own scorecard), its latest snapshot and the PSI history."""
    version = active_model_version()
    if version is None:
        return {"version": None}
    snapshots = list(MonitoringSnapshot.objects.filter(model_version=version).order_by("-period_start",
                                                                                        "-recorded_at")[:12])
    metrics = version.metrics or {}
    return {
        "version": version,
        "inputs": model_inputs(model_version_scorecard(version)),
        "metrics": metrics,
        "cv": metrics.get("cross_validation", {}),
        "holdout": metrics.get("holdout", {}),
        "challenger": metrics.get("challenger"),
        "calibration": metrics.get("calibration", []),
        "snapshot": snapshots[0] if snapshots else None,
        "snapshots": snapshots,
        "results_count": ScoreResult.objects.filter(model_version=version).count(),
    }
