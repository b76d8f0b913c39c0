"""Contracts: versioned, with the full disclosure, in the customer's language, as HTML and PDF;
accepted by the customer with time, IP and exact version; activation turns one into a plan."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from config.errors import DomainError
from installments.models import Application, Contract, Plan
from installments.origination import decisions
from installments.origination.contracts import contract_accept, contract_generate, contract_pdf, fingerprint
from tests.factories import workbench_case

State = Application.State
pytestmark = pytest.mark.django_db


def pdf_text(data: bytes) -> str:
    """The text shown by the PDF's (uncompressed) content streams: the strings of its Tj operators."""
    assert data.startswith(b"%PDF-")
    return " ".join(s.decode("latin-1") for s in re.findall(rb"\((.*?)(?<!\\)\)\s*Tj", data))


@pytest.fixture
def approved(case, officer):
    decisions.application_approve(application=case, by=officer)
    case.refresh_from_db()
    return case


def test_the_contract_discloses_every_cost_of_the_approved_offer(approved):
    contract = approved.contracts.get()
    offer = contract.offer
    d = contract.disclosure
    assert d["apr"] == f"{offer.apr:.2f}" and d["effective_annual_rate"] == f"{offer.effective_annual_rate:.2f}"
    assert d["total_payable"] == f"{offer.total_payable:.2f}" and d["total_interest"] == f"{offer.total_interest:.2f}"
    assert d["fees"] == [{"code": "upfront", "amount": "200.00", "count": 1, "total": "200.00", "financed": False}]
    assert d["net_disbursed"] == "19800.00" and len(d["installments"]) == 12
    assert d["late_payment"] == {"late_fee": "30.00", "penalty_rate": "12.00", "penalty_rate_applied": "12.00",
                                 "cap_rate": "24.00", "grace_days": 0,
                                 "allocation_order": ["penalty", "fee", "interest", "principal"]}
    assert d["early_payoff"]["interest_rebate"] is True
    html = contract.content_html
    assert contract.content_sha256 == fingerprint(html)
    for text in (f"{d['apr']}%", "Total payable", "Late fee", "Early repayment", "19,800.00", "Arrangement fee",
                 d["installments"][-1]["due_date"]):
        assert text in html
    assert contract.language == "en" and "Installment Loan Agreement" in html


def test_a_chinese_speaking_customer_gets_the_contract_in_chinese(officer):
    application = workbench_case(language="zh-hans")
    decisions.application_approve(application=application, by=officer)
    contract = application.contracts.get()
    assert contract.language == "zh-hans"
    assert "分期借款合同" in contract.content_html and "年化费率（APR）" in contract.content_html
    assert contract.disclosure["product"]["name"] == "消费分期"
    assert f"{contract.offer.apr:.2f}%" in pdf_text(contract_pdf(contract))


def test_the_pdf_shows_the_right_apr_and_totals(approved):
    contract = approved.contracts.get()
    text = pdf_text(contract_pdf(contract))
    assert f"{contract.offer.apr:.2f}%" in text
    assert f"{contract.disclosure['total_payable']} CNY" in text
    assert "Annual percentage rate \\(APR\\)" in text and "Late payment" in text
    assert "late charges, fees, interest, principal" in text
    assert approved.number in text


def test_a_new_version_can_be_made_until_the_customer_accepts_and_only_the_latest_is_accepted(approved, officer):
    first = approved.contracts.get()
    second = contract_generate(application=approved, by=officer, language="zh-hans")
    assert second.version == 2 and second.language == "zh-hans"
    with pytest.raises(DomainError) as refusal:
        contract_accept(contract=first, by=approved.customer, ip_address="198.51.100.1")
    assert refusal.value.code == "stale_contract"
    contract_accept(contract=second, by=approved.customer, ip_address="198.51.100.1")
    with pytest.raises(DomainError) as refusal:
        contract_accept(contract=second, by=approved.customer, ip_address="198.51.100.1")
    assert refusal.value.code == "already_accepted"
    with pytest.raises(DomainError):
        contract_generate(application=approved, by=officer)


def test_only_the_customer_accepts_and_a_changed_text_cannot_be_accepted(approved, officer, make_user):
    contract = approved.contracts.get()
    for someone in (officer, make_user("customer")):
        with pytest.raises(PermissionDenied):
            contract_accept(contract=contract, by=someone, ip_address=None)
    Contract.objects.filter(pk=contract.pk).update(content_html=contract.content_html.replace("24.00%", "2.40%"))
    contract.refresh_from_db()
    with pytest.raises(DomainError) as refusal:
        contract_accept(contract=contract, by=approved.customer, ip_address=None)
    assert refusal.value.code == "tampered"
    approved.refresh_from_db()
    assert approved.state == State.APPROVED


def test_a_contract_is_only_made_for_an_approved_application(case, officer):
    with pytest.raises(DomainError):
        contract_generate(application=case, by=officer)


def test_activation_turns_the_accepted_contract_into_an_active_plan(approved, officer, client_for):
    contract = contract_accept(contract=approved.contracts.get(), by=approved.customer, ip_address="192.0.2.7")
    response = client_for(officer).post(f"/staff/applications/{approved.pk}/activate/",
                                        {"disbursement_date": (timezone.localdate() + timedelta(days=1)).isoformat()})
    assert response.status_code == 400 and b"future" in response.content
    response = client_for(officer).post(f"/staff/applications/{approved.pk}/activate/",
                                        {"disbursement_date": timezone.localdate().isoformat()})
    assert response.status_code == 302
    plan = Plan.objects.get(application=approved)
    approved.refresh_from_db()
    assert approved.state == State.ACTIVE and plan.contract == contract
    assert plan.principal == Decimal("20000.00") and plan.installments.count() == 12
