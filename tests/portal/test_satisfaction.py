"""Satisfaction: a 1-5 rating and comment after the contract is accepted and after the plan is paid
off, once per moment, never before the moment has come."""

import pytest
from django.urls import reverse

from config.errors import DomainError
from customers.models import SatisfactionRating
from installments.models import Application, Plan
from portal import services as portal_services
from tests.collections_app.factories import plan_active

pytestmark = pytest.mark.django_db


@pytest.fixture
def accepted(customer):
    """An active plan of the customer: the contract was accepted."""
    return plan_active(customer=customer)


def test_a_rating_is_asked_for_after_the_contract_and_recorded_once(customer_client, customer, accepted):
    application = accepted.application
    account = customer_client.get(reverse("portal:account")).content.decode()
    assert f'id="rate-{application.pk}-after_contract"' in account
    prefix = f"rate-{application.pk}-after_contract"
    url = reverse("portal:rate", args=[application.pk, "after_contract"])
    response = customer_client.post(url, {f"{prefix}-rating": "4", f"{prefix}-comment": "Clear and quick",
                                          f"{prefix}-moment": "after_contract"})
    assert response.status_code == 302
    rating = SatisfactionRating.objects.get(user=customer)
    assert (rating.rating, rating.comment, rating.moment, rating.application) == (
        4, "Clear and quick", "after_contract", application)
    account = customer_client.get(reverse("portal:account")).content.decode()
    assert f'id="rate-{application.pk}-after_contract"' not in account
    customer_client.post(url, {f"{prefix}-rating": "1", f"{prefix}-moment": "after_contract"}, follow=True)
    assert SatisfactionRating.objects.filter(user=customer).count() == 1
    with pytest.raises(DomainError, match="already rated"):
        portal_services.satisfaction_record(user=customer, application=application, moment="after_contract", rating=2)


def test_payoff_can_be_rated_only_once_the_plan_is_paid_off(customer, accepted):
    application = accepted.application
    with pytest.raises(DomainError) as refused:
        portal_services.satisfaction_record(user=customer, application=application, moment="after_payoff", rating=5)
    assert refused.value.code == "too_early"
    Plan.objects.filter(pk=accepted.pk).update(state=Plan.State.PAID_OFF)
    due = portal_services.satisfaction_due(customer)
    assert {item["moment"] for item in due} == {"after_contract", "after_payoff"}
    row = portal_services.satisfaction_record(user=customer, application=application, moment="after_payoff",
                                              rating=5, comment="Paid off early, no fuss")
    assert row.plan == accepted
    assert {item["moment"] for item in portal_services.satisfaction_due(customer)} == {"after_contract"}


def test_a_rating_needs_an_accepted_contract_and_a_value_from_one_to_five(customer, product):
    application = Application.objects.create(customer=customer, product=product, amount=1000, state="scored")
    with pytest.raises(DomainError) as refused:
        portal_services.satisfaction_record(user=customer, application=application, moment="after_contract", rating=5)
    assert refused.value.code == "too_early"


def test_a_rating_out_of_range_is_refused_next_to_the_field(customer_client, customer, accepted):
    application = accepted.application
    prefix = f"rate-{application.pk}-after_contract"
    response = customer_client.post(reverse("portal:rate", args=[application.pk, "after_contract"]),
                                    {f"{prefix}-rating": "9", f"{prefix}-moment": "after_contract"}, follow=True)
    assert not SatisfactionRating.objects.exists()
    assert "Select a valid choice" in response.content.decode() or "1 to 5" in response.content.decode()
    with pytest.raises(DomainError, match="1 to 5"):
        portal_services.satisfaction_record(user=customer, application=application, moment="after_contract", rating=0)
