"""One rule of who may see an application, its offers and score, a customer's file and documents, for
the pages and the API alike.

The selectors decide for both sides: `installments.origination.selectors.application_for_user` and
`offer_list_for_user`, `customers.selectors.can_open_customer_file` and the document rule in
`customers.selectors`. Every page and API route that names one of these objects is asked, as every
role, about customer A's and customer B's: the pages of the caller's audience and the API must give
the same answer (both allow or both refuse; 401, 403, 404 and a redirect to sign in all refuse), and
the answer must be the expected one (customers their own; staff who open customer files all;
collectors none). Only GETs: the verbs behind them are walked by test_access.py.
"""

from dataclasses import dataclass

import pytest
from django.test import Client
from django.urls import get_resolver, reverse

from customers.roles import Role
from tests.conftest import verify_two_factor

pytestmark = pytest.mark.django_db

IDENTITIES = ["customer_a", "customer_b", "collector", "officer", "approver", "manager", "admin"]
REFUSED = (401, 403, 404, 405)


@dataclass(frozen=True)
class Probe:
    name: str
    target: str  # "application", "offer", "profile", "document", "contract"


# What each audience reaches on the web, and what the API answers about the same objects.
WEB = {
    "customer": {
        "application": [Probe("portal:application", "application"), Probe("portal:application_status", "application"),
                        Probe("portal:contract", "application"),
                        Probe("application_offers", "application")],
        "offer": [Probe("portal:offer_schedule", "offer")],
        "document": [Probe("document_download", "document")],
        "contract": [Probe("portal:contract_pdf", "contract")],
    },
    "staff": {
        "application": [Probe("workbench_application", "application"), Probe("workbench_contract", "application"),
                        Probe("scoring_application_score", "application")],
        "profile": [Probe("staff_customer_detail", "profile")],
        "document": [Probe("document_download", "document")],
    },
}
API = {
    "application": [Probe("api-application-offers", "application")],
    "profile": [Probe("api-customer-detail", "profile")],
}
# Staff-only on both sides: refused alike to customers, and to collectors (who do not open files).
STAFF_ONLY = [(Probe("scoring_application_score", "application"), Probe("api-application-score", "application")),
              (Probe("staff_customer_detail", "profile"), Probe("api-customer-detail", "profile"))]

# Routes naming one of these objects that need a second id or a POST body: their access is walked by
# test_access.py (every route as A and B) and by the workbench tests.
NOT_ASKED = {
    "workbench_assign", "workbench_start_review", "workbench_request_documents", "workbench_approve",
    "workbench_counter_offer", "workbench_decline", "workbench_confirm", "workbench_offer_choose",
    "workbench_document_review", "workbench_document_inline", "workbench_interview_note_add",
    "workbench_contract_regenerate", "workbench_contract_pdf", "workbench_activate", "offer_choose",
    "portal:offer_choose", "portal:rate", "portal:application_documents", "staff_reveal_id", "staff_interview_note_add", "staff_document_review",
    "api-offer-choose",
}


def _targets(book) -> dict:
    return {"application": book.objects["application"][0].pk, "offer": book.objects["offer"][0].pk,
            "profile": book.profile.pk, "document": book.objects["document"][0].pk,
            "contract": book.objects["contract"][0].pk}


def _client(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user, backend="customers.backends.ModelBackendWithRoles")
    verify_two_factor(client, user)
    return client


def _allowed(client, probe: Probe, target: dict) -> bool:
    response = client.get(reverse(probe.name, args=[target[probe.target]]))
    assert response.status_code < 500, (probe, response.status_code)
    if response.status_code in (301, 302):
        location = response.get("Location", "")
        if "/login/" in location or "two-factor" in location:
            return False
    return response.status_code not in REFUSED


def _agree(label: str, answers: dict) -> bool:
    assert len(set(answers.values())) == 1, f"{label}: the pages and the API disagree: {answers}"
    return next(iter(answers.values()))


def test_every_route_naming_an_application_offer_or_customer_file_is_asked():
    """A route added without a place here fails this test: add it to a question (or to NOT_ASKED, saying why)."""
    asked = {p.name for side in WEB.values() for probes in side.values() for p in probes}
    asked |= {p.name for probes in API.values() for p in probes} | {p.name for pair in STAFF_ONLY for p in pair}
    resolver = get_resolver()
    names = set()
    for key, values in resolver.reverse_dict.lists():
        if not isinstance(key, str):
            continue
        pattern = values[0][0][0][0] if values and values[0] and values[0][0] else ""
        if "%(pk)s" in pattern and any(word in pattern for word in ("applications/", "offers/", "customers/",
                                                                   "documents/", "contracts/")):
            names.add(key)
    for namespace in ("portal",):
        sub = resolver.namespace_dict[namespace][1]
        for key, values in sub.reverse_dict.lists():
            if isinstance(key, str) and values and "%(pk)s" in values[0][0][0][0] and any(
                    word in values[0][0][0][0] for word in ("applications/", "offers/", "contracts/")):
                names.add(f"{namespace}:{key}")
    assert names, "the resolver walk found no route"
    assert names - asked - NOT_ASKED == set(), "routes no question covers"


@pytest.mark.parametrize("identity", IDENTITIES)
def test_pages_and_api_agree_for_every_role_on_applications_and_customer_files(world, identity):
    user = world.users[identity]
    client = _client(user)
    audience = "customer" if identity.startswith("customer") else "staff"
    outcomes = {}
    for owner, book in (("a", world.a), ("b", world.b)):
        target = _targets(book)
        answers = {}
        for kind in ("application", "offer", "profile", "document", "contract"):
            probes = WEB[audience].get(kind, []) + (API.get(kind, []) if audience == "staff" or kind != "profile"
                                                    else [])
            if probes:
                answers[kind] = _agree(f"{identity} on {owner}'s {kind}",
                                       {p.name: _allowed(client, p, target) for p in probes})
        for web, api in STAFF_ONLY:
            both = _agree(f"{identity} on {owner}'s staff-only {web.target}",
                          {web.name: _allowed(client, web, target), api.name: _allowed(client, api, target)})
            assert both == (audience == "staff" and identity != "collector"), (identity, owner, web.name, both)
        assert len(set(answers.values())) == 1, f"{identity} on {owner}: {answers}"
        outcomes[owner] = next(iter(answers.values()))
    expected = {"customer_a": {"a": True, "b": False}, "customer_b": {"a": False, "b": True},
                "collector": {"a": False, "b": False}}.get(identity, {"a": True, "b": True})
    assert outcomes == expected


def test_the_roles_that_open_customer_files_are_the_staff_roles_but_collectors():
    from customers.selectors import CUSTOMER_FILE_ROLES

    assert set(CUSTOMER_FILE_ROLES) == {Role.LOAN_OFFICER, Role.APPROVER, Role.MANAGER, Role.ADMIN}
