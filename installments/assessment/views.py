"""Staff pages of scoring: model monitoring with the fairness report, and an application's score.

Thin: check the role, call a selector or service, render. Charts get their data through
`json_script`; the drawing code is static/js/scoring.js (the CSP allows no inline script).
"""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from config.errors import DomainError
from customers.permissions import role_required
from installments.assessment import selectors
from installments.assessment.monitoring import (
    PSI_ACT_ABOVE,
    PSI_MIN_APPLICANTS,
    PSI_WATCH_FROM,
    SENSITIVE_CHARACTERISTICS,
    monitoring_snapshot_record,
)
from scoring.features import FEATURES_BY_NAME

STATUS_CLASSES = {"stable": "success", "watch": "warning", "act": "danger"}


def _percent(value) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def _status_label(status: str) -> str:
    return {"stable": _("stable"), "watch": _("watch"), "act": _("act"),
            "few": _("too few applicants to judge")}.get(status, _("no data"))


def _zh() -> bool:
    return (get_language() or "").startswith("zh")


def _feature_label(name: str) -> str:
    feature = FEATURES_BY_NAME.get(name)
    if feature is None:
        return name
    return feature.label_zh if _zh() else feature.label


def _protected_label(name: str) -> str:
    return {"sex": _("sex"), "gender": _("gender"), "ethnicity": _("ethnicity"), "race": _("race"),
            "nationality": _("nationality"), "foreign_worker": _("foreign-worker status"),
            "religion": _("religion")}.get(name, name)


def _joined(words) -> str:
    return ("、" if _zh() else ", ").join(str(word) for word in words)


def _ratio(value) -> str:
    return "—" if value is None else f"{value:.2f}"


def _fairness_rows(table: list[dict]) -> list[dict]:
    return [{**row, "approval_text": _percent(row["approval_rate"]), "bad_text": _percent(row["bad_rate"]),
             "impact_text": _ratio(row["impact_ratio"]), "good_text": _percent(row.get("good_rate")),
             "outcome_impact_text": _ratio(row.get("outcome_impact_ratio"))} for row in table]


def _inputs_context(inputs: dict) -> dict:
    """The model's inputs in the reader's language, for the fairness section."""
    return {
        "input_rows": [{**f, "text": f["label_zh"] if _zh() else f["label"]} for f in inputs["features"]],
        "sensitive_used_text": _joined(_feature_label(n) for n in inputs["sensitive_used"]),
        "sensitive_unused_text": _joined(_feature_label(n) for n in inputs["sensitive_unused"]),
        "protected_never_text": _joined(_protected_label(n) for n in inputs["protected_never"]),
        "protected_used_text": _joined(_protected_label(n) for n in inputs["protected_used"]),
        "age_is_input": "age" in inputs["sensitive_used"],
    }


def _status_row(name: str, label: str, data: dict | None) -> dict:
    status = (data or {}).get("status") or ""
    value = (data or {}).get("psi")
    return {"name": name, "label": label, "psi": "—" if value is None else f"{value:.3f}", "psi_value": value,
            "status": status, "status_label": _status_label(status), "css": STATUS_CLASSES.get(status, "secondary")}


def _characteristic_rows(inputs: dict, snapshot) -> list[dict]:
    """One row per feature of the active model (exactly those), with the snapshot's PSI and status
    when it has them; largest PSI first, features without data last."""
    measured = snapshot.characteristics if snapshot is not None else {}
    rows = [_status_row(f["name"], _feature_label(f["name"]), measured.get(f["name"])) for f in inputs["features"]]
    return sorted(rows, key=lambda row: (row["psi_value"] is None, -(row["psi_value"] or 0.0)))


@require_GET
@role_required(*selectors.MONITORING_ROLES)
def monitoring(request):
    overview = selectors.monitoring_overview()
    fairness = selectors.fairness_report()
    context = {**overview, "fairness_sex": _fairness_rows(fairness["sex"]),
               "fairness_age": _fairness_rows(fairness["age_band"]), "fairness_decided": fairness["decided"],
               "threshold_text": _percent(fairness["threshold"]),
               "scored_by_text": _joined(f"{label or _('no stored score')} ({n})"
                                         for label, n in fairness.get("scored_by", [])),
               "psi_watch_text": f"{PSI_WATCH_FROM:.2f}", "psi_act_text": f"{PSI_ACT_ABOVE:.2f}",
               "psi_min_applicants": PSI_MIN_APPLICANTS,
               "sensitive_catalogue_text": _joined(_feature_label(n) for n in SENSITIVE_CHARACTERISTICS)}
    snapshot = overview.get("snapshot")
    if overview.get("inputs"):
        context.update(_inputs_context(overview["inputs"]))
        context["characteristic_rows"] = _characteristic_rows(overview["inputs"], snapshot)
    if snapshot is not None:
        context["score_status_label"] = _status_label(snapshot.score_status)
        context["score_status_css"] = STATUS_CLASSES.get(snapshot.score_status, "secondary")
    context["chart_data"] = {
        "distribution": snapshot.score_distribution if snapshot else [],
        "calibration": overview.get("calibration", []),
        "labels": {"training": _("Training sample"), "current": _("This period"), "predicted": _("Mean PD"),
                   "actual": _("Bad rate"), "decile": _("PD decile")},
    }
    context["calibration_rows"] = [{**row, "mean_pd_text": _percent(row["mean_pd"]),
                                    "bad_rate_text": _percent(row["bad_rate"])}
                                   for row in overview.get("calibration", [])]
    return render(request, "scoring/monitoring.html", context)


@require_POST
@role_required(*selectors.MONITORING_ROLES)
def monitoring_record(request):
    try:
        snapshot = monitoring_snapshot_record()
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Recorded population stability for %(start)s to %(end)s (%(n)s applications).")
                         % {"start": snapshot.period_start, "end": snapshot.period_end, "n": snapshot.applications})
    return redirect("scoring_monitoring")


@require_GET
@role_required(*selectors.SCORE_VIEW_ROLES)
def application_score(request, pk: int):
    result = selectors.score_result_for_application(pk)
    if result is None:
        raise Http404
    zh = (get_language() or "").startswith("zh")
    points = sorted(((_feature_label(name), value) for name, value in result.points_by_feature.items()),
                    key=lambda item: item[1])
    return render(request, "scoring/application_score.html", {
        "result": result, "application": result.application, "zh": zh, "points": points,
        "pd_text": _percent(float(result.pd)),
    })
