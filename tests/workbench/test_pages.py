"""The workbench pages: who may open them, the queue's filters and search, htmx partials, the
application page, decisions through the forms, contracts, approvals and productivity."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from customers.models import AuditEvent, CustomerDocument, CustomerProfile
from customers.pii import decrypt
from customers.roles import Role
from installments.models import Application, Decision
from installments.origination import decisions
from tests.factories import WorkbenchProductFactory, workbench_case

State = Application.State
pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def workbench_urls(application) -> list[tuple[str, str]]:
    """(method, url) of every workbench page and action for one application."""
    document = CustomerDocument.objects.filter(profile__user=application.customer).first()
    pk = application.pk
    return [
        ("get", reverse("workbench_queue")),
        ("get", reverse("workbench_approvals")),
        ("get", reverse("workbench_productivity")),
        ("get", reverse("workbench_application", args=[pk])),
        ("get", reverse("workbench_contract", args=[pk])),
        ("get", reverse("workbench_document_inline", args=[pk, document.pk])),
        ("post", reverse("workbench_assign", args=[pk])),
        ("post", reverse("workbench_start_review", args=[pk])),
        ("post", reverse("workbench_request_documents", args=[pk])),
        ("post", reverse("workbench_approve", args=[pk])),
        ("post", reverse("workbench_counter_offer", args=[pk])),
        ("post", reverse("workbench_decline", args=[pk])),
        ("post", reverse("workbench_confirm", args=[pk])),
        ("post", reverse("workbench_offer_choose", args=[pk, application.offers.first().pk])),
        ("post", reverse("workbench_document_review", args=[pk, document.pk])),
        ("post", reverse("workbench_interview_note_add", args=[pk])),
        ("post", reverse("workbench_contract_regenerate", args=[pk])),
        ("post", reverse("workbench_activate", args=[pk])),
        ("get", reverse("workbench_contract_pdf", args=[pk, 1])),
    ]


# --- Who may open the workbench ---------------------------------------------------------------------

@pytest.mark.parametrize("role", [Role.CUSTOMER, Role.COLLECTOR])
def test_customers_and_collectors_get_403_everywhere(case, make_user, client_for, role):
    client = client_for(make_user(role))
    for method, url in workbench_urls(case):
        response = getattr(client, method)(url, {"officer": "me", "to": "verified", "action": "confirm"})
        assert response.status_code == 403, (method, url)
    case.refresh_from_db()
    assert case.state == State.SCORED and case.assigned_officer is None and not Decision.objects.exists()


def test_even_the_applicant_gets_403_on_their_own_application(case, client_for):
    client = client_for(case.customer)
    assert client.get(reverse("workbench_application", args=[case.pk])).status_code == 403
    assert client.post(reverse("workbench_approve", args=[case.pk])).status_code == 403


def test_anonymous_visitors_are_sent_to_log_in(case, client):
    for method, url in workbench_urls(case):
        response = getattr(client, method)(url)
        assert response.status_code == 302 and "/accounts/login/" in response.url, url


def test_a_collector_cannot_approve_through_the_page(case, collector, client_for):
    response = client_for(collector).post(reverse("workbench_approve", args=[case.pk]), {"note": "ok"})
    assert response.status_code == 403
    case.refresh_from_db()
    assert case.state == State.SCORED


def test_a_manager_sees_but_cannot_decide(case, manager, client_for):
    client = client_for(manager)
    assert client.get(reverse("workbench_application", args=[case.pk])).status_code == 200
    assert client.post(reverse("workbench_approve", args=[case.pk]), {}).status_code == 403


def test_an_officer_cannot_confirm_their_own_decision_through_the_page(big_case, make_user, client_for):
    officer_approver = make_user(Role.LOAN_OFFICER, Role.APPROVER)
    decisions.application_approve(application=big_case, by=officer_approver)
    client = client_for(officer_approver)
    page = client.get(reverse("workbench_application", args=[big_case.pk]))
    assert b'id="confirm-form"' not in page.content
    response = client.post(reverse("workbench_confirm", args=[big_case.pk]), {"action": "confirm"})
    assert response.status_code == 400 and "someone else" in response.content.decode()
    big_case.refresh_from_db()
    assert big_case.state == State.AWAITING_APPROVAL


# --- The work queue ------------------------------------------------------------------------------

@pytest.fixture
def queue_cases(officer):
    """Five scored cases that differ in grade, amount, product, age, officer and customer."""
    other_product = WorkbenchProductFactory(code="workbench-education", name="Education")
    return {
        "wang": workbench_case(grade="A", amount="12000", full_name="Wang Fang", documents=False,
                               phone="13900000001"),
        "li": workbench_case(grade="C", amount="45000", full_name="Li Lei", documents=False,
                             age=timedelta(hours=60), assigned_officer=officer),
        "zhao": workbench_case(grade="E", amount="30000", full_name="Zhao Min", documents=False,
                               age=timedelta(days=8)),
        "chen": workbench_case(grade="C", amount="8000", full_name="Chen Jie", documents=False),
        "sun": workbench_case(grade="B", amount="60000", full_name="Sun Li", documents=False, income="50000"),
        "other_product": other_product,
    }


def queue_numbers(client, **params) -> set[str]:
    response = client.get(reverse("workbench_queue"), params)
    assert response.status_code == 200
    return {application.number for application in response.context["page"].object_list}


def test_the_queue_filters_by_grade_amount_product_age_and_officer(queue_cases, officer, client_for):
    client = client_for(officer)
    n = {key: case.number for key, case in queue_cases.items() if key != "other_product"}
    assert queue_numbers(client, tab="scored") == set(n.values())
    assert queue_numbers(client, tab="scored", grade=["C"]) == {n["li"], n["chen"]}
    assert queue_numbers(client, tab="scored", grade=["A", "E"]) == {n["wang"], n["zhao"]}
    assert queue_numbers(client, tab="scored", amount_min="20000", amount_max="50000") == {n["li"], n["zhao"]}
    assert queue_numbers(client, tab="scored", age="3d") == {n["zhao"]}
    assert queue_numbers(client, tab="scored", age="overdue") == {n["li"], n["zhao"]}
    assert queue_numbers(client, tab="scored", officer="me") == {n["li"]}
    assert queue_numbers(client, tab="scored", officer="none") == set(n.values()) - {n["li"]}
    assert queue_numbers(client, tab="scored", officer=str(officer.pk)) == {n["li"]}
    Application.objects.filter(number=n["chen"]).update(product=queue_cases["other_product"])
    assert queue_numbers(client, tab="scored", product=str(queue_cases["other_product"].pk)) == {n["chen"]}


def test_the_queue_sorts(queue_cases, officer, client_for):
    client = client_for(officer)
    page = client.get(reverse("workbench_queue"), {"tab": "scored", "sort": "-amount"}).context["page"]
    amounts = [a.amount for a in page.object_list]
    assert amounts == sorted(amounts, reverse=True)
    page = client.get(reverse("workbench_queue"), {"tab": "scored"}).context["page"]
    assert page.object_list[0].number == queue_cases["zhao"].number  # oldest first by default


def test_the_queue_searches_name_number_phone_masked_id_and_exact_id(queue_cases, officer, client_for):
    client = client_for(officer)
    wang = queue_cases["wang"]
    profile = CustomerProfile.objects.get(user=wang.customer)
    assert queue_numbers(client, tab="scored", q="wang fa") == {wang.number}
    assert queue_numbers(client, tab="scored", q=wang.number.lower()) == {wang.number}
    assert queue_numbers(client, tab="scored", q="13900000001") == {wang.number}
    assert wang.number in queue_numbers(client, tab="scored", q=profile.id_number_masked)
    assert queue_numbers(client, tab="scored", q=decrypt(profile.id_number_encrypted)) == {wang.number}
    assert queue_numbers(client, tab="scored", q="nobody at all") == set()


def test_the_queue_shows_tabs_counts_sla_age_and_highlights_overdue_reviews(queue_cases, officer, client_for):
    response = client_for(officer).get(reverse("workbench_queue"), {"tab": "scored"})
    html = response.content.decode()
    assert "Scored <span" in html and ">5</span>" in html
    zhao, wang = queue_cases["zhao"], queue_cases["wang"]
    row = html[html.index(f'id="queue-row-{zhao.pk}"') - 20:]
    assert 'class="sla-overdue"' in row[:120] and "overdue" in row[:2000]
    wang_row = html[html.index(f'id="queue-row-{wang.pk}"') - 20:]
    assert "sla-overdue" not in wang_row[:120]


def test_the_queue_answers_htmx_with_the_results_only(queue_cases, officer, client_for):
    response = client_for(officer).get(reverse("workbench_queue"), {"tab": "scored", "grade": ["A"]},
                                       HTTP_HX_TARGET="queue-results", **HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="queue-results">') and "<nav" not in html.split("queue-results")[0]
    assert queue_cases["wang"].number in html and queue_cases["li"].number not in html


def test_the_queue_reads_the_same_number_of_queries_for_one_row_or_many(officer, client_for):
    """Every column a row shows comes with the page's one read (no query per row, e.g. for a
    column left out of the queue's field list); the rows show the customer, grade and officer."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_for(officer)
    first = workbench_case(full_name="Zhou Yi", assigned_officer=officer)

    def page_queries() -> tuple[int, str]:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(reverse("workbench_queue"), {"tab": "scored"})
        assert response.status_code == 200
        return len(captured), response.content.decode()

    page_queries()  # the first request of a session also fills per-process caches
    one, _ = page_queries()
    others = [workbench_case(grade=grade, full_name=f"Customer {grade}") for grade in "ACDE"]
    many, html = page_queries()
    assert many == one
    row = html[html.index(f'id="queue-row-{first.pk}"'):]
    row = row[:row.index("</tr>")]
    assert "Zhou Yi" in row and first.customer.profile.id_number_masked in row
    assert f">{first.score_result.grade}</span>" in row and officer.get_full_name() in row
    assert all(f'id="queue-row-{other.pk}"' in html for other in others)


def test_the_queue_paginates(officer, client_for):
    for _ in range(27):
        workbench_case(documents=False)
    client = client_for(officer)
    first = client.get(reverse("workbench_queue"), {"tab": "scored"}).context["page"]
    second = client.get(reverse("workbench_queue"), {"tab": "scored", "page": 2}).context["page"]
    assert len(first.object_list) == 25 and len(second.object_list) == 2


def test_assign_to_me_and_to_a_colleague_by_htmx(case, officer, make_user, client_for):
    colleague = make_user(Role.LOAN_OFFICER, full_name="Colleague Gao")
    client = client_for(officer)
    response = client.post(reverse("workbench_assign", args=[case.pk]), {"officer": "me", "context": "queue"}, **HTMX)
    assert response.status_code == 200 and f'id="queue-row-{case.pk}"' in response.content.decode()
    case.refresh_from_db()
    assert case.assigned_officer == officer
    response = client.post(reverse("workbench_assign", args=[case.pk]), {"officer": colleague.pk}, **HTMX)
    assert 'id="assignment"' in response.content.decode() and "Colleague Gao" in response.content.decode()
    case.refresh_from_db()
    assert case.assigned_officer == colleague
    assert AuditEvent.objects.filter(action="application.assign", actor=officer).count() == 2


def test_nobody_is_assigned_a_case_outside_the_officer_roles(case, officer, collector, client_for):
    response = client_for(officer).post(reverse("workbench_assign", args=[case.pk]), {"officer": collector.pk},
                                        **HTMX)
    assert "Choose a colleague" in response.content.decode()
    case.refresh_from_db()
    assert case.assigned_officer is None


# --- The application page ----------------------------------------------------------------------------

def test_the_application_page_shows_the_whole_picture(case, officer, client_for):
    from customers.models import InterviewNote, StatementSummary

    profile = CustomerProfile.objects.get(user=case.customer)
    StatementSummary.objects.create(
        profile=profile, original_filename="statement.csv", file_sha256="a" * 64, period_start="2026-01-01",
        period_end="2026-03-31", months_covered=3, transaction_count=60, average_monthly_inflow=Decimal("21000"),
        average_monthly_outflow=Decimal("15000"), income_regularity=Decimal("1"), income_volatility=Decimal("0.05"),
        overdraft_days=0, summary={"monthly": [{"month": "2026-01", "inflow": "21000.00", "outflow": "15500.00",
                                                "salary_like": True}],
                                   "seasonal_high_months": [], "seasonal_low_months": [],
                                   "category_shares": {"groceries": "0.5"}})
    InterviewNote.objects.create(profile=profile, author=officer, text="Stable employer, met in branch.",
                                 stability_rating=4, willingness_rating=5)
    previous = workbench_case(customer=case.customer, state="declined", grade="E")
    response = client_for(officer).get(reverse("workbench_application", args=[case.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    for text in (profile.full_name, profile.id_number_masked, "Debt-to-income", "20,000.00",  # profile, finances
                 'id="statement-chart"', "statement-chart-data", "2026-01",  # statement and its chart data
                 "id-front.png", "payslip.pdf", "js-view-document", "Verify",  # documents and the viewer
                 'id="score-grade">B<', "Long requested term", "Approve",  # score, reason codes, recommendation
                 "Plan A", "Plan B", "chosen", "APR",  # offers
                 previous.number, "Stable employer, met in branch.",  # history, interview notes
                 "Audit timeline", "document.upload"):  # timeline
        assert text in html, text
    assert "<script>" not in html.replace("<script src=", "")  # CSP: no inline script


def test_verify_a_document_inline_by_htmx_and_see_it_on_the_timeline(case, officer, client_for):
    document = CustomerDocument.objects.get(profile__user=case.customer, kind="income_proof")
    client = client_for(officer)
    url = reverse("workbench_document_review", args=[case.pk, document.pk])
    response = client.post(url, {"to": "rejected", "reason": ""}, **HTMX)
    assert "Give the reason" in response.content.decode()
    response = client.post(url, {"to": "verified"}, **HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith(f'<tr id="wb-document-{document.pk}"') and "Verified" in html
    document.refresh_from_db()
    assert document.review_state == "verified" and document.reviewed_by == officer
    page = client.get(reverse("workbench_application", args=[case.pk])).content.decode()
    assert "customerdocument.review_state" in page


def test_the_inline_viewer_serves_the_document_to_our_own_frames_only(case, officer, client_for):
    document = CustomerDocument.objects.get(profile__user=case.customer, kind="income_proof")
    response = client_for(officer).get(reverse("workbench_document_inline", args=[case.pk, document.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("inline")
    assert response["X-Frame-Options"] == "SAMEORIGIN" and "frame-ancestors 'self'" in response["Content-Security-Policy"]
    assert b"".join(response.streaming_content).startswith(b"%PDF-")
    assert AuditEvent.objects.filter(action="document.download", actor=officer).exists()
    other = workbench_case()
    response = client_for(officer).get(reverse("workbench_document_inline", args=[other.pk, document.pk]))
    assert response.status_code == 404


def test_add_an_interview_note_by_htmx(case, officer, client_for):
    response = client_for(officer).post(reverse("workbench_interview_note_add", args=[case.pk]), {
        "text": "Confirmed employment by phone.", "stability_rating": 4, "willingness_rating": 4}, **HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="notes"') and "Confirmed employment by phone." in html
    assert AuditEvent.objects.filter(action="profile.interview_note", actor=officer).exists()


def test_the_officer_can_choose_an_offer_for_the_customer(officer, client_for):
    application = workbench_case(chosen=False)
    offer = application.offers.order_by("rank").last()
    client_for(officer).post(reverse("workbench_offer_choose", args=[application.pk, offer.pk]))
    offer.refresh_from_db()
    assert offer.chosen_by == officer


# --- Decisions through the forms -----------------------------------------------------------------------

def test_approve_through_the_page_and_see_it_on_the_timeline(case, officer, client_for):
    client = client_for(officer)
    response = client.post(reverse("workbench_approve", args=[case.pk]), {"note": "All documents verified."})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.state == State.APPROVED
    html = client.get(reverse("workbench_application", args=[case.pk])).content.decode()
    assert "decision.approve" in html and "All documents verified." in html and 'id="contract-link"' in html


def test_an_override_without_a_reason_is_shown_next_to_the_field_and_changes_nothing(officer, client_for):
    application = workbench_case(grade="G")
    response = client_for(officer).post(reverse("workbench_approve", args=[application.pk]), {"note": "x"})
    assert response.status_code == 400
    form = response.context["approve_form"]
    assert "override_reason" in form.errors and "recommendation" in form.errors["override_reason"][0]
    assert b'id="approve-action" open' in response.content
    application.refresh_from_db()
    assert application.state == State.SCORED and not Decision.objects.exists()


def test_counter_offer_decline_and_documents_through_the_page(officer, client_for):
    client = client_for(officer)
    first, second, third = workbench_case(), workbench_case(grade="F"), workbench_case()
    response = client.post(reverse("workbench_counter_offer", args=[first.pk]), {
        "amount": "150000", "term_months": 12, "annual_rate": "10", "method": "annuity"})
    assert response.status_code == 400 and "amount" in response.context["counter_form"].errors
    response = client.post(reverse("workbench_counter_offer", args=[first.pk]), {
        "amount": "15000", "term_months": 18, "annual_rate": "11", "method": "annuity"})
    assert response.status_code == 302 and first.offers.filter(is_counter_offer=True).exists()
    response = client.post(reverse("workbench_decline", args=[second.pk]), {"reason_codes": ["affordability"]})
    assert response.status_code == 302
    response = client.post(reverse("workbench_request_documents", args=[third.pk]), {
        "kinds": ["bank_statement"], "message": "Please upload your last 6 months of statements."})
    assert response.status_code == 302
    states = dict(Application.objects.filter(pk__in=[first.pk, second.pk, third.pk]).values_list("pk", "state"))
    assert states == {first.pk: State.APPROVED, second.pk: State.DECLINED, third.pk: State.DOCUMENTS_REQUESTED}
    page = client.get(reverse("workbench_application", args=[third.pk])).content.decode()
    assert "Please upload your last 6 months of statements." in page and "Bank statement" in page


def test_the_approver_confirms_from_the_approvals_queue(big_case, officer, approver, client_for):
    decisions.application_approve(application=big_case, by=officer)
    client = client_for(approver)
    html = client.get(reverse("workbench_approvals")).content.decode()
    assert big_case.number in html and "Review and confirm" in html
    page = client.get(reverse("workbench_application", args=[big_case.pk])).content.decode()
    assert 'id="confirm-form"' in page
    response = client.post(reverse("workbench_confirm", args=[big_case.pk]), {"action": "confirm", "note": "fine"})
    assert response.status_code == 302
    big_case.refresh_from_db()
    assert big_case.state == State.APPROVED
    assert "Nothing is waiting" in client.get(reverse("workbench_approvals")).content.decode()
    officer_view = client_for(officer).get(reverse("workbench_approvals")).content.decode()
    assert "Review and confirm" not in officer_view


# --- Contract pages ------------------------------------------------------------------------------------

def test_contract_page_and_pdf_download_show_the_apr(case, officer, client_for):
    decisions.application_approve(application=case, by=officer)
    contract = case.contracts.get()
    client = client_for(officer)
    html = client.get(reverse("workbench_contract", args=[case.pk])).content.decode()
    apr = f"{contract.offer.apr:.2f}%"
    assert apr in html and contract.content_sha256 in html and "matches" in html
    response = client.get(reverse("workbench_contract_pdf", args=[case.pk, contract.pk]))
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="contract-{case.number}-v1.pdf"'
    assert f"({apr})".encode() in response.content
    response = client.post(reverse("workbench_contract_regenerate", args=[case.pk]), {"language": "zh-hans"})
    assert case.contracts.count() == 2 and case.contracts.get(version=2).language == "zh-hans"


# --- Productivity --------------------------------------------------------------------------------------

def test_productivity_shows_my_queue_decisions_this_week_and_average_time_to_decision(officer, approver,
                                                                                      client_for):
    mine = workbench_case(assigned_officer=officer, documents=False)
    decided = workbench_case(documents=False, age=timedelta(hours=10))
    decisions.application_approve(application=decided, by=officer)
    workbench_case(documents=False, assigned_officer=officer, state="in_review")
    response = client_for(officer).get(reverse("workbench_productivity"))
    context = response.context
    assert context["my_queue_total"] == 2 and context["week_decisions"] == 1
    assert context["average_time"].startswith("10 h")
    assert mine.number not in response.content.decode()  # counts, not cases
    team = client_for(approver).get(reverse("workbench_productivity")).context["team"]
    row = next(r for r in team if r["user"] == officer)
    assert row["queue"] == 2 and row["week"] == 1


# --- Admin and the customer's full ID from the application page -------------------------------------

def test_admins_set_the_decision_policy_but_never_rewrite_one_in_force(client_for, make_user):
    from datetime import date

    from django.utils import timezone

    from installments.models import DecisionPolicy

    admin = make_user(Role.ADMIN, is_staff=True, is_superuser=True)
    client = client_for(admin)
    tomorrow = timezone.localdate() + timedelta(days=1)
    response = client.post(reverse("admin:installments_decisionpolicy_add"), {
        "effective_from": tomorrow.isoformat(), "four_eyes_amount": "30000", "review_sla_hours": "24",
        "max_rate_discount": "1", "reason": "Tighter control in the holiday season"})
    assert response.status_code == 302
    policy = DecisionPolicy.objects.get()
    assert policy.created_by == admin and decisions.decision_policy_in_force(tomorrow) == policy
    assert AuditEvent.objects.filter(action="decision_policy.create", actor=admin).exists()
    past = DecisionPolicy.objects.create(four_eyes_amount=Decimal("1"), effective_from=date(2020, 1, 1))
    response = client.post(reverse("admin:installments_decisionpolicy_change", args=[past.pk]), {
        "effective_from": "2020-01-01", "four_eyes_amount": "999999", "review_sla_hours": "24",
        "max_rate_discount": "1"})
    past.refresh_from_db()
    assert past.four_eyes_amount == Decimal("1")
    for name in ("decision", "documentrequest"):
        assert client.get(reverse(f"admin:installments_{name}_changelist")).status_code == 200


def test_the_full_id_is_revealed_from_the_application_page_and_the_view_is_recorded(case, officer, client_for):
    profile = CustomerProfile.objects.get(user=case.customer)
    response = client_for(officer).post(reverse("staff_reveal_id", args=[profile.pk]),
                                        {"reason": f"application review {case.number}"}, **HTMX)
    assert decrypt(profile.id_number_encrypted) in response.content.decode()
    assert AuditEvent.objects.filter(action="pii.view_full_id", actor=officer,
                                     reason=f"application review {case.number}").exists()


def test_every_page_renders_in_simplified_chinese(big_case, officer, approver, client_for, settings):
    decisions.application_approve(application=big_case, by=officer)
    client = client_for(approver)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    for url in (reverse("workbench_queue") + "?tab=awaiting_approval", reverse("workbench_approvals"),
                reverse("workbench_productivity"), reverse("workbench_application", args=[big_case.pk])):
        response = client.get(url)
        assert response.status_code == 200 and 'lang="zh-hans"' in response.content.decode(), url
    decisions.application_confirm(application=big_case, by=approver)
    assert client.get(reverse("workbench_contract", args=[big_case.pk])).status_code == 200
