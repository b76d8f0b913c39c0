"""Finance pages (manager, accountant, admin): the trial balance on a date and an account's ledger."""

from datetime import date

from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from collections_app.ledger import selectors
from collections_app.ledger.models import LedgerAccount
from customers.permissions import role_required


def _date_param(request, name: str, default: date | None) -> tuple[date | None, str]:
    """The query parameter `name` as a date (YYYY-MM-DD), or `default` and an error message."""
    raw = request.GET.get(name, "").strip()
    if not raw:
        return default, ""
    try:
        return date.fromisoformat(raw), ""
    except ValueError:
        return default, _("Use a date like 2026-01-31.")


@require_GET
@role_required(*selectors.BOOKS_ROLES)
def trial_balance(request):
    on, error = _date_param(request, "on", timezone.localdate())
    status = 400 if error else 200
    return render(request, "collections_app/books/trial_balance.html", {
        "trial_balance": selectors.trial_balance(on), "on": on, "date_error": error}, status=status)


@require_GET
@role_required(*selectors.BOOKS_ROLES)
def account_ledger(request, code: str):
    account = get_object_or_404(LedgerAccount, code=code)
    start, start_error = _date_param(request, "from", None)
    end, end_error = _date_param(request, "to", None)
    error = start_error or end_error
    return render(request, "collections_app/books/account_ledger.html", {
        "ledger": selectors.account_ledger(account, start, end), "date_error": error},
        status=400 if error else 200)
