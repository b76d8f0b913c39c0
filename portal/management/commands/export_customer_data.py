"""Export everything held about one customer as JSON (a data-subject access request).

    python manage.py export_customer_data customer@example.com --by dpo@example.com [--output file.json]

The customer is named by e-mail or user id. The ID number appears masked only (the full number
is never exported; the customer already knows it, and a leaked export must not carry it).
Uploaded files are listed (name, kind, size, SHA-256), not embedded. Every export is audited
(`customer.data_export`).
"""

import json
from decimal import Decimal
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Model

from customers.audit import audit_record
from customers.models import CustomerProfile, User

PROFILE_EXCLUDED = {"id_number_encrypted", "id_number_hash", "user"}


def find_customer(identifier: str) -> User:
    query = User.objects.filter(pk=int(identifier)) if identifier.isdigit() else User.objects.filter(
        email__iexact=identifier.strip())
    user = query.first()
    if user is None:
        raise CommandError(f"No user {identifier!r}.")
    return user


def _plain(value):
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _row(obj: Model, *, exclude: set[str] = frozenset(), include: tuple[str, ...] | None = None) -> dict:
    names = include or [f.attname for f in obj._meta.concrete_fields if f.name not in exclude
                        and f.attname not in exclude]
    return {name: _plain(getattr(obj, name)) for name in names}


def customer_data(user: User) -> dict:
    """The export as a plain dict (see the module docstring)."""
    from collections_app.models import ContactLog, Payment, PromiseToPay, Reminder, ServicingRequest
    from installments.models import Application, Contract, Installment, Offer, Plan

    profile = CustomerProfile.objects.filter(user=user).first()
    data: dict = {
        "format": "installments-customer-export/1",
        "account": _row(user, include=("id", "email", "full_name", "preferred_language", "date_joined", "last_login",
                                       "is_active")),
        "roles": sorted(user.role_names),
        "consents": [_row(c, exclude={"user"}) for c in user.consents.order_by("pk")],
        "profile": None,
    }
    if profile is not None:
        data["profile"] = _row(profile, exclude=PROFILE_EXCLUDED)
        data["profile"]["id_number"] = profile.id_number_masked
        for collection in ("incomes", "expenses", "debts", "assets"):
            data[collection] = [_row(line, exclude={"profile"}) for line in getattr(profile, collection).order_by("pk")]
        data["documents"] = [_row(d, include=("id", "kind", "original_filename", "content_type", "size_bytes",
                                              "sha256", "uploaded_at", "review_state", "review_reason"))
                             for d in profile.documents.order_by("pk")]
        data["bank_statements"] = [_row(s, exclude={"profile", "imported_by"}) for s in profile.statements.order_by("pk")]
    applications = Application.objects.filter(customer=user).order_by("pk")
    data["applications"] = [_row(a, exclude={"customer", "assigned_officer"}) for a in applications]
    data["offers"] = [_row(o, exclude={"schedule", "terms"}) for o in Offer.objects.filter(
        application__customer=user).order_by("pk")]
    data["contracts"] = [_row(c, exclude={"content_html"}) for c in Contract.objects.filter(
        application__customer=user).order_by("pk")]
    plans = Plan.objects.filter(customer=user).order_by("pk")
    data["plans"] = [_row(p, exclude={"customer"}) for p in plans]
    data["installments"] = [_row(i) for i in Installment.objects.filter(plan__customer=user).order_by("plan", "pk")]
    data["payments"] = [_row(p, exclude={"created_by", "reversed_by", "request_fingerprint"}) for p in Payment.objects.filter(plan__customer=user)
                        .order_by("pk")]
    data["servicing_requests"] = [_row(r, exclude={"requested_by", "decided_by"})
                                  for r in ServicingRequest.objects.filter(plan__customer=user).order_by("pk")]
    data["promises_to_pay"] = [_row(p, exclude={"created_by"}) for p in PromiseToPay.objects.filter(case__plan__customer=user).order_by("pk")]
    data["contacts"] = [_row(c, exclude={"by"}) for c in ContactLog.objects.filter(
        case__plan__customer=user).order_by("pk")]
    data["messages"] = [_row(m, include=("id", "channel", "recipient", "subject", "body", "status", "sent_at"))
                        for m in Reminder.objects.filter(customer=user).order_by("pk")]
    data["satisfaction_ratings"] = [_row(r, exclude={"user"}) for r in user.satisfaction_ratings.order_by("pk")]
    return data


class Command(BaseCommand):
    help = "Export everything held about one customer as JSON (ID number masked); audited."

    def add_arguments(self, parser):
        parser.add_argument("customer", help="the customer's e-mail address or user id")
        parser.add_argument("--by", required=True, help="e-mail of the staff member handling the request (audit)")
        parser.add_argument("--output", help="write to this file instead of standard output")

    def handle(self, *args, customer: str, by: str, output: str | None = None, **options):
        user = find_customer(customer)
        actor = find_customer(by)
        data = customer_data(user)
        text = json.dumps(data, ensure_ascii=False, indent=2, default=str)
        audit_record(actor=actor, action="customer.data_export", target=user,
                     data={"sections": sorted(k for k, v in data.items() if v)})
        if output:
            Path(output).write_text(text, encoding="utf-8")
            self.stderr.write(f"Exported customer {user.pk} to {output}.")
        else:
            self.stdout.write(text)
