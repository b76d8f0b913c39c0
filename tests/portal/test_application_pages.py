"""After submission: the self-updating "we are assessing" page, the offers side by side with their
schedules and chart, the decline page with reasons and advice, the officer's requests for documents
with upload in place, the contract (with a counter-offer re-disclosed) accepted with its exact
version, and the timeline."""

import json
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from customers.models import AuditEvent, CustomerDocument
from installments.models import Application, Contract
from installments.origination import decisions
from installments.origination.applications import application_offers_generate, application_transition, offer_choose
from installments.origination.contracts import contract_generate
from tests.factories import WorkbenchApplicationFactory, tiny_pdf, workbench_case
from tests.portal.conftest import PORTAL_METHODS

pytestmark = pytest.mark.django_db


def login(client, user):
    client.force_login(user, backend="customers.backends.ModelBackendWithRoles")
    return client


@pytest.fixture
def case(db):
    """A scored grade-B application with the offer engine's plans (nothing chosen yet)."""
    application = workbench_case(chosen=False)
    product = application.product
    product.allowed_methods = PORTAL_METHODS
    product.save()
    application.offers.all().delete()
    application_offers_generate(application=application)
    return application


def test_a_submitted_application_shows_the_assessing_panel_that_polls_every_two_seconds(client):
    application = WorkbenchApplicationFactory(state="submitted")
    login(client, application.customer)
    page = client.get(reverse("portal:application", args=[application.pk])).content.decode()
    status_url = reverse("portal:application_status", args=[application.pk])
    assert 'id="assessing"' in page and f'hx-get="{status_url}"' in page and 'hx-trigger="every 2s"' in page
    poll = client.get(status_url, HTTP_HX_REQUEST="true")
    assert poll.status_code == 200 and 'id="assessing"' in poll.content.decode() and "HX-Redirect" not in poll
    application_transition(application=application, to=Application.State.SCORED, by=None)
    poll = client.get(status_url, HTTP_HX_REQUEST="true")
    assert poll["HX-Redirect"] == reverse("portal:application", args=[application.pk])


def test_the_offers_are_compared_side_by_side_with_every_cost_and_a_chart(client, case):
    login(client, case.customer)
    response = client.get(reverse("portal:application", args=[case.pk]))
    content = response.content.decode()
    offers = list(case.offers.order_by("rank"))
    assert 3 <= len(offers) <= 5
    for offer in offers:
        block = content[content.index(f'id="offer-{offer.pk}"'):]
        block = block[:block.index("</article>")]
        for figure in (offer.total_interest, offer.total_fees, offer.total_payable):
            assert f"{figure:,.2f}" in block
        assert f"{offer.apr:.2f}%" in block and offer.explanation_en in block
        assert reverse("portal:offer_schedule", args=[offer.pk]) in block
        assert reverse("portal:offer_choose", args=[offer.pk]) in block
    chart = json.loads(content.split('id="offers-chart-data" type="application/json">')[1].split("</script>")[0])
    assert len(chart["series"]) == len(offers)
    last = offers[0]
    assert Decimal(chart["series"][0]["data"][-1]) == last.total_payable
    assert "<script>" not in content.replace('<script src=', '')  # no inline script (CSP)


def test_a_full_schedule_opens_on_click(client, case):
    login(client, case.customer)
    offer = case.offers.order_by("rank").first()
    response = client.get(reverse("portal:offer_schedule", args=[offer.pk]), HTTP_HX_REQUEST="true")
    content = response.content.decode()
    assert "<html" not in content and "<table" in content
    rows = offer.schedule["installments"]
    assert content.count("<tr>") >= len(rows) and rows[-1]["due_date"] in content
    assert f"{offer.total_payable:,.2f}" in content
    page = client.get(reverse("portal:offer_schedule", args=[offer.pk]))
    assert "<html" in page.content.decode()


def test_choosing_a_plan_records_it_and_marks_it(client, case):
    login(client, case.customer)
    offer = case.offers.order_by("rank")[1]
    response = client.post(reverse("portal:offer_choose", args=[offer.pk]))
    assert response.status_code == 302
    offer.refresh_from_db()
    assert offer.chosen_at is not None and offer.chosen_by == case.customer
    content = client.get(reverse("portal:application", args=[case.pk])).content.decode()
    assert "Your choice" in content


def test_a_knock_out_decline_shows_the_reasons_in_plain_words_and_what_could_change(client):
    application = workbench_case(knocked_out=True, state="declined")
    login(client, application.customer)
    content = client.get(reverse("portal:application", args=[application.pk])).content.decode()
    reasons = content[content.index('id="decline-reasons"'):]
    assert "Debts too high" in reasons[:500]
    advice = content[content.index('id="decline-advice"'):][:1500]
    assert "<li>" in advice


def test_a_declined_customer_reads_the_reasons_in_their_language(client):
    application = workbench_case(grade="G", language="zh-hans")
    officer = _officer()
    decisions.application_decline(application=application, by=officer, reason_codes=["affordability"])
    application.refresh_from_db()
    assert application.state == "declined"
    login(client, application.customer)
    client.cookies["django_language"] = "zh-hans"
    content = client.get(reverse("portal:application", args=[application.pk])).content.decode()
    reasons = content[content.index('id="decline-reasons"'):][:800]
    assert "还款额占您收入的比例过高" in reasons  # the officer's reason
    assert "申请期限较长" in reasons  # the score's main factor (reason code text)
    advice = content[content.index('id="decline-advice"'):][:1500]
    assert "<li>" in advice
    client.cookies["django_language"] = "en"
    english = client.get(reverse("portal:application", args=[application.pk])).content.decode()
    assert "The repayments would take too large a share of your income." in english
    assert "A smaller amount or a longer term lowers the monthly payment." in english


def _officer():
    from tests.factories import UserFactory

    return UserFactory(roles=["loan_officer"])


def test_documents_requested_by_the_officer_are_uploaded_from_the_application_page(client, case):
    officer = _officer()
    decisions.application_request_documents(application=case, by=officer, message="Please send last month's payslip.",
                                            kinds=["income_proof"])
    login(client, case.customer)
    content = client.get(reverse("portal:application", args=[case.pk])).content.decode()
    assert "Please send last month&#x27;s payslip." in content and "☐ Proof of income" in content
    assert reverse("portal:application_documents", args=[case.pk]) in content
    response = client.post(reverse("portal:application_documents", args=[case.pk]),
                           {"kind": "income_proof", "file": SimpleUploadedFile("payslip.pdf", tiny_pdf())})
    assert response.status_code == 302
    assert CustomerDocument.objects.filter(profile__user=case.customer, kind="income_proof").count() == 2
    content = client.get(reverse("portal:application", args=[case.pk])).content.decode()
    assert "✓ Proof of income" in content
    # A kind that was not asked for is refused next to the field.
    response = client.post(reverse("portal:application_documents", args=[case.pk]),
                           {"kind": "asset_proof", "file": SimpleUploadedFile("x.pdf", tiny_pdf())})
    assert response.status_code == 400 and 'id="id_kind_errors" role="alert"' in response.content.decode()


def _approved(case, *, choose: bool = True, officer=None):
    if choose:
        offer_choose(application=case, offer=case.offers.order_by("rank").first(), by=case.customer)
    decisions.application_approve(application=case, by=officer or _officer())
    case.refresh_from_db()
    assert case.state == "approved"
    return Contract.objects.get(application=case)


def test_the_contract_is_accepted_with_its_exact_version_time_and_address(client, case):
    contract = _approved(case)
    login(client, case.customer)
    content = client.get(reverse("portal:application", args=[case.pk])).content.decode()
    assert reverse("portal:contract", args=[case.pk]) in content
    page = client.get(reverse("portal:contract", args=[case.pk])).content.decode()
    assert contract.disclosure["apr"] in page and 'id="accept-form"' in page
    assert "Early repayment" in page or "early" in page.lower()
    response = client.post(reverse("portal:contract", args=[case.pk]),
                           {"version": contract.version, "fingerprint": contract.content_sha256},
                           REMOTE_ADDR="198.51.100.7")
    assert response.status_code == 400 and 'id="id_read_errors" role="alert"' in response.content.decode()
    response = client.post(reverse("portal:contract", args=[case.pk]),
                           {"version": contract.version, "fingerprint": contract.content_sha256, "read": "on"},
                           REMOTE_ADDR="198.51.100.7")
    assert response.status_code == 302
    contract.refresh_from_db()
    case.refresh_from_db()
    assert contract.accepted_at is not None and contract.accepted_ip == "198.51.100.7"
    assert case.state == "contracted"
    event = AuditEvent.objects.get(action="contract.accept")
    assert event.data["version"] == contract.version and event.data["sha256"] == contract.content_sha256


def test_a_stale_contract_version_cannot_be_accepted(client, case):
    contract = _approved(case)
    newer = contract_generate(application=case, by=_officer(), language="zh-hans")
    login(client, case.customer)
    response = client.post(reverse("portal:contract", args=[case.pk]),
                           {"version": contract.version, "fingerprint": contract.content_sha256, "read": "on"})
    assert response.status_code == 400 and "has changed since you opened it" in response.content.decode()
    newer.refresh_from_db()
    assert newer.accepted_at is None


def test_the_contract_downloads_as_a_pdf(client, case):
    contract = _approved(case)
    login(client, case.customer)
    response = client.get(reverse("portal:contract_pdf", args=[contract.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF") and "attachment" in response["Content-Disposition"]


def test_a_counter_offer_is_shown_re_disclosed_and_must_be_accepted(client, case):
    offer = case.offers.order_by("rank").first()
    offer_choose(application=case, offer=offer, by=case.customer)
    decisions.application_counter_offer(application=case, by=_officer(), amount=Decimal("15000"), term_months=18,
                                        annual_rate=Decimal("10"))
    case.refresh_from_db()
    contract = Contract.objects.get(application=case)
    assert contract.offer.is_counter_offer
    login(client, case.customer)
    page = client.get(reverse("portal:application", args=[case.pk])).content.decode()
    assert "Approved with changes" in page
    page = client.get(reverse("portal:contract", args=[case.pk])).content.decode()
    box = page[page.index('id="counter-offer"'):][:4000]
    assert "You chose" in box and f"{offer.total_payable:,.2f}" in box
    assert f"{contract.offer.total_payable:,.2f}" in box and f"{contract.offer.apr:.2f}%" in box
    client.post(reverse("portal:contract", args=[case.pk]),
                {"version": contract.version, "fingerprint": contract.content_sha256, "read": "on"})
    contract.offer.refresh_from_db()
    assert contract.offer.chosen_at is not None


def test_the_timeline_tells_each_stage_in_the_customers_words(client, case):
    officer = _officer()
    offer_choose(application=case, offer=case.offers.order_by("rank").first(), by=case.customer)
    decisions.application_request_documents(application=case, by=officer, message="Payslip please",
                                            kinds=["income_proof"])
    contract = _approved(case, choose=False, officer=officer)
    login(client, case.customer)
    client.post(reverse("portal:contract", args=[case.pk]),
                {"version": contract.version, "fingerprint": contract.content_sha256, "read": "on"})
    content = client.get(reverse("portal:application", args=[case.pk])).content.decode()
    timeline = content[content.index('class="list-unstyled mb-0 small timeline"'):]
    order = ["Plan chosen", "More documents requested", "Payslip please", "Review resumed", "Approved",
             "Contract accepted"]
    positions = [timeline.index(text) for text in order]
    assert positions == sorted(positions)
    assert officer.get_full_name() not in timeline  # staff names stay internal
    assert timezone.localdate().isoformat() in timeline
