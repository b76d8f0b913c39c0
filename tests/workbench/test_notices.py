"""Customers hear about their application: documents needed, approved, approved with changes,
declined. One e-mail per event, in the customer's language, sent by a Celery worker after the
decision commits; listed on the self-service notifications page too."""

import time
from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse

from customers import notifications
from installments.models import Application, ApplicationNotice
from installments.origination import decisions, notices
from tests.conftest import requires_redis
from tests.factories import workbench_case

pytestmark = pytest.mark.django_db
Kind = ApplicationNotice.Kind


def test_a_decline_e_mails_the_customer_once_in_their_language_with_the_reasons(celery_eager, officer, django_capture_on_commit_callbacks):
    application = workbench_case(grade="G", language="zh-hans")
    with django_capture_on_commit_callbacks(execute=True):
        decisions.application_decline(application=application, by=officer, reason_codes=["affordability"])
    notice = ApplicationNotice.objects.get(application=application)
    assert (notice.kind, notice.status, notice.language) == (Kind.DECLINED, "sent", "zh-hans")
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.to == [application.customer.email] and application.number in sent.subject
    reason_zh = decisions.DECLINE_REASON_TEXTS[decisions.DeclineReason.AFFORDABILITY][1]
    assert reason_zh in sent.body and "审核" in sent.body
    # a redelivered task sends nothing more
    assert notices.notice_send(notice_id=notice.pk).status == "sent"
    assert len(mail.outbox) == 1


def test_an_approval_e_mail_discloses_the_plan_and_points_to_the_contract(celery_eager, officer, django_capture_on_commit_callbacks):
    application = workbench_case()
    with django_capture_on_commit_callbacks(execute=True):
        decision = decisions.application_approve(application=application, by=officer)
    offer = decision.offer
    body = mail.outbox[0].body
    assert f"{offer.apr:.2f}%" in body and f"{offer.installment:,.2f}" in body and f"{offer.total_payable:,.2f}" in body
    assert reverse("portal:application", args=[application.pk]) in body
    assert ApplicationNotice.objects.get(application=application).kind == Kind.APPROVED


def test_a_counter_offer_tells_the_new_terms(celery_eager, officer, django_capture_on_commit_callbacks):
    application = workbench_case()
    with django_capture_on_commit_callbacks(execute=True):
        decisions.application_counter_offer(application=application, by=officer, amount=Decimal("15000"),
                                            term_months=18, annual_rate=Decimal("11"), note="lower amount")
    notice = ApplicationNotice.objects.get(application=application)
    assert notice.kind == Kind.COUNTER_OFFER
    assert "15,000.00" in notice.body and "18 months" in notice.body


def test_a_document_request_lists_the_documents_and_the_officers_note(celery_eager, officer, django_capture_on_commit_callbacks):
    application = workbench_case()
    with django_capture_on_commit_callbacks(execute=True):
        decisions.application_request_documents(application=application, by=officer,
                                                message="Last 3 months of payslips, please.",
                                                kinds=["income_proof", "bank_statement"])
    body = mail.outbox[0].body
    assert "Proof of income" in body and "Last 3 months of payslips, please." in body


def test_waiting_for_a_second_approver_sends_nothing_yet(celery_eager, big_case, officer, approver,
                                                        django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        decisions.application_approve(application=big_case, by=officer)
    assert not ApplicationNotice.objects.exists() and not mail.outbox
    with django_capture_on_commit_callbacks(execute=True):
        decisions.application_confirm(application=big_case, by=approver)
    assert ApplicationNotice.objects.get(application=big_case).kind == Kind.APPROVED and len(mail.outbox) == 1


class _Down(notifications.Backend):
    def send(self, message):
        raise ConnectionError("mail relay unreachable")


def test_a_failed_send_stays_queued_with_the_error_and_is_sent_later(celery_eager, officer, settings):
    application = workbench_case(grade="G")
    decisions.application_decline(application=application, by=officer, reason_codes=["affordability"])
    notice = ApplicationNotice.objects.get(application=application)
    settings.COLLECTIONS_EMAIL_BACKEND = f"{__name__}._Down"
    with pytest.raises(ConnectionError):
        notices.notice_send(notice_id=notice.pk)
    notice.refresh_from_db()
    assert notice.status == "queued" and "unreachable" in notice.error and not mail.outbox
    settings.COLLECTIONS_EMAIL_BACKEND = "customers.notifications.DjangoEmailBackend"
    ApplicationNotice.objects.filter(pk=notice.pk).update(created_at=notice.created_at - notices.timedelta(hours=1))
    assert notices.notices_resend_queued() == 1  # eager in tests: sent at once
    notice.refresh_from_db()
    assert notice.status == "sent" and notice.attempts == 2 and len(mail.outbox) == 1


def test_the_notifications_page_lists_the_decision(celery_eager, officer, client_for):
    application = workbench_case(grade="G")
    decisions.application_decline(application=application, by=officer, reason_codes=["affordability"])
    page = client_for(application.customer).get(reverse("portal:notifications")).content.decode()
    notice = ApplicationNotice.objects.get(application=application)
    assert notice.subject in page


@requires_redis
def test_a_real_worker_sends_the_notice_after_the_decision_commits(celery_live_worker, officer):
    application = workbench_case(grade="G")
    decisions.application_decline(application=application, by=officer, reason_codes=["affordability"])
    deadline = time.monotonic() + 30
    notice = ApplicationNotice.objects.get(application=application)
    while notice.status != "sent" and time.monotonic() < deadline:
        time.sleep(0.2)
        notice.refresh_from_db()
    assert notice.status == "sent" and notice.attempts == 1
    assert Application.objects.get(pk=application.pk).state == Application.State.DECLINED
