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
from installments.assessment.monitoring import monitoring_snapshot_record
from scoring.features import FEATURES_BY_NAME

STATUS_CLASSES = {"stable": "success", "watch": "warning", "act": "danger"}


def _percent(value) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def _status_label(status: str) -> str:
    return {"stable": _("stable"), "watch": _("watch"), "act": _("act")}.get(status, _("no data"))


def _feature_label(name: str) -> str:
    feature = FEATURES_BY_NAME.get(name)
    if feature is None:
        return name
    return feature.label_zh if (get_language() or "").startswith("zh") else feature.label


def _fairness_rows(table: list[dict]) -> list[dict]:
    return [{**row, "approval_text": _percent(row["approval_rate"]), "bad_text": _percent(row["bad_rate"]),
             "impact_text": "—" if row["impact_ratio"] is None else f"{row['impact_ratio']:.2f}"} for row in table]


@require_GET
@role_required(*selectors.MONITORING_ROLES)
def monitoring(request):
    overview = selectors.monitoring_overview()
    fairness = selectors.fairness_report()
    context = {**overview, "fairness_sex": _fairness_rows(fairness["sex"]),
               "fairness_age": _fairness_rows(fairness["age_band"]), "fairness_decided": fairness["decided"],
               "threshold_text": _percent(fairness["threshold"])}
    snapshot = overview.get("snapshot")
    if snapshot is not None:
        context["characteristic_rows"] = sorted(
            ({"name": name, "label": _feature_label(name), "psi": f"{data['psi']:.3f}", "status": data["status"],
              "status_label": _status_label(data["status"]), "css": STATUS_CLASSES.get(data["status"], "secondary")}
             for name, data in snapshot.characteristics.items()),
            key=lambda row: -float(row["psi"]),
        )
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
