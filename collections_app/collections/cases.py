"""Collection cases: assign a case, log a contact, record a promise to pay, add a note.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.db import transaction

from collections_app.models import CaseNote, CollectionCase, ContactLog, PromiseToPay
from collections_app.servicing.policy import APPROVER_ROLES, _clean_amount, _has_role, _unit, business_date
from config.errors import DomainError
from customers.audit import audit_record
from customers.roles import Role


def case_assign(*, case: CollectionCase, collector, by) -> CollectionCase:
    """Assign a case by hand (managers and approvers); assignment rules then leave it alone."""
    if not _has_role(by, *APPROVER_ROLES):
        raise DomainError("Only a manager or approver can reassign cases.", field="assigned_to", code="forbidden")
    if collector is not None and not collector.has_role(Role.COLLECTOR):
        raise DomainError("Choose a collector.", field="assigned_to")
    with transaction.atomic():
        case = CollectionCase.objects.select_for_update().get(pk=case.pk)
        before = case.assigned_to_id
        case.assigned_to, case.assignment_locked = collector, collector is not None
        case.save(update_fields=["assigned_to", "assignment_locked"])
        audit_record(actor=by, action="collection_case.assign", target=case,
                     data={"from": before, "to": getattr(collector, "pk", None)})
    return case


def contact_log_add(*, case: CollectionCase, by, channel: str, outcome: str,
                    reason_category: str = ContactLog.Reason.UNKNOWN, employed: bool | None = None,
                    notes: str = "") -> ContactLog:
    if channel not in ContactLog.ContactChannel.values:
        raise DomainError("Choose how you contacted the customer.", field="channel")
    if outcome not in ContactLog.Outcome.values:
        raise DomainError("Choose the outcome.", field="outcome")
    if reason_category not in ContactLog.Reason.values:
        raise DomainError("Choose the cause.", field="reason_category")
    with transaction.atomic():
        contact = ContactLog.objects.create(case=case, by=by, channel=channel, outcome=outcome,
                                            reason_category=reason_category, employed=employed, notes=notes.strip())
        CollectionCase.objects.filter(pk=case.pk).update(last_contact_at=contact.contacted_at)
        audit_record(actor=by, action="collection_case.contact", target=case,
                     data={"channel": channel, "outcome": outcome, "reason": reason_category})
    return contact


def promise_create(*, case: CollectionCase, by, amount, promised_date: date) -> PromiseToPay:
    """Record a promise to pay `amount` by `promised_date` (today to 60 days ahead); an open promise
    on the case is replaced. The close of business breaks it if the date passes unpaid."""
    today = business_date()
    plan = case.plan
    amount = _clean_amount(amount, _unit(plan))
    if not today <= promised_date <= today + timedelta(days=60):
        raise DomainError("Choose a date from today to 60 days ahead.", field="promised_date")
    with transaction.atomic():
        PromiseToPay.objects.filter(case=case, state=PromiseToPay.State.OPEN).update(
            state=PromiseToPay.State.CANCELLED, resolved_on=today)
        promise = PromiseToPay.objects.create(case=case, plan=plan, amount=amount, promised_date=promised_date,
                                              created_on=today, created_by=by)
        audit_record(actor=by, action="collection_case.promise", target=case,
                     data={"amount": str(amount), "promised_date": promised_date.isoformat()})
    return promise


def case_note_add(*, case: CollectionCase, by, text: str) -> CaseNote:
    text = (text or "").strip()
    if not text:
        raise DomainError("Write the note.", field="text")
    return CaseNote.objects.create(case=case, author=by, text=text)
