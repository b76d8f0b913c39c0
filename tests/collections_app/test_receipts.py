"""Every posted payment gives the customer a receipt: a message in their Messages (sent by e-mail)
and a PDF from the plan page, in their language, written only once the payment has committed."""

import re
from decimal import Decimal

import pytest
from django.db import transaction
from django.urls import reverse

from collections_app.models import Payment
from collections_app.servicing import payments, receipts
from installments.models import ApplicationNotice
from tests.collections_app.factories import customer_make, days_ago, pay_through_provider, plan_active

pytestmark = pytest.mark.django_db
D = Decimal
SITE = "https://lend.example.com"


@pytest.fixture(autouse=True)
def site_url(settings):
    settings.SITE_URL = SITE


@pytest.fixture
def plan(officer_user):
    return plan_active(disbursed=days_ago(40), amount="6000", term=6, by=officer_user)


@pytest.fixture
def zh_plan(officer_user):
    return plan_active(disbursed=days_ago(40), amount="6000", term=6, by=officer_user,
                       customer=customer_make(preferred_language="zh-hans", full_name="王小明"))


def _officer_pays(plan, officer, amount="150.00", key="desk-1"):
    return payments.payment_record(plan=plan, amount=D(amount), channel=Payment.Channel.OFFICER,
                                   idempotency_key=key, by=officer, reference=f"slip {key}")


def _receipt(payment) -> ApplicationNotice:
    return ApplicationNotice.objects.get(key=f"payment-receipt-{payment.pk}")


def test_a_posted_payment_gives_one_receipt_message_linking_its_pdf(plan, officer_user, client_for,
                                                                      django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        payment = _officer_pays(plan, officer_user)
    notice = _receipt(payment)
    assert notice.kind == "payment_receipt" and notice.language == "en" and notice.recipient == plan.customer.email
    assert notice.subject == f"Receipt: 150.00 {plan.currency} received for plan {plan.number}"
    link = SITE + reverse("collections:my_payment_receipt", args=[payment.pk])
    assert link in notice.body and "slip desk-1" in notice.body and "Taken by staff" in notice.body
    with django_capture_on_commit_callbacks(execute=True):  # the same payment again: replayed, no new receipt
        assert _officer_pays(plan, officer_user).replayed
    assert ApplicationNotice.objects.filter(kind="payment_receipt").count() == 1

    client = client_for(plan.customer)
    messages = client.get(reverse("portal:notifications")).content.decode()
    assert notice.subject in messages and reverse("collections:my_payment_receipt", args=[payment.pk]) in messages
    page = client.get(reverse("collections:my_plan", args=[plan.pk])).content.decode()
    assert reverse("collections:my_payment_receipt", args=[payment.pk]) in page
    pdf = client.get(reverse("collections:my_payment_receipt", args=[payment.pk]))
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF") and plan.number.encode() in pdf.content
    assert b"150.00" in pdf.content and b"slip desk-1" in pdf.content
    assert f'filename="receipt-{plan.number}-{payment.pk}.pdf"' in pdf["Content-Disposition"]


def test_a_self_service_payment_receipt_says_test_mode(plan, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        intent = pay_through_provider(plan, "99.00", "me-1")
    notice = _receipt(intent.payment)
    assert "Test mode" in notice.body and intent.provider_transaction_id in notice.body
    context = receipts.receipt_context(intent.payment, language="en")
    assert context["test_mode"] and context["channel"] == "Self-service" and context["amount"] == "99.00"


def test_a_rolled_back_payment_has_no_receipt(plan, officer_user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            _officer_pays(plan, officer_user)
            raise RuntimeError("the caller's transaction fails after the payment")
    assert not Payment.objects.exists() and not ApplicationNotice.objects.filter(kind="payment_receipt").exists()


def test_applying_the_credit_balance_gives_no_receipt(plan, officer_user, django_capture_on_commit_callbacks):
    from installments.models import Plan

    Plan.objects.filter(pk=plan.pk).update(credit_balance=D("40.00"))
    plan.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        credit = payments.plan_apply_credit(plan=plan, on_date=days_ago(0))
    assert credit is not None and credit.channel == "credit"
    assert not ApplicationNotice.objects.filter(kind="payment_receipt").exists()


def test_a_chinese_customer_gets_the_receipt_in_chinese(zh_plan, officer_user, client_for,
                                                        django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        payment = _officer_pays(zh_plan, officer_user, amount="200.00")
    notice = _receipt(payment)
    assert notice.language == "zh-hans"
    assert notice.subject == f"收据：已收到分期计划 {zh_plan.number} 的还款 200.00 {zh_plan.currency}"
    assert "王小明您好" in notice.body and "由员工收取" in notice.body and "收据编号" in notice.body
    context = receipts.receipt_context(payment, language="zh-hans")
    assert context["channel"] == "由员工收取" and context["plan_number"] == zh_plan.number
    assert {a["component"] for a in context["allocations"]} <= {"逾期费用", "费用", "利息", "本金"}
    pdf = client_for(zh_plan.customer).get(reverse("collections:my_payment_receipt", args=[payment.pk])).content
    assert pdf.startswith(b"%PDF") and zh_plan.number.encode() in pdf and b"200.00" in pdf
    assert b"STSong-Light" in pdf and b"/Lang (zh-CN)" in pdf  # Chinese set in the CJK font, not Helvetica
    title = re.search(rb"/Title \((.*?)\)\s*/", pdf, re.S)
    assert title and _pdf_text(title.group(1)).startswith("还款收据")


def _pdf_text(literal: bytes) -> str:
    """A PDF literal string (UTF-16BE with BOM, octal or backslash escapes) as text."""
    raw = re.sub(rb"\\([0-7]{1,3}|.)", lambda m: bytes([int(m.group(1), 8)]) if m.group(1)[:1].isdigit()
                 else m.group(1), literal)
    return raw.decode("utf-16") if raw.startswith(b"\xfe\xff") else raw.decode("latin-1")


def test_receipts_reach_only_the_customer_and_staff_who_see_the_plan(plan, officer_user, client_for):
    payment = _officer_pays(plan, officer_user)
    own = reverse("collections:my_payment_receipt", args=[payment.pk])
    staff = reverse("collections:staff_payment_receipt", args=[payment.pk])
    assert client_for(customer_make()).get(own).status_code == 404
    assert client_for(plan.customer).get(staff).status_code == 403
    response = client_for(officer_user).get(staff)
    assert response.status_code == 200 and plan.number.encode() in response.content
    assert staff in client_for(officer_user).get(reverse("collections:staff_plan", args=[plan.pk])).content.decode()
