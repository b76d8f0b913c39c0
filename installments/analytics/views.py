"""The manager's dashboard, under /manager/ (config.urls): overview (KPI tiles, charts, roll rates,
vintages), segments, experiments and satisfaction, each table exportable to CSV.

Thin views: parse the filter or form, call a selector (`dashboard_selectors`) or a service
(`dashboard_services`), render. The overview and segment pages read only the summary rows the
refresh job writes, so they open in the same time whatever the size of the book. Managers and
admins only (everyone else gets 403). Charts get their data through `json_script` and are drawn
by static/js/dashboard.js (the CSP allows no inline script).
"""

import csv

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from collections_app.ledger import selectors as books_selectors
from config.errors import DomainError
from config.redirects import safe_next_url
from customers.permissions import role_required
from installments.analytics import selectors, services
from installments.analytics.forms import DashboardFilter, ExperimentForm, ExperimentStopForm
from installments.models import Experiment, SegmentDimension, SummaryRange
from installments.origination import experiments as experiment_verbs

dashboard_required = role_required(*services.DASHBOARD_ROLES)


def _filters(request):
    form = DashboardFilter(request.GET or None)
    range_kind, product = form.values(selectors.DEFAULT_RANGE)
    if not request.GET:
        form = DashboardFilter(initial={"range": range_kind})
    return form, range_kind, product


def _query(range_kind: str, product) -> str:
    return f"?range={range_kind}" + (f"&product={product.pk}" if product else "")


def _context(request, *, page: str, form, range_kind: str, product, **extra) -> dict:
    return {
        "page": page, "filter_form": form, "range_kind": range_kind, "range_label": SummaryRange(range_kind).label,
        "product": product, "product_name": selectors.product_name(product), "query": _query(range_kind, product),
        "last_refreshed": selectors.last_refreshed(), "books_run": books_selectors.books_status(), **extra,
    }


def _csv_response(table: selectors.Table) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{table.key}-{timezone.localdate():%Y%m%d}.csv"'
    response.write("\ufeff")  # Excel opens UTF-8 (Chinese labels) correctly with a BOM
    writer = csv.writer(response)
    writer.writerows(table.csv_rows())
    return response


@require_GET
@dashboard_required
def overview(request):
    form, range_kind, product = _filters(request)
    snapshot = selectors.kpi_snapshot(range_kind=range_kind, product=product)
    context = _context(request, page="overview", form=form, range_kind=range_kind, product=product,
                       snapshot=snapshot)
    if snapshot is not None:
        tables = {key: build(snapshot) for key, build in selectors.OVERVIEW_TABLES.items()}
        context.update(table_list=list(tables.values()), tiles=tables["kpis"].rows,
                       chart_data=selectors.chart_data(snapshot))
    return render(request, "installments/dashboard/overview.html", context)


@require_GET
@dashboard_required
def segments(request):
    form, range_kind, product = _filters(request)
    summaries = selectors.segment_summaries(range_kind=range_kind, product=product)
    tables = [selectors.segment_table(d, summaries.get(d)) for d in SegmentDimension.values]
    return render(request, "installments/dashboard/segments.html", _context(
        request, page="segments", form=form, range_kind=range_kind, product=product, tables=tables,
        has_summaries=bool(summaries)))


@require_GET
@dashboard_required
def satisfaction(request):
    form, range_kind, product = _filters(request)
    snapshot = selectors.kpi_snapshot(range_kind=range_kind, product=product)
    context = _context(request, page="satisfaction", form=form, range_kind=range_kind, product=product,
                       snapshot=snapshot)
    if snapshot is not None:
        low = selectors.low_ratings_table(selectors.low_ratings(
            start=snapshot.period_start, end=snapshot.period_end, product=product))
        context.update(
            summary=snapshot.payload["satisfaction"],
            tables=[selectors.satisfaction_product_table(snapshot), selectors.satisfaction_moment_table(snapshot),
                    selectors.satisfaction_period_table(snapshot)],
            low_table=low,
            chart_data={"periods": snapshot.payload["satisfaction"]["by_period"],
                        "labels": {"average": _("Average rating"), "count": _("Ratings")}},
        )
    return render(request, "installments/dashboard/satisfaction.html", context)


@require_http_methods(["GET", "POST"])
@dashboard_required
def experiments(request):
    form = ExperimentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            experiment = experiment_verbs.experiment_create(
                by=request.user, key=data["key"], name=data["name"], product=data["product"],
                hypothesis=data["hypothesis"], rate_adjustment=data["rate_adjustment"] or 0,
                default_term_months=data["default_term_months"], ratio=data["ratio"], start=data["start"])
        except DomainError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(request, _("Experiment “%(name)s” saved.") % {"name": experiment.name})
            return redirect("dashboard:experiment", pk=experiment.pk)
    rows = selectors.experiments_list()
    return render(request, "installments/dashboard/experiments.html", {
        "page": "experiments", "form": form, "table": selectors.experiments_table(rows), "experiments": rows,
    }, status=400 if request.method == "POST" else 200)


@require_GET
@dashboard_required
def experiment_detail(request, pk: int):
    experiment = get_object_or_404(Experiment.objects.select_related("product", "created_by", "started_by",
                                                                     "stopped_by"), pk=pk)
    results = services.experiment_results(experiment)
    return render(request, "installments/dashboard/experiment_detail.html", {
        "page": "experiments", "experiment": experiment, "variant_text": selectors.variant_text(experiment),
        "results": results, "table": selectors.experiment_results_table(experiment, results),
        "history": selectors.experiment_history(experiment), "stop_form": ExperimentStopForm(),
    })


@require_POST
@dashboard_required
def experiment_start(request, pk: int):
    experiment = get_object_or_404(Experiment, pk=pk)
    try:
        experiment_verbs.experiment_start(experiment=experiment, by=request.user)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Experiment started: new applicants are being assigned."))
    return redirect("dashboard:experiment", pk=pk)


@require_POST
@dashboard_required
def experiment_stop(request, pk: int):
    experiment = get_object_or_404(Experiment, pk=pk)
    form = ExperimentStopForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Say why the experiment stops."))
        return redirect("dashboard:experiment", pk=pk)
    try:
        experiment_verbs.experiment_stop(experiment=experiment, by=request.user, reason=form.cleaned_data["reason"])
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Experiment stopped; its results stay here."))
    return redirect("dashboard:experiment", pk=pk)


@require_POST
@dashboard_required
def refresh(request):
    if services.summaries_refresh_enqueue(by=request.user):
        messages.success(request, _("The figures are being recomputed; reload in a moment."))
    else:
        messages.warning(request, _("The refresh could not be queued now; the hourly job will recompute the figures."))
    target = safe_next_url(request, request.POST.get("next"), "")
    return redirect(target if target.startswith("/manager/") else reverse("dashboard:overview"))


@require_GET
@dashboard_required
def export_csv(request, table: str):
    """Any table of the dashboard as CSV, with the page's filters: exactly the rows shown."""
    _form, range_kind, product = _filters(request)
    if table == "experiments":
        return _csv_response(selectors.experiments_table(selectors.experiments_list()))
    if table.startswith("experiment-"):
        pk = table.removeprefix("experiment-")
        if not pk.isdigit():
            raise Http404
        experiment = get_object_or_404(Experiment, pk=int(pk))
        return _csv_response(selectors.experiment_results_table(experiment, services.experiment_results(experiment)))
    if table.startswith("segments-"):
        dimension = table.removeprefix("segments-")
        if dimension not in SegmentDimension.values:
            raise Http404
        summaries = selectors.segment_summaries(range_kind=range_kind, product=product)
        return _csv_response(selectors.segment_table(dimension, summaries.get(dimension)))
    snapshot = selectors.kpi_snapshot(range_kind=range_kind, product=product)
    if snapshot is None:
        raise Http404
    if table in selectors.OVERVIEW_TABLES:
        return _csv_response(selectors.OVERVIEW_TABLES[table](snapshot))
    builders = {"satisfaction-products": selectors.satisfaction_product_table,
                "satisfaction-moments": selectors.satisfaction_moment_table,
                "satisfaction-periods": selectors.satisfaction_period_table}
    if table in builders:
        return _csv_response(builders[table](snapshot))
    if table == "low-ratings":
        return _csv_response(selectors.low_ratings_table(selectors.low_ratings(
            start=snapshot.period_start, end=snapshot.period_end, product=product)))
    raise Http404

