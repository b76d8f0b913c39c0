"""The questions the manager's dashboard asks: summary rows, experiments, satisfaction, and every
table the pages show.

Each table is built once as a `Table` (headers and cells of display text) and both the page and
its CSV export render that same object, so the CSV is exactly what the manager sees. Tables of
the overview and segments come from the summary rows (`KpiSnapshot`, `SegmentSummary`); nothing
here aggregates the book.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from customers.models import AuditEvent, EmploymentType, Occupation, SatisfactionMoment, SatisfactionRating
from installments.analytics import portfolio as analytics
from installments.engine.offers import METHOD_NAMES
from installments.models import (
    Application,
    Experiment,
    KpiSnapshot,
    LoanProduct,
    SegmentDimension,
    SegmentSummary,
    SummaryRange,
)

DEFAULT_RANGE = SummaryRange.LAST_12_MONTHS
LOW_RATINGS_LIMIT = 500
DASH = "—"


# --- Formatting ------------------------------------------------------------------------------------------

def percent(value, places: int = 1) -> str:
    return DASH if value is None else f"{value * 100:.{places}f} %"


def number(value, places: int = 1) -> str:
    return DASH if value is None else f"{value:,.{places}f}"


def money(value) -> str:
    return DASH if value is None else f"{Decimal(value):,.2f}"


def interval(low, high) -> str:
    return DASH if low is None or high is None else f"{percent(low)} – {percent(high)}"


# --- Tables ------------------------------------------------------------------------------------------------

@dataclass
class Cell:
    text: str
    css: str = ""
    style: str = ""


@dataclass
class Table:
    """A table as shown: `key` names its CSV export; `headers` and cell texts are the CSV's rows."""

    key: str
    title: str
    headers: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    numeric_from: int = 1  # columns from this index are right-aligned
    note: str = ""

    def add(self, *cells, css: str = "") -> None:
        self.rows.append([c if isinstance(c, Cell) else Cell(str(c), css) for c in cells])

    def csv_rows(self) -> list[list[str]]:
        return [list(self.headers), *[[cell.text for cell in row] for row in self.rows]]


# --- Summary rows -------------------------------------------------------------------------------------------

def products() -> QuerySet[LoanProduct]:
    return LoanProduct.objects.order_by("name")


def product_name(product: LoanProduct | None) -> str:
    if product is None:
        return _("All products")
    return product.name_zh if (get_language() or "").startswith("zh") and product.name_zh else product.name


def kpi_snapshot(*, range_kind: str, product: LoanProduct | None) -> KpiSnapshot | None:
    return KpiSnapshot.objects.filter(range_kind=range_kind, product=product).first()


def segment_summaries(*, range_kind: str, product: LoanProduct | None) -> dict[str, SegmentSummary]:
    rows = SegmentSummary.objects.filter(range_kind=range_kind, product=product)
    return {row.dimension: row for row in rows}


def last_refreshed():
    return KpiSnapshot.objects.order_by("-computed_at").values_list("computed_at", flat=True).first()


# --- Overview tables ----------------------------------------------------------------------------------------

def _hours(value) -> str:
    if value is None:
        return DASH
    return _("%(hours)s h") % {"hours": number(value)}


def kpi_table(snapshot: KpiSnapshot) -> Table:
    """The KPI tiles, as a table: figure, value, what it counts."""
    k, currency = snapshot.payload["kpis"], snapshot.payload.get("currency", "")
    table = Table("kpis", _("Key figures"), [_("Figure"), _("Value"), _("Based on")])
    table.add(_("Applications submitted"), k["applications"], _("submitted in the range"))
    table.add(_("Approval rate"), percent(k["approval_rate"]),
              _("%(approved)s approved of %(decided)s decided") % {"approved": k["approved"], "decided": k["decided"]})
    table.add(_("Time to decision (median)"), _hours(k["median_hours"]),
              _("mean %(mean)s, %(n)s decisions") % {"mean": _hours(k["mean_hours"]), "n": k["decision_count"]})
    table.add(_("Plans disbursed"), k["disbursed_count"], _("disbursed in the range"))
    table.add(_("Amount disbursed"), f"{money(k['disbursed_amount'])} {currency}", _("principal"))
    table.add(_("Outstanding principal"), f"{money(k['outstanding_principal'])} {currency}",
              _("%(n)s live plans, now") % {"n": k["live_plans"]})
    table.add(_("PAR1"), percent(k["par1"]), _("principal 1+ days past due, now"))
    table.add(_("PAR30"), percent(k["par30"]), _("principal more than 30 days past due, now"))
    table.add(_("PAR90"), percent(k["par90"]), _("principal more than 90 days past due, now"))
    table.add(_("Average APR"), percent(None if k["average_apr"] is None else k["average_apr"] / 100, 2),
              _("plans disbursed in the range"))
    table.add(_("Average term"), _("%(months)s months") % {"months": number(k["average_term_months"])},
              _("plans disbursed in the range"))
    table.add(_("Early payoff rate"), percent(k["early_payoff_rate"]),
              _("%(early)s early of %(paid)s paid off") % {"early": k["early"], "paid": k["paid_off"]})
    table.add(_("Churn"), percent(k["churn_rate"]),
              _("%(churned)s of %(n)s customers did not apply again within %(days)s days of payoff")
              % {"churned": k["churned"], "n": k["churn_customers"], "days": k["churn_days"]})
    table.add(_("Collections recovery rate"), percent(k["recovery_rate"]),
              _("%(collected)s collected, %(unresolved)s unresolved, %(n)s cases opened")
              % {"collected": money(k["collected"]), "unresolved": money(k["unresolved"]), "n": k["cases"]})
    table.add(_("Cure rate"), percent(k["cure_rate"]),
              _("%(cured)s of %(n)s cases cured or paid off") % {"cured": k["cured"], "n": k["cases"]})
    return table


def applications_table(snapshot: KpiSnapshot) -> Table:
    table = Table("applications", _("Applications and approval rate"),
                  [_("Period"), _("Submitted"), _("Decided"), _("Approved"), _("Approval rate")])
    for row in snapshot.payload["applications_series"]:
        table.add(row["period"], row["submitted"], row["decided"], row["approved"], percent(row["approval_rate"]))
    return table


def disbursements_table(snapshot: KpiSnapshot) -> Table:
    currency = snapshot.payload.get("currency", "")
    table = Table("disbursements", _("Disbursed volume, APR and term"),
                  [_("Period"), _("Plans"), _("Amount (%(currency)s)") % {"currency": currency}, _("Average APR"),
                   _("Average term (months)")])
    for row in snapshot.payload["disbursement_series"]:
        apr = row["average_apr"]
        table.add(row["period"], row["count"], money(row["amount"]), DASH if apr is None else f"{apr:.2f} %",
                  number(row["average_term_months"]))
    return table


def par_table(snapshot: KpiSnapshot) -> Table:
    currency = snapshot.payload.get("currency", "")
    table = Table("par", _("Portfolio at risk by month-end"),
                  [_("Month"), _("Outstanding (%(currency)s)") % {"currency": currency}, "PAR1", "PAR30", "PAR90"],
                  note=_("The current month is today's position."))
    for row in snapshot.payload["par_trend"]:
        table.add(row["month"], money(row["outstanding"]), percent(row["par1"]), percent(row["par30"]),
                  percent(row["par90"]))
    return table


def buckets_table(snapshot: KpiSnapshot) -> Table:
    currency = snapshot.payload.get("currency", "")
    table = Table("buckets", _("Live plans by bucket, now"),
                  [_("Bucket"), _("Plans"), _("Outstanding (%(currency)s)") % {"currency": currency}, _("Share")])
    for row in snapshot.payload["buckets"]:
        table.add(row["label"], row["plans"], money(row["outstanding"]), percent(row["share"]))
    return table


def _closed_label(code: str) -> str:
    return {"paid_off": _("Paid off"), "written_off": _("Written off")}.get(code, code)


def roll_rate_table(snapshot: KpiSnapshot) -> Table:
    """Rows: bucket at a month-end; columns: where those plans were at the next month-end."""
    roll = snapshot.payload["roll_rates"]
    labels = {row["bucket"]: row["label"] for row in snapshot.payload["buckets"]}
    headers = [_("From \\ to"), _("Plans")] + [labels.get(c) or _closed_label(c) for c in roll["to"]]
    table = Table("roll-rates", _("Roll rates, month-end to month-end"), headers,
                  note=_("Share of the plans in each bucket at a month-end that were in each bucket (or closed) at "
                         "the next, summed over the months of the range."))
    for index, code in enumerate(roll["from"]):
        counts, rates = roll["counts"][index], roll["rates"][index]
        cells = [Cell(labels.get(code, code)), Cell(str(sum(counts)))]
        for column, rate in enumerate(rates):
            # Red: rolled to a worse bucket or written off; green: cured or paid off; blue: stayed.
            worse = column > index and roll["to"][column] != "paid_off"
            alpha = round(0.15 + 0.6 * rate, 2) if rate else 0
            colour = "220, 53, 69" if worse else "13, 110, 253" if column == index else "25, 135, 84"
            cells.append(Cell(percent(rate), style=f"background-color: rgba({colour}, {alpha})" if alpha else ""))
        table.rows.append(cells)
    return table


def vintage_table(snapshot: KpiSnapshot) -> Table:
    vintages = snapshot.payload["vintages"]
    longest = max((len(v["points"]) for v in vintages), default=0)
    table = Table("vintages", _("Vintages: share ever more than 30 days past due by months on book"),
                  [_("Disbursed in"), _("Plans")] + [_("MOB %(n)s") % {"n": k} for k in range(longest)])
    for v in vintages:
        table.add(v["cohort"], v["cohort_size"], *[percent(p) for p in v["points"]], *([""] * (longest - len(v["points"]))))
    return table


OVERVIEW_TABLES: dict[str, Callable[[KpiSnapshot], Table]] = {
    "kpis": kpi_table, "applications": applications_table, "disbursements": disbursements_table, "par": par_table,
    "buckets": buckets_table, "roll-rates": roll_rate_table, "vintages": vintage_table,
}


def chart_data(snapshot: KpiSnapshot) -> dict:
    """What static/js/dashboard.js draws (the same figures as the tables)."""
    p = snapshot.payload
    labels = {row["bucket"]: row["label"] for row in p["buckets"]}
    return {
        "currency": p.get("currency", ""),
        "labels": {
            "submitted": _("Submitted"), "approval_rate": _("Approval rate"), "amount": _("Amount disbursed"),
            "plans": _("Plans disbursed"), "par1": "PAR1", "par30": "PAR30", "par90": "PAR90",
            "outstanding": _("Outstanding principal"), "apr": _("Average APR"), "term": _("Average term (months)"),
            "months_on_book": _("Months on book"),
        },
        "applications": p["applications_series"],
        "disbursements": p["disbursement_series"],
        "par": p["par_trend"],
        "buckets": [{**row, "label": labels.get(row["bucket"], row["bucket"])} for row in p["buckets"]],
        "vintages": p["vintages"],
    }


# --- Segments ----------------------------------------------------------------------------------------------

def _value_labels(dimension: str) -> dict[str, str]:
    chinese = (get_language() or "").startswith("zh")
    if dimension == "occupation":
        return dict(Occupation.choices)
    if dimension == "employment_type":
        return dict(EmploymentType.choices)
    if dimension == "purpose":
        return dict(Application.Purpose.choices)
    if dimension == "income_pattern":
        return dict(Application.IncomePattern.choices)
    if dimension == "method":
        return {code: names[1 if chinese else 0] for code, names in METHOD_NAMES.items()}
    return {}


def segment_table(dimension: str, summary: SegmentSummary | None) -> Table:
    """One dimension's segments; significantly worse rates are highlighted and said so in words."""
    title = str(SegmentDimension(dimension).label)
    table = Table(f"segments-{dimension}", title, [
        title, _("Plans"), _("Bad (ever 31+ days)"), _("Bad rate"), _("95 % interval"), _("Live plans"),
        _("Overdue now"), _("Overdue rate"), _("Against the book")])
    if summary is None:
        return table
    labels = _value_labels(dimension)
    book = summary.payload["book"]
    table.note = _("Book: %(plans)s plans, bad rate %(bad)s; %(live)s live, overdue rate %(overdue)s. Flagged: "
                   "significantly higher than the rest of the book (two-proportion test, p < 0.05) with at least "
                   "30 plans.") % {"plans": book["plans"], "bad": percent(book["bad_rate"]), "live": book["live"],
                                   "overdue": percent(book["overdue_rate"])}
    for row in summary.payload["rows"]:
        flags = []
        if row["bad_worse"]:
            flags.append(_("bad rate significantly worse (p = %(p)s)") % {"p": f"{row['bad_p']:.3f}"})
        if row["overdue_worse"]:
            flags.append(_("overdue rate significantly worse (p = %(p)s)") % {"p": f"{row['overdue_p']:.3f}"})
        segment = row["segment"]
        name = _("Not recorded") if segment == analytics.UNKNOWN else str(labels.get(segment, segment))
        bad_css = "table-danger fw-semibold" if row["bad_worse"] else ""
        overdue_css = "table-danger fw-semibold" if row["overdue_worse"] else ""
        small = row["plans"] < analytics.SIGNIFICANCE_MIN_COUNT
        table.rows.append([
            Cell(name), Cell(str(row["plans"]), "text-muted" if small else ""), Cell(str(row["bad"])),
            Cell(percent(row["bad_rate"]), bad_css), Cell(interval(row["bad_rate_low"], row["bad_rate_high"])),
            Cell(str(row["live"])), Cell(str(row["overdue_now"])), Cell(percent(row["overdue_rate"]), overdue_css),
            Cell("; ".join(flags) or (_("too few plans to judge") if small else DASH),
                 "text-danger" if flags else "text-muted"),
        ])
    return table


# --- Satisfaction --------------------------------------------------------------------------------------------

def satisfaction_product_table(snapshot: KpiSnapshot) -> Table:
    names = {p.pk: product_name(p) for p in products()}
    table = Table("satisfaction-products", _("Satisfaction by product"),
                  [_("Product"), _("Ratings"), _("Average (1-5)"), _("Low (1-2)")])
    for row in snapshot.payload["satisfaction"]["by_product"]:
        table.add(names.get(row["key"], str(row["key"])), row["count"], number(row["average"], 2), row["low"])
    return table


def satisfaction_moment_table(snapshot: KpiSnapshot) -> Table:
    moments = dict(SatisfactionMoment.choices)
    table = Table("satisfaction-moments", _("Satisfaction by moment"),
                  [_("Moment"), _("Ratings"), _("Average (1-5)"), _("Low (1-2)")])
    for row in snapshot.payload["satisfaction"]["by_moment"]:
        table.add(str(moments.get(row["key"], row["key"])), row["count"], number(row["average"], 2), row["low"])
    return table


def satisfaction_period_table(snapshot: KpiSnapshot) -> Table:
    table = Table("satisfaction-periods", _("Satisfaction over time"),
                  [_("Period"), _("Ratings"), _("Average (1-5)"), _("Low (1-2)")])
    for row in snapshot.payload["satisfaction"]["by_period"]:
        table.add(row["key"], row["count"], number(row["average"], 2), row["low"])
    return table


def low_ratings(*, start, end, product: LoanProduct | None) -> QuerySet[SatisfactionRating]:
    """Ratings of 1 or 2 given in the range (newest first): the customers to call back."""
    since = timezone.make_aware(datetime.combine(start, time.min))
    before = timezone.make_aware(datetime.combine(end + timedelta(days=1), time.min))
    rows = SatisfactionRating.objects.filter(  # a range on the indexed column, not a date() of it
        rating__lte=analytics.LOW_RATING, created_at__gte=since, created_at__lt=before,
    ).select_related("user", "application__product", "application__customer__profile")
    if product is not None:
        rows = rows.filter(application__product=product)
    return rows.order_by("-created_at", "-pk")[:LOW_RATINGS_LIMIT]


def low_ratings_table(ratings) -> Table:
    moments = dict(SatisfactionMoment.choices)
    table = Table("low-ratings", _("Low ratings to follow up"),
                  [_("Given"), _("Customer"), _("Application"), _("Product"), _("Moment"), _("Rating"), _("Comment")],
                  numeric_from=99)
    for r in ratings:
        table.add(timezone.localtime(r.created_at).strftime("%Y-%m-%d %H:%M"), r.user.get_full_name(),
                  r.application.number, product_name(r.application.product), str(moments.get(r.moment, r.moment)),
                  r.rating, r.comment)
    return table


# --- Experiments ----------------------------------------------------------------------------------------------

def experiments_list() -> QuerySet[Experiment]:
    return (Experiment.objects.select_related("product", "started_by", "stopped_by")
            .annotate(assigned=Count("assignments"),
                      in_variant=Count("assignments", filter=Q(assignments__arm="variant")))
            .order_by("-created_at", "-pk"))


def variant_text(experiment: Experiment) -> str:
    parts = []
    if experiment.rate_adjustment:
        parts.append(_("rate %(sign)s%(pp)s pp") % {"sign": "+" if experiment.rate_adjustment > 0 else "",
                                                    "pp": f"{experiment.rate_adjustment.normalize():f}"})
    if experiment.default_term_months:
        parts.append(_("default term %(months)s months") % {"months": experiment.default_term_months})
    return ", ".join(parts)


def _when(value) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else DASH


def experiments_table(rows) -> Table:
    table = Table("experiments", _("Experiments"), [
        _("Key"), _("Name"), _("Product"), _("Variant"), _("Share in the variant"), _("State"), _("Started"),
        _("Stopped"), _("Customers assigned"), _("In the variant")], numeric_from=8)
    for e in rows:
        table.add(e.key, e.name, product_name(e.product), variant_text(e), percent(float(e.ratio), 0),
                  e.get_state_display(), _when(e.started_at), _when(e.stopped_at), e.assigned, e.in_variant)
    return table


def _p(value) -> str:
    return DASH if value is None else ("< 0.001" if value < 0.001 else f"{value:.3f}")


def experiment_results_table(experiment: Experiment, results: dict) -> Table:
    """Per metric and arm: n, value with its 95 % interval; then the variant-minus-control difference."""
    table = Table(f"experiment-{experiment.pk}", _("Results by arm"), [
        _("Measure"), _("Arm"), _("Applications / plans"), _("Value"), _("95 % interval")], numeric_from=2)
    arms = {"control": _("Control"), "variant": _("Variant")}
    measures = (("take_up", _("Take-up"), True), ("average_apr", _("Average APR of plans taken up"), False),
                ("early_delinquency", _("Early delinquency (31+ days within 4 months)"), True))
    for key, label, is_share in measures:
        metric = results["comparison"][key]

        def fmt(value, is_share=is_share):
            return percent(value) if is_share else (DASH if value is None else f"{value:.2f} %")

        for arm in ("control", "variant"):
            s = metric[arm]
            table.add(label, arms[arm], s["n"], fmt(s["value"]),
                      DASH if s["low"] is None else f"{fmt(s['low'])} – {fmt(s['high'])}")
        d = metric["difference"]
        points = (lambda v: DASH if v is None else f"{v * 100:+.1f} pp") if is_share else (
            lambda v: DASH if v is None else f"{v:+.2f} pp")
        significant = d["low"] is not None and (d["low"] > 0 or d["high"] < 0)
        table.add(label, _("Variant − control"), f"p = {_p(d['p'])}", points(d["difference"]),
                  DASH if d["low"] is None else f"{points(d['low'])} – {points(d['high'])}",
                  css="fw-semibold" if significant else "")
    return table


def experiment_history(experiment: Experiment) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(target_type=ContentType.objects.get_for_model(Experiment),
                                     target_id=str(experiment.pk)).select_related("actor").order_by("created_at", "pk")
