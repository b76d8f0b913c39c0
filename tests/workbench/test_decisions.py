"""The officers' and approvers' verbs: approve, counter-offer, documents, decline, four-eyes, audit."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction

from config.errors import DomainError
from customers.models import AuditEvent
from customers.roles import Role
from installments.models import Application, Decision, DecisionPolicy, DocumentRequest, Offer
from installments.origination import decisions
from installments.origination.contracts import contract_accept
from tests.factories import workbench_case

State = Application.State
pytestmark = pytest.mark.django_db


def actions_on(application) -> list[str]:
    return list(AuditEvent.objects.filter(target_id=str(application.pk), target_type__model="application")
                .order_by("created_at", "pk").values_list("action", flat=True))


# --- Recommendation ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("grade", "knocked_out", "flags", "expected"), [
    ("A", False, (), "approve"),
    ("E", False, (), "approve"),
    ("F", False, (), "refer"),
    ("B", False, ("same_id_different_name",), "refer"),
    ("G", False, (), "decline"),
    ("B", True, (), "decline"),
])
def test_recommendation_follows_grade_knock_outs_and_flags(grade, knocked_out, flags, expected):
    application = workbench_case(grade=grade, knocked_out=knocked_out, anomaly_flags=flags)
    assert decisions.recommendation_for(application).code == expected


# --- Approve --------------------------------------------------------------------------------------------

def test_approval_under_the_threshold_takes_effect_with_a_contract_and_is_audited(case, officer):
    decision = decisions.application_approve(application=case, by=officer, note="stable job")

    case.refresh_from_db()
    assert decision.status == Decision.Status.FINAL
    assert decision.offer.chosen_at is not None
    assert case.state == State.APPROVED and case.decided_at is not None
    assert case.assigned_officer == officer  # taken into review by the first decider
    contract = case.contracts.get()
    assert contract.version == 1 and contract.offer == decision.offer
    assert actions_on(case)[-3:] == ["application.state", "decision.approve", "application.state"]
    event = AuditEvent.objects.get(action="decision.approve")
    assert event.actor == officer and event.reason == "stable job"
    assert event.data["recommendation"] == "approve" and event.data["four_eyes"] == []
    assert AuditEvent.objects.filter(action="contract.generate", actor=officer).exists()


def test_approval_needs_a_chosen_offer(officer):
    application = workbench_case(chosen=False)
    with pytest.raises(DomainError) as refusal:
        decisions.application_approve(application=application, by=officer)
    assert refusal.value.field == "offer"
    application.refresh_from_db()
    assert application.state == State.SCORED  # nothing changed, not even the review start


def test_approval_above_the_threshold_waits_for_a_second_approver(big_case, officer, approver):
    decision = decisions.application_approve(application=big_case, by=officer)

    big_case.refresh_from_db()
    assert decision.status == Decision.Status.PENDING
    assert decision.four_eyes_reasons == [decisions.FOUR_EYES_AMOUNT]
    assert big_case.state == State.AWAITING_APPROVAL and not big_case.contracts.exists()

    confirmed = decisions.application_confirm(application=big_case, by=approver, note="ok")
    big_case.refresh_from_db()
    assert confirmed.status == Decision.Status.CONFIRMED and confirmed.confirmed_by == approver
    assert big_case.state == State.APPROVED and big_case.contracts.count() == 1
    assert "decision.confirm" in actions_on(big_case)


def test_the_four_eyes_amount_is_configurable_with_an_effective_date(case, officer):
    from datetime import date

    DecisionPolicy.objects.create(four_eyes_amount=Decimal("10000"), effective_from=date(2020, 1, 1))
    DecisionPolicy.objects.create(four_eyes_amount=Decimal("1"), effective_from=date(2999, 1, 1))  # not yet
    decision = decisions.application_approve(application=case, by=officer)
    assert decision.status == Decision.Status.PENDING and decision.decision_policy.four_eyes_amount == 10000


# --- Four-eyes: who may confirm ----------------------------------------------------------------------

def test_the_decider_can_never_be_the_second_approver(big_case, make_user):
    officer_approver = make_user(Role.LOAN_OFFICER, Role.APPROVER)
    decisions.application_approve(application=big_case, by=officer_approver)
    with pytest.raises(DomainError) as refusal:
        decisions.application_confirm(application=big_case, by=officer_approver)
    assert refusal.value.code == "four_eyes"
    big_case.refresh_from_db()
    assert big_case.state == State.AWAITING_APPROVAL


def test_an_officer_cannot_be_the_second_approver_of_their_own_case(make_user, approver):
    owner = make_user(Role.LOAN_OFFICER, Role.APPROVER)
    application = workbench_case(amount="80000", income="60000", assigned_officer=owner)
    decisions.application_approve(application=application, by=approver)  # another approver decides
    with pytest.raises(DomainError):
        decisions.application_confirm(application=application, by=owner)  # the case is owner's


def test_a_loan_officer_without_the_approver_role_cannot_confirm(big_case, officer, make_user):
    decisions.application_approve(application=big_case, by=officer)
    with pytest.raises(PermissionDenied):
        decisions.application_confirm(application=big_case, by=make_user(Role.LOAN_OFFICER))


def test_the_database_refuses_the_same_person_deciding_and_confirming(case, officer):
    decision = Decision.objects.create(application=case, kind="approve", recommendation="approve",
                                       status="final", decided_by=officer)
    decision.confirmed_by = officer
    with pytest.raises(IntegrityError), transaction.atomic():
        decision.save()


def test_the_database_refuses_an_override_without_a_reason(case, officer):
    with pytest.raises(IntegrityError), transaction.atomic():
        Decision.objects.create(application=case, kind="approve", recommendation="decline", is_override=True,
                                status="pending", decided_by=officer)


def test_a_second_confirmation_finds_nothing_pending(big_case, officer, approver, second_approver):
    decisions.application_approve(application=big_case, by=officer)
    decisions.application_confirm(application=big_case, by=approver)
    with pytest.raises(DomainError) as refusal:
        decisions.application_confirm(application=big_case, by=second_approver)
    assert refusal.value.code == "not_pending"
    assert Decision.objects.filter(status=Decision.Status.CONFIRMED).count() == 1


def test_the_second_approver_can_return_the_case_to_review_with_a_note(big_case, officer, approver):
    decisions.application_approve(application=big_case, by=officer)
    with pytest.raises(DomainError):
        decisions.application_confirm(application=big_case, by=approver, approve=False)
    decision = decisions.application_confirm(application=big_case, by=approver, approve=False,
                                             note="verify the income proof first")
    big_case.refresh_from_db()
    assert decision.status == Decision.Status.RETURNED and big_case.state == State.IN_REVIEW
    assert AuditEvent.objects.filter(action="decision.return", reason="verify the income proof first").exists()


# --- Roles and object permissions ------------------------------------------------------------------

@pytest.mark.parametrize("role", [Role.COLLECTOR, Role.MANAGER, Role.CUSTOMER])
def test_collectors_managers_and_customers_cannot_decide(case, make_user, role):
    user = make_user(role)
    for verb in (decisions.application_approve, decisions.application_start_review):
        with pytest.raises(PermissionDenied):
            verb(application=case, by=user)
    with pytest.raises(PermissionDenied):
        decisions.application_decline(application=case, by=user, reason_codes=["affordability"])
    case.refresh_from_db()
    assert case.state == State.SCORED and not Decision.objects.exists()


def test_a_collector_cannot_confirm(big_case, officer, collector):
    decisions.application_approve(application=big_case, by=officer)
    with pytest.raises(PermissionDenied):
        decisions.application_confirm(application=big_case, by=collector)


def test_an_officer_cannot_decide_on_a_colleagues_case_but_an_approver_can(make_user, officer, approver):
    colleague = make_user(Role.LOAN_OFFICER)
    application = workbench_case(assigned_officer=colleague)
    with pytest.raises(PermissionDenied):
        decisions.application_approve(application=application, by=officer)
    assert decisions.application_approve(application=application, by=approver).status == Decision.Status.FINAL


def test_staff_cannot_decide_on_their_own_application(make_user):
    officer = make_user(Role.LOAN_OFFICER, Role.CUSTOMER)
    application = workbench_case(customer=officer, documents=False)
    with pytest.raises(DomainError):
        decisions.application_approve(application=application, by=officer)


# --- Overrides --------------------------------------------------------------------------------------

def test_approving_against_a_decline_recommendation_needs_a_written_reason_and_four_eyes(officer, approver):
    application = workbench_case(grade="G")
    with pytest.raises(DomainError) as refusal:
        decisions.application_approve(application=application, by=officer, override_reason="   ")
    assert refusal.value.field == "override_reason"
    assert not Decision.objects.exists()

    decision = decisions.application_approve(application=application, by=officer,
                                             override_reason="Guarantor and 3 years of on-time payments elsewhere")
    assert decision.is_override and decision.recommendation == "decline"
    assert decision.status == Decision.Status.PENDING  # under the amount, but an override
    assert decision.four_eyes_reasons == [decisions.FOUR_EYES_OVERRIDE]
    event = AuditEvent.objects.get(action="decision.approve")
    assert event.data["override"] is True and "Guarantor" in event.reason
    decisions.application_confirm(application=application, by=approver)
    application.refresh_from_db()
    assert application.state == State.APPROVED


def test_declining_against_an_approve_recommendation_is_an_override(case, officer, approver):
    with pytest.raises(DomainError) as refusal:
        decisions.application_decline(application=case, by=officer, reason_codes=["affordability"])
    assert refusal.value.field == "override_reason"
    decision = decisions.application_decline(application=case, by=officer, reason_codes=["affordability"],
                                             override_reason="Income proof is from a closed employer")
    assert decision.status == Decision.Status.PENDING
    decisions.application_confirm(application=case, by=approver)
    case.refresh_from_db()
    assert case.state == State.DECLINED and case.decided_at is not None


def test_a_referred_case_is_declined_with_reason_codes_without_override(officer):
    application = workbench_case(grade="F")
    decision = decisions.application_decline(application=application, by=officer,
                                             reason_codes=["affordability", "credit_history"], note="DSR 75 %")
    application.refresh_from_db()
    assert decision.status == Decision.Status.FINAL and not decision.is_override
    assert application.state == State.DECLINED
    event = AuditEvent.objects.get(action="application.state", to_state=State.DECLINED)
    assert event.data["reason_codes"] == ["affordability", "credit_history"] and event.actor == officer


def test_a_decline_needs_known_reason_codes(case, officer):
    with pytest.raises(DomainError):
        decisions.application_decline(application=case, by=officer, reason_codes=[])
    with pytest.raises(DomainError):
        decisions.application_decline(application=case, by=officer, reason_codes=["because"])
    with pytest.raises(DomainError) as refusal:
        decisions.application_decline(application=case, by=officer, reason_codes=["other"],
                                      override_reason="x")
    assert refusal.value.field == "note"


# --- Documents --------------------------------------------------------------------------------------

def test_requesting_documents_stores_the_checklist_and_waits_for_the_customer(case, officer):
    request = decisions.application_request_documents(application=case, by=officer,
                                                      message="Please send three months of payslips.",
                                                      kinds=["income_proof", "bank_statement"])
    case.refresh_from_db()
    assert case.state == State.DOCUMENTS_REQUESTED
    assert request.kinds == ["income_proof", "bank_statement"] and request.requested_by == officer
    assert AuditEvent.objects.filter(action="application.state", to_state=State.DOCUMENTS_REQUESTED,
                                     reason="Please send three months of payslips.").exists()

    decisions.application_start_review(application=case, by=officer)
    case.refresh_from_db()
    request.refresh_from_db()
    assert case.state == State.IN_REVIEW and request.resolved_by == officer


@pytest.mark.parametrize(("message", "kinds", "field"), [
    ("", ["income_proof"], "message"), ("Please", [], "kinds"), ("Please", ["selfie"], "kinds")])
def test_a_document_request_needs_a_message_and_known_kinds(case, officer, message, kinds, field):
    with pytest.raises(DomainError) as refusal:
        decisions.application_request_documents(application=case, by=officer, message=message, kinds=kinds)
    assert refusal.value.field == field
    assert not DocumentRequest.objects.exists()


# --- Counter-offer ---------------------------------------------------------------------------------------

def test_a_counter_offer_is_re_disclosed_and_accepted_by_the_customer_with_the_contract(case, officer):
    original = Offer.objects.get(application=case, chosen_at__isnull=False)
    decision = decisions.application_counter_offer(application=case, by=officer, amount=Decimal("15000"),
                                                   term_months=18, annual_rate=Decimal("11"), note="lower amount")
    counter = decision.offer
    assert decision.kind == Decision.Kind.COUNTER_OFFER and decision.status == Decision.Status.FINAL
    assert counter.is_counter_offer and counter.pk != original.pk
    # Its own full disclosure: schedule summing to the amount, APR above the rate (the 1 % fee), totals.
    rows = counter.schedule["installments"]
    assert len(rows) == 18 and sum(Decimal(r["principal"]) for r in rows) == Decimal("15000.00")
    assert counter.apr > counter.annual_rate == Decimal("11")
    assert counter.total_fees == Decimal("150.00")
    assert counter.total_payable == Decimal("15000") + counter.total_interest + counter.total_fees
    case.refresh_from_db()
    contract = case.contracts.get()
    assert case.state == State.APPROVED and contract.offer == counter
    assert contract.disclosure["counter_offer"] is True and contract.disclosure["apr"] == f"{counter.apr:.2f}"

    accepted = contract_accept(contract=contract, by=case.customer, ip_address="203.0.113.9")
    case.refresh_from_db()
    counter.refresh_from_db()
    original.refresh_from_db()
    assert case.state == State.CONTRACTED
    assert accepted.accepted_at is not None and accepted.accepted_ip == "203.0.113.9"
    assert counter.chosen_at is not None and original.chosen_at is None
    event = AuditEvent.objects.get(action="contract.accept")
    assert event.ip_address == "203.0.113.9" and event.data["version"] == 1
    assert event.data["sha256"] == contract.content_sha256 and event.data["counter_offer"] is True


@pytest.mark.parametrize(("amount", "term", "rate", "field"), [
    ("150000", 12, "10", "amount"),      # over grade B's limit of 100,000
    ("500", 12, "10", "amount"),         # under the product minimum
    ("15000", 48, "10", "term_months"),  # over the longest term
    ("15000", 12, "7", "annual_rate"),   # more than 2 points under the priced 10 %
    ("15000", 12, "30", "annual_rate"),  # over the 24 % cap
    # 30,000 a month on 20,000 of income: unaffordable, so not without an override reason (test_decision_gates)
    ("90000", 3, "10", "override_reason"),
])
def test_a_counter_offer_must_stay_within_policy(case, officer, amount, term, rate, field):
    with pytest.raises(DomainError) as refusal:
        decisions.application_counter_offer(application=case, by=officer, amount=Decimal(amount),
                                            term_months=term, annual_rate=Decimal(rate))
    assert refusal.value.field == field
    assert not Offer.objects.filter(is_counter_offer=True).exists() and not Decision.objects.exists()


def test_a_large_counter_offer_waits_for_four_eyes_before_the_customer_sees_a_contract(big_case, officer, approver):
    decision = decisions.application_counter_offer(application=big_case, by=officer, amount=Decimal("60000"),
                                                   term_months=24, annual_rate=Decimal("10"))
    assert decision.status == Decision.Status.PENDING and not big_case.contracts.exists()
    decisions.application_confirm(application=big_case, by=approver)
    assert big_case.contracts.get().offer == decision.offer


def test_the_customer_side_reads_open_document_requests_and_plain_decline_reasons(case, officer):
    decisions.application_request_documents(application=case, by=officer, message="Payslips please",
                                            kinds=["income_proof"])
    assert [r.message for r in decisions.document_requests_open_for_customer(case.customer)] == ["Payslips please"]
    declined = workbench_case(grade="F")
    decisions.application_decline(application=declined, by=officer, reason_codes=["affordability", "documents"])
    assert decisions.decline_reasons_for_customer(declined) == [
        "The repayments would take too large a share of your income.", "We could not verify the documents we need."]
    assert decisions.decline_reasons_for_customer(declined, language="zh-hans")[0] == "还款额占您收入的比例过高。"
