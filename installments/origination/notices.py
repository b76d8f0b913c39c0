"""Messages to customers about their application: more documents needed, approved, approved with
changes (a counter-offer), declined.

Each event queues one `ApplicationNotice` (unique `key`, so a retried decision never writes two),
written in the customer's language from `installments/notices/<language>/<kind>.txt`, and a Celery
task (`installments.tasks.send_application_notice`, queue `notifications`) sends it by e-mail
through the servicing message backends (COLLECTIONS_EMAIL_BACKEND) once the decision has
committed. Sending claims the row first, so a redelivered task never e-mails twice; a backend
failure puts it back to `queued` and the task retries. The self-service notifications page lists
the notices as well.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import F
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from config.celery import enqueue
from customers import outbox
from customers.models import DocumentKind
from customers.notifications import OutgoingMessage, backend_for
from installments.models import Application, ApplicationNotice, Decision, DocumentRequest, Offer
from installments.origination.reasons import DECLINE_REASON_TEXTS, DeclineReason

LANGUAGES = ("en", "zh-hans")
Kind = ApplicationNotice.Kind

# The task that sends one notice (installments.tasks); queued by name, see config.celery.enqueue.
SEND_TASK = "installments.tasks.send_application_notice"


def notice_language(user) -> str:
    language = (getattr(user, "preferred_language", "") or "en").lower()
    return "zh-hans" if language.startswith("zh") else "en" if language not in LANGUAGES else language


def _site_link(path: str) -> str:
    return getattr(settings, "SITE_URL", "http://localhost:8000").rstrip("/") + path


def _amount(value: Decimal | None) -> str:
    return f"{value:,.2f}" if value is not None else ""


def _offer_context(offer: Offer | None) -> dict:
    if offer is None:
        return {}
    return {"amount": _amount(offer.amount), "term_months": offer.term_months, "installment": _amount(offer.installment),
            "total_payable": _amount(offer.total_payable), "apr": f"{offer.apr:.2f}", "currency": offer.currency}


def notice_render(*, application: Application, kind: str, language: str, extra: dict) -> tuple[str, str]:
    """(subject, body) of a notice in `language`."""
    customer = application.customer
    context = {
        "name": customer.full_name or customer.email, "number": application.number,
        "product": application.product.name, "link": _site_link(reverse("portal:application", args=[application.pk])),
        **extra,
    }
    name = f"installments/notices/{language}/{kind}.txt"
    with translation.override(language):
        subject = render_to_string(name, {**context, "part": "subject"})
        body = render_to_string(name, {**context, "part": "email"}).strip()
    return " ".join(subject.split())[:200], body


def notice_queue(*, application: Application, kind: str, key: str, extra: dict | None = None) -> ApplicationNotice:
    """Write the notice for an event (once per `key`) and send it after the transaction commits."""
    existing = ApplicationNotice.objects.filter(key=key).first()
    if existing is not None:
        return existing
    language = notice_language(application.customer)
    subject, body = notice_render(application=application, kind=kind, language=language, extra=extra or {})
    notice = ApplicationNotice.objects.create(application=application, kind=kind, key=key, language=language,
                                              recipient=application.customer.email or "", subject=subject, body=body)
    # In the decision's transaction, published after commit; with the broker down the outbox resends it.
    outbox.enqueue(SEND_TASK, args=[notice.pk])
    return notice


def documents_requested(request: DocumentRequest) -> ApplicationNotice:
    application = request.application
    language = notice_language(application.customer)
    labels = dict(DocumentKind.choices)
    with translation.override(language):
        documents = [str(labels.get(kind, kind)) for kind in request.kinds]
    return notice_queue(application=application, kind=Kind.DOCUMENTS_REQUESTED, key=f"document-request-{request.pk}",
                        extra={"message": request.message, "documents": documents})


def decision_took_effect(decision: Decision) -> ApplicationNotice:
    """The notice for a decision in effect (final, or confirmed by the second approver)."""

    application = decision.application
    key = f"decision-{decision.pk}"
    if decision.kind == Decision.Kind.DECLINE:
        index = 1 if notice_language(application.customer).startswith("zh") else 0
        reasons = [DECLINE_REASON_TEXTS[DeclineReason(code)][index] for code in decision.reason_codes
                   if code in DeclineReason.values]
        return notice_queue(application=application, kind=Kind.DECLINED, key=key, extra={"reasons": reasons})
    kind = Kind.COUNTER_OFFER if decision.kind == Decision.Kind.COUNTER_OFFER else Kind.APPROVED
    return notice_queue(application=application, kind=kind, key=key, extra=_offer_context(decision.offer))


def notice_send(*, notice_id: int) -> ApplicationNotice | None:
    """Send a queued notice if nobody has: claimed first (never twice), skipped without an address.
    Raises the backend's error after putting the row back to `queued` (the task retries)."""
    claimed = ApplicationNotice.objects.filter(pk=notice_id, status=ApplicationNotice.Status.QUEUED).update(
        status=ApplicationNotice.Status.SENDING, attempts=F("attempts") + 1)
    notice = ApplicationNotice.objects.filter(pk=notice_id).first()
    if not claimed or notice is None:  # sent or being sent by someone else (never twice), or deleted
        return notice
    if not notice.recipient:
        return _finish(notice, ApplicationNotice.Status.SKIPPED, error="no e-mail address")
    message = OutgoingMessage(channel="email", to=notice.recipient, subject=notice.subject, body=notice.body,
                              reference=f"notice-{notice.pk}")
    try:
        provider_id = backend_for("email").send(message)
    except Exception as error:
        ApplicationNotice.objects.filter(pk=notice.pk, status=ApplicationNotice.Status.SENDING).update(
            status=ApplicationNotice.Status.QUEUED, error=f"{type(error).__name__}: {error}"[:1000])
        raise
    return _finish(notice, ApplicationNotice.Status.SENT, provider_id=provider_id)


def _finish(notice: ApplicationNotice, status: str, *, error: str = "", provider_id: str = "") -> ApplicationNotice:
    ApplicationNotice.objects.filter(pk=notice.pk).update(
        status=status, error=error, provider_message_id=(provider_id or "")[:200],
        sent_at=timezone.now() if status == ApplicationNotice.Status.SENT else None)
    notice.refresh_from_db()
    return notice


def notices_resend_queued(*, older_than_minutes: int = 10) -> int:
    """Re-enqueue notices still queued after `older_than_minutes` (the broker was down when they were
    written, or every retry failed); the send claims each row, so a duplicate task sends nothing."""
    cutoff = timezone.now() - timedelta(minutes=older_than_minutes)
    ids = list(ApplicationNotice.objects.filter(status=ApplicationNotice.Status.QUEUED, created_at__lt=cutoff)
               .values_list("pk", flat=True)[:1000])
    for notice_id in ids:
        enqueue(SEND_TASK, args=[notice_id])
    return len(ids)
