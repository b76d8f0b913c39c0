"""One rule of who may see and act on a plan, for the pages and the API alike.

collections_app.selectors (plans_visible_to / plans_actionable_by and the cases, requests and payments
that follow them) decide for every page and API route. Here every collections_app page and API route
is asked, as every role, about an assigned plan (A's: its open case is the collector's), an
unassigned one (B's: its case is nobody's) and, for customers, another customer's: the web and the
API must give the same answer (both allow or both refuse; 403 and 404 both count as refusing).
Probes POST empty bodies, so an allowed probe stops at validation and writes nothing.
"""

import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import get_resolver, reverse
from django.utils import timezone

from collections_app.models import CollectionCase, Payment, PaymentIntent, ServicingRequest
from customers.roles import Role
from tests.conftest import verify_two_factor

pytestmark = pytest.mark.django_db

IDENTITIES = ["customer_a", "customer_b", "collector", "idle_collector", "officer", "approver", "manager"]
CUSTOMERS = ("customer_a", "customer_b")
CASE_WORKERS = ("collector", "idle_collector", "approver", "manager")
DECIDERS = ("officer", "approver", "manager")
REFUSED = (401, 403, 404, 405)


@dataclass(frozen=True)
class Probe:
    """One request about a plan: the route's name, the object its id names, the method."""

    name: str
    target: str  # "plan", "payment", "request", "case", "intent" or "none"
    method: str = "GET"


def _web(name, target, method="GET"):
    return Probe(f"collections:{name}", target, method)


# Per question, the pages and the API routes that answer it. Pages of the other audience are asked too:
# both sides must refuse them alike (a customer gets 403 on staff pages and on staff-only API calls).
WEB_SEE = {"customer": [_web("my_plan", "plan"), _web("my_payment_receipt", "payment")],
           "staff": [_web("staff_plan", "plan"), _web("staff_plan_history", "plan"),
                     _web("staff_payment_receipt", "payment")]}
API_SEE = [Probe("api-plan-detail", "plan"), Probe("api-plan-payments", "plan"),
           Probe("api-plan-payment-intents", "plan"), Probe("api-payment-intent", "intent"),
           Probe("api-plan-payoff-quote", "plan"), Probe("api-plan-requests", "plan")]
WEB_ACT = {"customer": [_web("my_plan_pay", "plan", "POST"), _web("my_plan_request", "plan", "POST")],
           "staff": [_web("staff_payment_take", "plan", "POST"), _web("staff_credit_refund", "plan", "POST")]}
API_ACT = {"customer": [Probe("api-plan-payment-intents", "plan", "POST"), Probe("api-plan-requests", "plan", "POST")],
           "staff": [Probe("api-plan-payments", "plan", "POST"), Probe("api-plan-requests", "plan", "POST")]}
# Taking a payment in the other audience's way: refused by role on both sides.
CROSS_PAY = {"customer": (_web("staff_payment_take", "plan", "POST"), Probe("api-plan-payments", "plan", "POST")),
             "staff": (_web("my_plan_pay", "plan", "POST"), Probe("api-plan-payment-intents", "plan", "POST"))}
REVERSE = (_web("staff_payment_reverse", "payment", "POST"), Probe("api-payment-reverse", "payment", "POST"))
CASE_SEE = [_web("case", "case")]
CASE_ACT = [_web(n, "case", "POST") for n in ("case_contact_add", "case_promise_add", "case_note_add",
                                               "case_measure_request", "case_assign")]
DECIDE = _web("staff_request_decide", "request", "POST")
LISTS = ("collections:my_plans", "collections:staff_plans", "collections:queue", "api-plans")
# Routes that name no plan: their access is by role alone (test_access.py walks them).
NOT_PLAN_SCOPED = {"collections:my_messages", "collections:staff_payment_import", "collections:staff_requests",
                   "collections:staff_cob_runs", "collections:analysis", "api-payment-provider-callback",
                   "collections:books_trial_balance", "collections:books_account",
                   # The books' reports, entries, periods and chart changes (tests/ledger/test_reports.py).
                   "collections:books_entry", "collections:books_income", "collections:books_provisions",
                   "collections:books_periods", "collections:books_chart_changes", "collections:books_classification",
                   "collections:books_journal_lines_csv"}


@pytest.fixture
def people(world):
    from tests.collections_app.factories import staff_make

    return {**world.users, "idle_collector": staff_make(Role.COLLECTOR, full_name="Ida Idle")}


@pytest.fixture
def targets(world):
    """For A's and B's plans: the plan, a payment, a request, the case and a payment intent."""
    from collections_app.servicing import intents
    from collections_app.servicing.providers import SimulatedPaymentProvider

    out = {}
    for owner, book in (("a", world.a), ("b", world.b)):
        plan = book.objects["plan"][0]
        intent = PaymentIntent.objects.filter(plan=plan).first() or intents.payment_intent_create(
            plan=plan, by=book.user, amount=plan.installments.order_by("due_date").first().amount_due,
            overpayment="credit", idempotency_key=f"rule-{owner}-{uuid.uuid4().hex}",
            card_number=SimulatedPaymentProvider.PENDING_CARD)  # pending: nothing is posted, the case stays open
        out[owner] = {"plan": plan.pk, "payment": Payment.objects.filter(plan=plan).exclude(channel="credit").first().pk,
                      "request": ServicingRequest.objects.filter(plan=plan).first().pk,
                      "case": CollectionCase.objects.filter(plan=plan).first().pk, "intent": intent.pk,
                      "number": plan.number}
    return out


def _allowed(client, probe: Probe, target: dict) -> bool:
    url = reverse(probe.name, args=[target[probe.target]]) if probe.target != "none" else reverse(probe.name)
    response = client.get(url) if probe.method == "GET" else client.post(url, {})
    assert response.status_code < 500, (probe, response.status_code)
    if response.status_code in (301, 302) and "/login/" in response.get("Location", ""):
        return False
    return response.status_code not in REFUSED


def _listed(client, name: str, plan: dict) -> bool | None:
    response = client.get(reverse(name))
    if response.status_code in REFUSED:
        return None  # the list itself is closed to this role
    assert response.status_code == 200, (name, response.status_code)
    if name == "api-plans":
        rows = response.json()
        rows = rows.get("results", rows) if isinstance(rows, dict) else rows
        return any(row["id"] == plan["plan"] for row in rows)
    return plan["number"] in response.content.decode()


def _client(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user, backend="customers.backends.ModelBackendWithRoles")
    verify_two_factor(client, user)
    return client


def _answers(probes, client, target) -> dict:
    return {f"{p.method} {p.name}": _allowed(client, p, target) for p in probes}


def _agree(label: str, answers: dict) -> bool:
    assert len(set(answers.values())) == 1, f"{label}: the pages and the API disagree: {answers}"
    return next(iter(answers.values()))


def test_every_collections_route_is_asked():
    """A route added to collections_app without a place here fails this test: add it to a question."""
    asked = {p.name for group in (WEB_SEE, WEB_ACT, API_ACT) for probes in group.values() for p in probes}
    asked |= {p.name for p in API_SEE + CASE_SEE + CASE_ACT + [DECIDE, *REVERSE]}
    asked |= {p.name for pair in CROSS_PAY.values() for p in pair} | set(LISTS) | NOT_PLAN_SCOPED
    names = set()
    resolver = get_resolver()
    for key in resolver.reverse_dict.keys():
        if isinstance(key, str) and key.startswith("api-") and (
                "plan" in key or "payment" in key):
            names.add(key)
    names |= {f"collections:{k}" for k in resolver.namespace_dict["collections"][1].reverse_dict.keys()
              if isinstance(k, str)}
    assert names - asked == set(), "routes no question covers"


@pytest.mark.parametrize("identity", IDENTITIES)
def test_pages_and_api_agree_for_every_role_and_plan(world, people, targets, identity):
    client = _client(people[identity])
    audience = "customer" if identity in CUSTOMERS else "staff"
    outcomes = {}
    for owner, target in targets.items():
        see = _agree(f"{identity} sees {owner}", {**_answers(WEB_SEE[audience], client, target),
                                                  **_answers(API_SEE, client, target)})
        listed = {name: _listed(client, name, target) for name in LISTS if name != "collections:queue"}
        listed = {k: v for k, v in listed.items() if v is not None}
        assert set(listed.values()) == {see}, f"{identity} lists {owner}: {listed}, sees: {see}"
        act = _agree(f"{identity} acts on {owner}", {**_answers(WEB_ACT[audience], client, target),
                                                     **_answers(API_ACT[audience], client, target)})
        assert not act or see, f"{identity} acts on {owner} without seeing it"
        assert _agree(f"{identity} pays {owner} the other audience's way",
                      _answers(CROSS_PAY[audience], client, target)) is False
        reverse_ok = _agree(f"{identity} reverses on {owner}", _answers(REVERSE, client, target))
        assert reverse_ok == (act and identity in DECIDERS), f"{identity} reverses on {owner}: {reverse_ok}"
        case_see = _agree(f"{identity} opens {owner}'s case", _answers(CASE_SEE, client, target))
        case_act = _agree(f"{identity} works {owner}'s case",
                          _answers(CASE_ACT[:4], client, target))  # case_assign: approvers only, below
        if identity in CASE_WORKERS:
            assert (case_see, case_act) == (see, act), f"{identity} on {owner}'s case vs its plan"
            queued = _listed(client, "collections:queue", target)
            assert queued == see, f"{identity}: {owner}'s case in the queue: {queued}, sees its plan: {see}"
        else:
            assert (case_see, case_act) == (False, False), f"{identity} reaches {owner}'s case"
        assert _answers([CASE_ACT[4]], client, target).popitem()[1] == (
            identity in ("approver", "manager")), f"{identity} assigns {owner}'s case"
        decide = _allowed(client, DECIDE, target)
        assert decide == (identity in DECIDERS and act), f"{identity} decides {owner}'s request: {decide}"
        outcomes[owner] = (see, act)
    expected = {
        "customer_a": {"a": (True, True), "b": (False, False)},
        "customer_b": {"a": (False, False), "b": (True, True)},
        "collector": {"a": (True, True), "b": (False, False)},
        "idle_collector": {"a": (False, False), "b": (False, False)},
    }.get(identity, {"a": (True, True), "b": (True, True)})
    assert outcomes == expected


# --- What the finding was: a collector through the API on a plan not assigned to them -----------------------

@pytest.fixture
def collector_client(world):
    return _client(world.users["collector"])


def test_a_collector_lists_only_the_plans_assigned_to_them(world, collector_client):
    rows = collector_client.get(reverse("api-plans")).json()
    ids = {row["id"] for row in (rows.get("results", rows) if isinstance(rows, dict) else rows)}
    assert ids == set(world.a.ids("plan"))


def test_a_collector_cannot_read_an_unassigned_plan_through_the_api(world, collector_client, targets):
    b = targets["b"]
    for name, pk in (("api-plan-detail", b["plan"]), ("api-plan-payments", b["plan"]),
                     ("api-plan-requests", b["plan"]), ("api-plan-payoff-quote", b["plan"]),
                     ("api-plan-payment-intents", b["plan"]), ("api-payment-intent", b["intent"])):
        assert collector_client.get(reverse(name, args=[pk])).status_code == 404, name


def test_a_collector_cannot_pay_or_ask_for_hardship_on_an_unassigned_plan(world, collector_client, targets):
    def pay(pk):
        return collector_client.post(reverse("api-plan-payments", args=[pk]),
                                     {"amount": "10.00", "reference": f"ref-{uuid.uuid4().hex[:8]}"},
                                     content_type="application/json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))

    before = Payment.objects.count(), ServicingRequest.objects.count()
    assert pay(targets["b"]["plan"]).status_code == 404
    hardship = collector_client.post(reverse("api-plan-requests", args=[targets["b"]["plan"]]),
                                     {"kind": "payment_holiday", "reason": "hardship", "params": {"periods": 1}},
                                     content_type="application/json")
    assert hardship.status_code == 404
    assert (Payment.objects.count(), ServicingRequest.objects.count()) == before
    assert pay(targets["a"]["plan"]).status_code == 201  # the assigned plan: the collector's work


def test_a_collector_cannot_reverse_a_payment_by_either_door(world, collector_client, targets):
    for pk in (targets["a"]["payment"], targets["b"]["payment"]):
        assert collector_client.post(reverse("api-payment-reverse", args=[pk]), {"reason": "x"},
                                     content_type="application/json").status_code in (403, 404)
        assert collector_client.post(reverse("collections:staff_payment_reverse", args=[pk]),
                                     {"reason": "x"}).status_code in (403, 404)
    assert not Payment.objects.filter(pk__in=[targets["a"]["payment"], targets["b"]["payment"]],
                                      state="reversed").exists()


def test_a_closed_case_leaves_the_plan_readable_but_not_workable(world, collector_client, targets):
    """The collector keeps their history (see) but acts only while the case is open, on both doors."""
    a = targets["a"]
    CollectionCase.objects.filter(pk=a["case"]).update(status=CollectionCase.Status.CLOSED)
    assert collector_client.get(reverse("api-plan-detail", args=[a["plan"]])).status_code == 200
    assert collector_client.get(reverse("collections:staff_plan", args=[a["plan"]])).status_code == 200
    assert collector_client.post(reverse("api-plan-payments", args=[a["plan"]]), {},
                                 content_type="application/json").status_code == 404
    assert collector_client.post(reverse("collections:staff_payment_take", args=[a["plan"]]), {}).status_code == 404
    assert collector_client.post(reverse("collections:case_note_add", args=[a["case"]]),
                                 {"text": "x"}).status_code == 404


def test_a_collector_cannot_post_to_an_unassigned_plan_by_bank_import(world, collector_client, targets):
    from collections_app.servicing import bank_import

    collector = world.users["collector"]
    day = timezone.localdate() - timedelta(days=1)
    line = "{day},10.00,BNK-{n},{number},,\n"
    csv_text = ("date,amount,reference,plan_number,payer,memo\n" + line.format(day=day, n=1, number=targets["b"]["number"])
                + line.format(day=day, n=2, number=targets["a"]["number"]))
    result = bank_import.payments_import_csv(text=csv_text, by=collector)
    assert [p.plan_id for p in result.posted] == [targets["a"]["plan"]]
    assert len(result.unmatched) == 1 and targets["b"]["number"] in str(result.unmatched[0])
