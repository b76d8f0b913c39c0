"""Finance pages (manager, accountant, admin): the trial balance, an account's ledger, one journal
entry, income by product and month, the allowance's movement, the months of the books and their close,
the chart-of-accounts changes, and the journal lines as CSV for an external accounting system."""

import csv
from datetime import date

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from collections_app.ledger import reports, selectors
from collections_app.ledger.chart import is_chart_admin
from collections_app.ledger.models import ChartChangeRequest, JournalEntry, LedgerAccount
from collections_app.selectors import PLAN_STAFF_ROLES
from config.errors import DomainError
from customers.permissions import role_required

DATE_HINT = "2026-01-31"


def _date_param(request, name: str, default: date | None) -> tuple[date | None, str]:
    """The query parameter `name` as a date (YYYY-MM-DD), or `default` and an error message."""
    raw = request.GET.get(name, "").strip()
    if not raw:
        return default, ""
    try:
        return date.fromisoformat(raw), ""
    except ValueError:
        return default, _("Use a date like %(example)s.") % {"example": DATE_HINT}


def _range_params(request) -> tuple[date, date, str]:
    """`from` and `to` (default: the last 12 months) and an error message naming the parameter."""
    default_start, default_end = reports.default_range()
    start, start_error = _date_param(request, "from", default_start)
    end, end_error = _date_param(request, "to", default_end)
    if start_error:
        return default_start, default_end, f"{_('From')}: {start_error}"
    if end_error:
        return default_start, default_end, f"{_('To')}: {end_error}"
    if start > end:
        return default_start, default_end, f"{_('To')}: {_('Must be on or after the first date.')}"
    return start, end, ""


@require_GET
@role_required(*selectors.BOOKS_ROLES)
def trial_balance(request):
    on, error = _date_param(request, "on", timezone.localdate())
    status = 400 if error else 200
    return render(request, "collections_app/books/trial_balance.html", {
        "trial_balance": selectors.trial_balance(on), "on": on, "date_error": error, "books_page": "trial_balance"},
        status=status)


@require_GET
@role_required(*selectors.BOOKS_ROLES)
def account_ledger(request, code: str):
    account = get_object_or_404(LedgerAccount, code=code)
    start, start_error = _date_param(request, "from", None)
    end, end_error = _date_param(request, "to", None)
    error = start_error or end_error
    return render(request, "collections_app/books/account_ledger.html", {
        "ledger": selectors.account_ledger(account, start, end), "date_error": error, "books_page": "trial_balance"},
        status=400 if error else 200)


@require_GET
@role_required(*selectors.BOOKS_ROLES)
def journal_entry(request, pk: int):
    try:
        entry = reports.entry_detail(pk)
    except JournalEntry.DoesNotExist:
        raise Http404
    lines = list(entry.lines.all())
    return render(request, "collections_app/books/entry.html", {
        "entry": entry, "lines": lines, "reversed_by": reports.entry_reversed_by(entry),
        "total_debit": sum(line.debit for line in lines), "total_credit": sum(line.credit for line in lines),
        "actor_is_staff": entry.actor is not None and entry.actor.is_staff_member,
        "can_open_plan": request.user.has_role(*PLAN_STAFF_ROLES), "books_page": "trial_balance"})


@require_GET
@role_required(*selectors.BOOKS_ROLES)
def income_report(request):
    start, end, error = _range_params(request)
    return render(request, "collections_app/books/income.html", {
        "report": reports.income_by_product(start, end), "date_error": error, "books_page": "income"},
        status=400 if error else 200)


@require_GET
@role_required(*selectors.BOOKS_ROLES)
def provision_report(request):
    start, end, error = _range_params(request)
    return render(request, "collections_app/books/provisions.html", {
        "report": reports.provision_movement(start, end), "date_error": error, "books_page": "provisions"},
        status=400 if error else 200)


def _month_param(raw: str) -> date | None:
    try:
        year, month = (int(part) for part in raw.strip().split("-"))
        return date(year, month, 1)
    except ValueError:
        return None


@require_http_methods(["GET", "POST"])
@role_required(*selectors.BOOKS_ROLES)
def periods(request):
    can_close = request.user.has_role(*reports.PERIOD_CLOSE_ROLES)
    error, status, month_value = "", 200, ""
    if request.method == "POST":
        if not can_close:
            raise PermissionDenied
        month_value = request.POST.get("month", "")
        month = _month_param(month_value)
        if month is None:
            error = _("Month: use the form 2026-11.")
        else:
            try:
                period = reports.period_close_checked(month=month, by=request.user)
            except DomainError as refusal:
                error = refusal.message
            else:
                messages.success(request, _("The period %(month)s is closed.") % {"month": period})
                return redirect("collections:books_periods")
        status = 400
    return render(request, "collections_app/books/periods.html", {
        "periods": reports.periods(), "can_close": can_close, "close_error": error, "month_value": month_value,
        "books_page": "periods"}, status=status)


@require_GET
@role_required(*selectors.BOOKS_ROLES)
def chart_changes(request):
    return render(request, "collections_app/books/chart_changes.html", {
        "changes": ChartChangeRequest.objects.select_related("requested_by", "decided_by")[:200],
        "is_chart_admin": is_chart_admin(request.user), "books_page": "chart_changes"})


class _Echo:
    """A file-like object whose write() returns the line, for csv.writer feeding a streaming response."""

    def write(self, value: str) -> str:
        return value


@require_GET
@role_required(*selectors.BOOKS_ROLES)
def journal_lines_csv(request):
    """Every journal line with a value date in [from, to] (both optional), one CSV row per line."""
    start, start_error = _date_param(request, "from", None)
    end, end_error = _date_param(request, "to", None)
    if start_error or end_error:
        name = "from" if start_error else "to"
        return HttpResponse(f"{name}: {start_error or end_error}", status=400, content_type="text/plain; charset=utf-8")
    if start and end and start > end:
        return HttpResponse(f"to: {_('Must be on or after the first date.')}", status=400,
                            content_type="text/plain; charset=utf-8")
    writer = csv.writer(_Echo())

    rows = (writer.writerow(row) for row in reports.export_rows(start, end))
    response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
    span = f"{start or 'start'}_{end or timezone.localdate()}"
    response["Content-Disposition"] = f'attachment; filename="journal-lines-{span}.csv"'
    return response
