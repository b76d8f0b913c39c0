"""Pages and API: customers see only their own plans, collectors only their assigned cases; the
payment API is idempotent by header; the workbench and analysis pages work."""

import uuid
from decimal import Decimal

import pytest
from django.urls import reverse

from collections_app.collections import cases, cob
from collections_app.models import AssignmentRule, CollectionCase, ContactLog, Payment, PromiseToPay, ServicingRequest
from customers.roles import Role
from installments.models import Plan
from tests.collections_app.factories import customer_make, days_ago, plan_active, plan_by_hand, staff_make

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def book(officer_user):
    """Two customers' plans, both overdue, cases assigned to two different collectors."""
    first_collector, second_collector = staff_make(Role.COLLECTOR), staff_make(Role.COLLECTOR)
    AssignmentRule.objects.create(bucket="1-30", collector=first_collector)
    AssignmentRule.objects.create(bucket="31-60", collector=second_collector)
    mine = plan_active(disbursed=days_ago(40), amount="6000", term=6, by=officer_user)
    theirs = plan_active(disbursed=days_ago(70), amount="3000", term=6, by=officer_user)
    cob.run_cob(days_ago(1))
    return {"mine": mine, "theirs": theirs, "first_collector": first_collector, "second_collector": second_collector,
            "mine_case": CollectionCase.objects.get(plan=mine), "theirs_case": CollectionCase.objects.get(plan=theirs)}


# --- Customer pages ---------------------------------------------------------------------------------

def test_a_customer_sees_their_plans_and_never_anothers(client_for, book):
    mine, theirs = book["mine"], book["theirs"]
    client = client_for(mine.customer)
    page = client.get(reverse("collections:my_plans"))
    assert page.status_code == 200 and mine.number in page.content.decode() and theirs.number not in page.content.decode()
    assert client.get(reverse("collections:my_plan", args=[mine.pk])).status_code == 200
    assert client.get(reverse("collections:my_plan", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("collections:my_plan_pay", args=[theirs.pk]), {
        "amount": "10", "overpayment": "credit", "idempotency_key": "x"}).status_code == 404
    assert client.get(reverse("collections:staff_plan", args=[mine.pk])).status_code == 403
    assert client.get(reverse("collections:queue")).status_code == 403


def test_the_plan_page_pays_through_the_provider_once_per_form_key_and_quotes_a_payoff(client_for, book):
    plan = book["mine"]
    client = client_for(plan.customer)
    page = client.get(reverse("collections:my_plan", args=[plan.pk]))
    assert 'id="test-mode-notice"' in page.content.decode()
    key = page.context["pay_form"].initial["idempotency_key"]
    form = {"amount": "100.00", "overpayment": "credit", "idempotency_key": key}
    no_card = client.post(reverse("collections:my_plan_pay", args=[plan.pk]), form)
    assert no_card.status_code == 400 and "card_number" in no_card.context["pay_form"].errors
    assert not Payment.objects.filter(plan=plan).exists()  # no provider, no payment
    form["card_number"] = "4111 1111 1111 1111"
    assert client.post(reverse("collections:my_plan_pay", args=[plan.pk]), form).status_code == 302
    assert client.post(reverse("collections:my_plan_pay", args=[plan.pk]), form).status_code == 302  # resubmitted
    assert Payment.objects.filter(plan=plan).count() == 1
    payment = Payment.objects.get(plan=plan)
    assert payment.channel == Payment.Channel.SELF_SERVICE and payment.reference.startswith("simulated:SIM-")
    assert payment.intent.status == "authorised"
    bad = client.post(reverse("collections:my_plan_pay", args=[plan.pk]), {**form, "amount": "-1",
                                                                          "idempotency_key": "other"})
    assert bad.status_code == 400
    quote = client.get(reverse("collections:my_plan", args=[plan.pk]), {"on_date": days_ago(-2).isoformat()})
    assert quote.context["quote"].total > 0 and 'id="payoff-quote"' in quote.content.decode()
    pay_link = f'?pay_amount={quote.context["quote"].total}#pay'
    assert pay_link in quote.content.decode()
    prefilled = client.get(reverse("collections:my_plan", args=[plan.pk]),
                           {"pay_amount": str(quote.context["quote"].total)})
    assert prefilled.context["pay_form"].initial["amount"] == quote.context["quote"].total


def test_the_plan_pages_have_no_duplicate_element_ids(client_for, officer_user):
    import re
    from collections import Counter

    plan = plan_active(disbursed=days_ago(3), amount="3000", term=6, by=officer_user)
    for user, name in ((plan.customer, "collections:my_plan"), (officer_user, "collections:staff_plan")):
        content = client_for(user).get(reverse(name, args=[plan.pk])).content.decode()
        repeated = [i for i, n in Counter(re.findall(r'\sid="([^"]+)"', content)).items() if n > 1]
        assert repeated == [], name


def test_a_customer_requests_a_holiday_from_the_plan_page(client_for, officer_user):
    plan = plan_active(disbursed=days_ago(3), amount="3000", term=6, by=officer_user)
    client = client_for(plan.customer)
    response = client.post(reverse("collections:my_plan_request", args=[plan.pk]), {
        "kind": "payment_holiday", "periods": 1, "interest": "capitalise", "reason": "moving house"})
    assert response.status_code == 302
    request = ServicingRequest.objects.get(plan=plan)
    assert request.status == "pending" and request.origin == "customer"
    staff = client_for(officer_user)
    listing = staff.get(reverse("collections:staff_requests"))
    assert plan.number in listing.content.decode()
    staff.post(reverse("collections:staff_request_decide", args=[request.pk]), {
        f"r{request.pk}-decision": "approve", f"r{request.pk}-note": "ok"})
    request.refresh_from_db()
    assert request.status == "applied"


def test_the_customer_messages_page_lists_sent_reminders(client_for, book):
    from collections_app.collections import reminders

    plan = book["mine"]
    ids = reminders.reminders_queue(on_date=days_ago(0))
    for reminder_id in ids:
        reminders.reminder_send(reminder_id=reminder_id)
    page = client_for(plan.customer).get(reverse("collections:my_messages"))
    assert page.status_code == 200


# --- Collector workbench ---------------------------------------------------------------------------

def test_a_collector_sees_only_assigned_cases(client_for, book):
    client = client_for(book["first_collector"])
    queue = client.get(reverse("collections:queue"))
    cases = list(queue.context["page"])
    assert cases == [book["mine_case"]]
    assert client.get(reverse("collections:case", args=[book["mine_case"].pk])).status_code == 200
    assert client.get(reverse("collections:case", args=[book["theirs_case"].pk])).status_code == 404
    assert client.post(reverse("collections:case_note_add", args=[book["theirs_case"].pk]),
                       {"text": "x"}).status_code == 404
    assert client.get(reverse("collections:staff_plan", args=[book["theirs"].pk])).status_code == 404


def test_managers_and_approvers_see_every_case_and_filter_the_queue(client_for, book, manager_user):
    client = client_for(manager_user)
    assert len(client.get(reverse("collections:queue")).context["page"]) == 2
    only = client.get(reverse("collections:queue"), {"bucket": "31-60"}).context["page"]
    assert [c.plan for c in only] == [book["theirs"]]
    assert len(client.get(reverse("collections:queue"), {"collector": "none"}).context["page"]) == 0
    assert client.get(reverse("collections:case", args=[book["theirs_case"].pk])).status_code == 200


def test_the_case_page_records_contacts_promises_notes_and_measures(client_for, book):
    case = book["mine_case"]
    client = client_for(book["first_collector"])
    url = reverse("collections:case", args=[case.pk])
    assert client.get(url).status_code == 200
    assert client.post(reverse("collections:case_contact_add", args=[case.pk]), {
        "channel": "phone", "outcome": "promised", "reason_category": "unemployment", "employed": "no",
        "notes": "lost job in March"}).status_code == 302
    contact = ContactLog.objects.get(case=case)
    assert contact.employed is False and contact.reason_category == "unemployment"
    assert client.post(reverse("collections:case_promise_add", args=[case.pk]), {
        "amount": "300", "promised_date": days_ago(-5).isoformat()}).status_code == 302
    assert PromiseToPay.objects.get(case=case).state == "open"
    past = client.post(reverse("collections:case_promise_add", args=[case.pk]), {
        "amount": "300", "promised_date": days_ago(5).isoformat()})
    assert past.status_code == 400 and "promised_date" in past.context["promise_form"].errors
    assert client.post(reverse("collections:case_note_add", args=[case.pk]), {"text": "call again"}).status_code == 302
    response = client.post(reverse("collections:case_measure_request", args=[case.pk]), {
        "kind": "reinstallment", "months": "12", "reason": "new job pays less"})
    assert response.status_code == 302
    assert ServicingRequest.objects.get(plan=case.plan).status == "pending"  # above the threshold
    page = client.get(url).content.decode()
    assert "lost job in March" in page and "call again" in page


def test_a_manager_reassigns_a_case(client_for, book, manager_user):
    case = book["mine_case"]
    response = client_for(manager_user).post(reverse("collections:case_assign", args=[case.pk]), {
        "collector": book["second_collector"].pk})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.assigned_to == book["second_collector"] and case.assignment_locked
    assert client_for(book["first_collector"]).post(reverse("collections:case_assign", args=[case.pk]),
                                                    {"collector": ""}).status_code == 403


def test_the_overdue_analysis_page_and_csv(client_for, book, manager_user):
    cases.contact_log_add(case=book["mine_case"], by=manager_user, channel="phone", outcome="reached",
                             reason_category="illness", employed=True)
    client = client_for(manager_user)
    page = client.get(reverse("collections:analysis"))
    assert page.status_code == 200
    body = page.content.decode()
    assert 'id="overdue-chart-data"' in body and "chart.umd.min.js" in body and "<script>" not in body
    assert page.context["analysis"]["totals"]["count"] == 2
    csv = client.get(reverse("collections:analysis"), {"format": "csv"})
    text = csv.content.decode("utf-8-sig")
    assert csv["Content-Type"].startswith("text/csv") and text.startswith("dimension,group,count,amount_overdue")
    assert "cause,Illness or accident,1," in text
    assert client_for(book["mine"].customer).get(reverse("collections:analysis")).status_code == 403


# --- Staff servicing pages -----------------------------------------------------------------------

def test_staff_plan_pages_payments_and_reversal(client_for, book, officer_user):
    plan = book["mine"]
    client = client_for(officer_user)
    assert client.get(reverse("collections:staff_plans"), {"q": plan.number}).status_code == 200
    page = client.get(reverse("collections:staff_plan", args=[plan.pk]))
    assert page.status_code == 200
    key = page.context["pay_form"].initial["idempotency_key"]
    response = client.post(reverse("collections:staff_payment_take", args=[plan.pk]), {
        "amount": "50.00", "overpayment": "credit", "idempotency_key": key, "received_on": days_ago(1).isoformat(),
        "reference": "counter"})
    assert response.status_code == 302
    payment = Payment.objects.get(plan=plan)
    assert payment.channel == "officer" and payment.received_on == days_ago(1)
    client.post(reverse("collections:staff_payment_reverse", args=[payment.pk]), {"reason": "wrong plan"})
    payment.refresh_from_db()
    assert payment.state == "reversed"
    history = client.get(reverse("collections:staff_plan_history", args=[plan.pk]))
    assert history.status_code == 200 and len(history.context["versions"]) == 1


def test_the_import_page_refuses_a_bad_file_lists_a_bad_line_and_posts_a_good_one(client_for, book, officer_user):
    from django.core.files.uploadedfile import SimpleUploadedFile

    plan = book["mine"]
    client = client_for(officer_user)
    refused = SimpleUploadedFile("r.csv", f"plan_number,amount\n{plan.number},1\n".encode())
    response = client.post(reverse("collections:staff_payment_import"), {"file": refused})
    assert response.status_code == 400 and "missing column" in response.content.decode()
    bad = SimpleUploadedFile("r.csv", f"plan_number,amount,date,reference\n{plan.number},x,2026-01-01,R1\n".encode())
    response = client.post(reverse("collections:staff_payment_import"), {"file": bad})
    assert response.status_code == 200 and [(e.line, e.field) for e in response.context["result"].rejected] == [
        (2, "amount")]
    assert not Payment.objects.exists()
    good = SimpleUploadedFile("r.csv", f"plan_number,amount,date,reference\n{plan.number},25.00,"
                                       f"{days_ago(1)},R1\n".encode())
    response = client.post(reverse("collections:staff_payment_import"), {"file": good})
    assert response.status_code == 200 and Payment.objects.get().reference == "R1"
    assert client_for(plan.customer).get(reverse("collections:staff_payment_import")).status_code == 403


def test_cob_runs_page(client_for, book, manager_user):
    assert client_for(manager_user).get(reverse("collections:staff_cob_runs")).status_code == 200


# --- API ----------------------------------------------------------------------------------------------

def test_the_payment_api_refuses_a_customer_and_points_to_payment_intents(api_client, book):
    plan = book["mine"]
    api_client.force_authenticate(plan.customer)
    url = reverse("api-plan-payments", args=[plan.pk])
    refused = api_client.post(url, {"amount": "120.00", "reference": "mine"}, format="json",
                              HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    assert refused.status_code == 403
    assert refused.json()["payment_intents"] == reverse("api-plan-payment-intents", args=[plan.pk])
    assert not Payment.objects.filter(plan=plan).exists()
    assert api_client.get(url).json()["count"] == 0  # customers still read their payments


def test_staff_payment_api_is_idempotent_by_header_and_needs_a_reference(api_client, book, officer_user):
    plan = book["mine"]
    api_client.force_authenticate(officer_user)
    url = reverse("api-plan-payments", args=[plan.pk])
    key = str(uuid.uuid4())
    body = {"amount": "120.00", "reference": "counter slip 7"}
    first = api_client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert first.status_code == 201 and first["Idempotent-Replayed"] == "false"
    assert first.json()["channel"] == "officer" and first.json()["reference"] == "counter slip 7"
    again = api_client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert again["Idempotent-Replayed"] == "true"
    # The first answer is built from the rows just written, the replay reads them back: the same.
    assert again.json() == first.json() and len(first.json()["allocations"]) > 1
    conflict = api_client.post(url, {**body, "amount": "99.00"}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert conflict.status_code == 400 and "idempotency_key" in conflict.json()
    missing = api_client.post(url, body, format="json")
    assert missing.status_code == 400 and "idempotency_key" in missing.json()
    no_reference = api_client.post(url, {"amount": "1.00"}, format="json", HTTP_IDEMPOTENCY_KEY="n")
    assert no_reference.status_code == 400 and "reference" in no_reference.json()
    future = api_client.post(url, {**body, "received_on": days_ago(-3).isoformat()}, format="json",
                             HTTP_IDEMPOTENCY_KEY="b")
    assert future.status_code == 400 and "received_on" in future.json()
    assert api_client.get(url).json()["count"] == 1
    assert first.json()["allocations"][0]["component"] in ("penalty", "fee", "interest")


def test_payment_api_object_access(api_client, book, collector_user):
    api_client.force_authenticate(book["mine"].customer)
    other = reverse("api-plan-payments", args=[book["theirs"].pk])
    assert api_client.post(other, {"amount": "1"}, format="json", HTTP_IDEMPOTENCY_KEY="x").status_code == 404
    assert api_client.get(reverse("api-plan-detail", args=[book["theirs"].pk])).status_code == 404
    assert [p["number"] for p in api_client.get(reverse("api-plans")).json()["results"]] == [book["mine"].number]
    api_client.force_authenticate(collector_user)  # a collector pays only on plans with a case of theirs
    assert api_client.post(other, {"amount": "5.00", "reference": "phone-0"}, format="json",
                           HTTP_IDEMPOTENCY_KEY="phone-0").status_code == 404
    api_client.force_authenticate(staff_make(Role.LOAN_OFFICER))  # officers take payments on any plan
    response = api_client.post(other, {"amount": "5.00", "received_on": days_ago(2).isoformat(),
                                       "reference": "phone-1"}, format="json", HTTP_IDEMPOTENCY_KEY="phone-1")
    assert response.status_code == 201 and response.json()["channel"] == "officer"
    api_client.force_authenticate(customer_make())
    assert api_client.get(reverse("api-plans")).json()["count"] == 0
    api_client.force_authenticate(staff_make(Role.APPROVER))
    reversed_ = api_client.post(reverse("api-payment-reverse", args=[response.json()["id"]]), {"reason": "dup"},
                                format="json")
    assert reversed_.status_code == 200 and reversed_.json()["state"] == "reversed"


def test_plan_detail_payoff_quote_and_requests_api(api_client, book):
    plan = book["mine"]
    api_client.force_authenticate(plan.customer)
    detail = api_client.get(reverse("api-plan-detail", args=[plan.pk])).json()
    assert detail["number"] == plan.number and len(detail["schedule"]) == 6
    quote = api_client.get(reverse("api-plan-payoff-quote", args=[plan.pk]), {"on_date": days_ago(-1).isoformat()})
    assert quote.status_code == 200 and D(quote.json()["total"]) > 0
    assert api_client.get(reverse("api-plan-payoff-quote", args=[plan.pk]), {"on_date": "soon"}).status_code == 400
    made = api_client.post(reverse("api-plan-requests", args=[plan.pk]), {
        "kind": "early_payoff", "reason": "inheritance", "params": {"on_date": days_ago(-10).isoformat()}},
        format="json")
    assert made.status_code == 201 and made.json()["status"] == "pending"
    refused = api_client.post(reverse("api-plan-requests", args=[plan.pk]), {
        "kind": "write_off", "reason": "please"}, format="json")
    assert refused.status_code == 400 and "kind" in refused.json()


def test_hand_built_plans_and_the_state_filter(api_client, manager_user):
    plan_by_hand(disbursed=days_ago(10), rows=[(days_ago(-20), "100", "1")], state="active")
    api_client.force_authenticate(manager_user)
    assert api_client.get(reverse("api-plans"), {"state": "overdue"}).json()["count"] == 0
    assert Plan.objects.count() == 1
