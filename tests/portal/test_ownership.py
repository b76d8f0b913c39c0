"""A customer only ever sees their own data: every page reached with another customer's application,
offer, contract or plan id answers 404 (the same as an id that does not exist), and changes nothing."""

import pytest
from django.urls import reverse

from installments.models import Contract, Offer
from installments.origination import decisions
from installments.origination.applications import offer_choose
from tests.collections_app.factories import plan_active
from tests.factories import UserFactory, workbench_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def others(db):
    """Another customer's approved application (with offers and a contract) and active plan."""
    application = workbench_case(chosen=False)
    offer_choose(application=application, offer=application.offers.order_by("rank").first(),
                 by=application.customer)
    decisions.application_approve(application=application, by=UserFactory(roles=["loan_officer"]))
    plan = plan_active(customer=application.customer)
    return {"application": application, "offer": application.offers.order_by("rank").first(),
            "contract": Contract.objects.get(application=application), "plan": plan}


@pytest.fixture
def intruder_client(client, other_customer):
    client.force_login(other_customer, backend="customers.backends.ModelBackendWithRoles")
    return client


GETS = [
    ("portal:application", "application"), ("portal:application_status", "application"),
    ("portal:contract", "application"), ("portal:offer_schedule", "offer"), ("portal:contract_pdf", "contract"),
    ("portal:plan_checkout", "plan"),
]
POSTS = [
    ("portal:offer_choose", "offer", {}),
    ("portal:application_documents", "application", {"kind": "income_proof"}),
    ("portal:contract", "application", {"version": 1, "fingerprint": "x", "read": "on"}),
    ("portal:plan_checkout", "plan", {"amount": "10", "overpayment": "credit", "card_number": "4111111111111111",
                                      "idempotency_key": "k1"}),
    ("portal:plan_hardship", "plan", {"months": "3", "reason": "lost job"}),
]


@pytest.mark.parametrize(("name", "kind"), GETS)
def test_another_customers_object_is_not_found(intruder_client, others, name, kind):
    assert intruder_client.get(reverse(name, args=[others[kind].pk])).status_code == 404


@pytest.mark.parametrize(("name", "kind", "data"), POSTS)
def test_another_customers_object_cannot_be_changed(intruder_client, others, name, kind, data):
    assert intruder_client.post(reverse(name, args=[others[kind].pk]), data).status_code == 404
    contract = others["contract"]
    contract.refresh_from_db()
    assert contract.accepted_at is None
    assert not others["plan"].payments.exists()


def test_rating_another_customers_application_is_not_found(intruder_client, others):
    url = reverse("portal:rate", args=[others["application"].pk, "after_contract"])
    assert intruder_client.post(url, {"rating": "5"}).status_code == 404


def test_nothing_of_another_customer_appears_in_the_account_or_messages(intruder_client, others):
    account = intruder_client.get(reverse("portal:account")).content.decode()
    assert others["application"].number not in account and others["plan"].number not in account
    messages = intruder_client.get(reverse("portal:notifications")).content.decode()
    assert others["application"].number not in messages


def test_an_offer_id_of_another_application_is_refused_even_for_its_own_customer(client, others):
    """Choosing goes through the offer's own application: the ids cannot be mixed."""
    mine = workbench_case(chosen=False)
    client.force_login(mine.customer, backend="customers.backends.ModelBackendWithRoles")
    foreign = Offer.objects.filter(application=others["application"]).first()
    assert client.post(reverse("portal:offer_choose", args=[foreign.pk])).status_code == 404
