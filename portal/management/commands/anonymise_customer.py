"""Erase a customer's personal data, keeping what the law requires for loans (right to erasure).

    python manage.py anonymise_customer customer@example.com --by dpo@example.com --reason "request 2026-17" --yes

Without `--yes` it only says what it would do. Everything happens in one transaction, recorded in
the audit trail (`customer.anonymise`).

A customer who never signed a credit agreement (no accepted contract, no plan) is erased: the
profile with its finance lines, documents (files too), bank statements and interview notes is
deleted, the application draft too.

A customer with a signed agreement keeps the loan record the lender must retain (applications,
offers, the signed contract text, plans, installments, payments, servicing and collections
history, and for identification the encrypted ID number, its masked form, the date of birth and
the identity documents). Everything else personal is replaced: name, phone, e-mail, address,
employer, sex, other documents and bank statements (deleted), free text written about them
(interview and case notes, contact logs, request reasons, ratings' comments, sent messages and
application notices; a notice still queued is never sent).

In both cases the login is closed (inactive, unusable password, anonymous e-mail, tokens and 2FA
devices removed), consents are withdrawn (the rows stay as evidence) and the values recorded in
the audit trail about the customer are erased while the events (who did what, when) stay.
"""

from django.contrib.contenttypes.models import ContentType
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from customers.audit import audit_record
from customers.models import (
    AuditEvent,
    Consent,
    CustomerDocument,
    CustomerProfile,
    DocumentKind,
    InterviewNote,
    Occupation,
    User,
)
from portal.management.commands.export_customer_data import find_customer

ERASED = "[erased]"
RETAINED_DOCUMENT_KINDS = (DocumentKind.ID_FRONT, DocumentKind.ID_BACK)


def has_loan_record(user: User) -> bool:
    from installments.models import Contract, Plan

    return (Plan.objects.filter(customer=user).exists()
            or Contract.objects.filter(application__customer=user, accepted_at__isnull=False).exists())


def _delete_documents(documents) -> int:
    count = 0
    for document in documents:
        document.file.delete(save=False)
        document.delete()
        count += 1
    return count


def _erase_free_text(user: User) -> None:
    from collections_app.models import CaseNote, ContactLog, Reminder, ServicingRequest
    from customers.models import ApplicationDraft, SatisfactionRating
    from installments.models import ApplicationNotice

    ContactLog.objects.filter(case__plan__customer=user).exclude(notes="").update(notes=ERASED)
    CaseNote.objects.filter(case__plan__customer=user).update(text=ERASED)
    ServicingRequest.objects.filter(plan__customer=user).update(reason=ERASED)
    SatisfactionRating.objects.filter(user=user).exclude(comment="").update(comment=ERASED)
    Reminder.objects.filter(customer=user).update(recipient="", subject=ERASED, body=ERASED)
    notices = ApplicationNotice.objects.filter(application__customer=user)
    notices.filter(status=ApplicationNotice.Status.QUEUED).update(
        status=ApplicationNotice.Status.SKIPPED, error="customer anonymised")
    notices.update(recipient="", subject=ERASED, body=ERASED)
    ApplicationDraft.objects.filter(user=user).delete()


def _scrub_audit_trail(user: User, profile_id: int | None, document_ids: list[int]) -> int:
    """Erase the values (field diffs, names) recorded about the customer; keep each event's who/what/when."""
    targets = [(ContentType.objects.get_for_model(User), [user.pk])]
    if profile_id is not None:
        targets.append((ContentType.objects.get_for_model(CustomerProfile), [profile_id]))
    targets.append((ContentType.objects.get_for_model(Consent),
                    list(Consent.objects.filter(user=user).values_list("pk", flat=True))))
    targets.append((ContentType.objects.get_for_model(CustomerDocument), document_ids))
    scrubbed = 0
    for content_type, ids in targets:
        events = AuditEvent.objects.filter(target_type=content_type, target_id__in=[str(i) for i in ids])
        scrubbed += events.update(data={"erased": True}, target_repr=ERASED, reason="")
    AuditEvent.objects.filter(actor=user).update(ip_address=None)
    return scrubbed


@transaction.atomic
def customer_anonymise(*, user: User, by: User, reason: str) -> dict:
    """Anonymise `user` as the module docstring says; returns what was done (also in the audit row)."""
    if user.is_staff_member or user.is_staff:
        raise CommandError("This is a staff account; only customers are anonymised here.")
    user = User.objects.select_for_update().get(pk=user.pk)
    keeps_loans = has_loan_record(user)
    profile = CustomerProfile.objects.select_for_update().filter(user=user).first()
    profile_id = profile.pk if profile else None
    summary = {"kept_loan_record": keeps_loans, "documents_deleted": 0, "profile": "none"}
    document_ids = list(CustomerDocument.objects.filter(profile=profile).values_list("pk", flat=True)) if profile else []
    _erase_free_text(user)
    if profile is not None:
        profile.statements.all().delete()
        InterviewNote.objects.filter(profile=profile).update(text=ERASED)
        if keeps_loans:
            summary["documents_deleted"] = _delete_documents(
                profile.documents.exclude(kind__in=RETAINED_DOCUMENT_KINDS))
            for lines in (profile.incomes, profile.expenses, profile.debts, profile.assets):
                lines.exclude(description="").update(description=ERASED)
            profile.debts.update(lender=ERASED)
            profile.full_name = f"Anonymised customer {profile.pk}"
            profile.phone = ""
            profile.email = f"anonymised-{user.pk}@invalid.example"
            profile.province = profile.city = profile.district = profile.street = profile.postcode = ""
            profile.employer = ""
            if profile.occupation == Occupation.OTHER:
                profile.occupation = ""
            profile.occupation_other = ""
            profile.sex = ""
            profile.save()
            summary["profile"] = "anonymised"
        else:
            summary["documents_deleted"] = _delete_documents(profile.documents.all())
            profile.delete()
            summary["profile"] = "deleted"
    Consent.objects.filter(user=user, withdrawn_at__isnull=True).update(withdrawn_at=timezone.now())
    summary["audit_events_scrubbed"] = _scrub_audit_trail(user, profile_id, document_ids)
    user.email = f"anonymised-{user.pk}@invalid.example"
    user.full_name = ""
    user.is_active = False
    user.set_unusable_password()
    user.save()
    _close_credentials(user)
    audit_record(actor=by, action="customer.anonymise", target=user, reason=reason, data=summary)
    return summary


def _close_credentials(user: User) -> None:
    from django_otp.plugins.otp_totp.models import TOTPDevice
    from knox.models import AuthToken

    AuthToken.objects.filter(user=user).delete()
    TOTPDevice.objects.filter(user=user).delete()


class Command(BaseCommand):
    help = "Erase a customer's personal data, keeping the loan record the law requires; audited."

    def add_arguments(self, parser):
        parser.add_argument("customer", help="the customer's e-mail address or user id")
        parser.add_argument("--by", required=True, help="e-mail of the staff member handling the request (audit)")
        parser.add_argument("--reason", required=True, help="why (e.g. the erasure request's reference)")
        parser.add_argument("--yes", action="store_true", help="do it (without: only say what would happen)")

    def handle(self, *args, customer: str, by: str, reason: str, yes: bool = False, **options):
        user = find_customer(customer)
        actor = find_customer(by)
        if not reason.strip():
            raise CommandError("Give the reason (--reason).")
        keeps = has_loan_record(user)
        plan = ("keep the loan record, replace the personal data" if keeps
                else "delete the profile, documents and statements")
        if not yes:
            self.stdout.write(f"Would anonymise user {user.pk}: {plan}. Run again with --yes to do it.")
            return
        summary = customer_anonymise(user=user, by=actor, reason=reason.strip())
        self.stdout.write(f"Anonymised user {user.pk}: {summary}")
