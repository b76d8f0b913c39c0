"""The loan classification page (manager, accountant, admin): the book by class with its allowance,
and the month-end provisions that built it."""

from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from collections_app.ledger import provisioning, selectors
from collections_app.ledger.views import _date_param
from config.errors import DomainError
from customers.permissions import role_required


@require_GET
@role_required(*selectors.BOOKS_ROLES)
def classification(request):
    on, error = _date_param(request, "on", timezone.localdate())
    summary, setup_error = None, ""
    try:
        summary = provisioning.classification_summary(on)
    except DomainError as refused:  # a product's accounts are not set up: say which
        setup_error = refused.message
    return render(request, "collections_app/books/classification.html", {
        "summary": summary, "history": provisioning.provision_history(), "on": on, "date_error": error,
        "setup_error": setup_error}, status=400 if error else 200)
