"""Access control, walked over EVERY URL pattern and API route as every kind of user.

The routes come from the root URL resolver at run time, so pages colleagues add are walked too.
Path converters are filled with ids of real objects of customer A and customer B (chosen by the
noun before the id: `plans/<int:pk>` gets plan ids) and with guessed ids. The expected outcome
comes from rules by URL prefix (RULES); an API route also follows what its view's permission
classes declare. A route no rule names must still never answer 500 and never show B's data to A
or to an anonymous visitor.

Denied means: anonymous -> redirect to a login page, 401, 403, 404 or 405; signed in -> 403,
404, 405 (or the admin site's login redirect). A denied request (GET or POST) writes nothing: the
database is fingerprinted before and after. Allowed (by role) means: never 401/403/5xx.
"""

import hashlib
import re
from dataclasses import dataclass

import pytest
from django.apps import apps
from django.contrib import admin
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.urls.exceptions import NoReverseMatch, Resolver404

from customers.roles import Role
from customers.selectors import CUSTOMER_FILE_ROLES
from tests.conftest import verify_two_factor

pytestmark = pytest.mark.django_db

STAFF = frozenset(str(r) for r in (Role.LOAN_OFFICER, Role.APPROVER, Role.COLLECTOR, Role.MANAGER, Role.ADMIN))
FILE_ROLES = frozenset(str(r) for r in CUSTOMER_FILE_ROLES)
WORKBENCH = frozenset({"loan_officer", "approver", "manager", "admin"})
CASE_ROLES = frozenset({"collector", "approver", "manager", "admin"})
MANAGERS = frozenset({"manager", "admin"})
CUSTOMER = frozenset({"customer"})
PUBLIC = "public"
AUTHENTICATED = "authenticated"


@dataclass(frozen=True)
class Rule:
    """Who may open routes matching `pattern` (by role), and whether objects are the customer's own.

    `tolerated`: roles neither asserted allowed nor denied (no 500 and no leak is still checked).
    `own_objects`: customers only reach their own objects (B's ids -> denied for A).
    `assigned_cases`: collectors only reach cases assigned to them.
    """

    pattern: str
    allowed: frozenset | str
    own_objects: bool = False
    tolerated: frozenset = frozenset()
    assigned_cases: bool = False


# First match wins. Routes are matched without the leading slash.
RULES = [
    Rule(r"^($|healthz$|accounts/(login|sign-up|password_reset|reset)|i18n/|plans/calculator/|"
         r"api/(schema|docs|redoc)/)", PUBLIC),
    Rule(r"^accounts/two-factor/users/", frozenset({"admin"})),
    Rule(r"^accounts/", AUTHENTICATED, tolerated=frozenset({"anonymous"})),
    Rule(r"^(me|profile)/", CUSTOMER, own_objects=True, tolerated=frozenset({"admin"})),
    Rule(r"^servicing/my/", CUSTOMER, own_objects=True, tolerated=frozenset({"admin"})),
    Rule(r"^documents/", CUSTOMER | FILE_ROLES, own_objects=True),
    Rule(r"^plans/(applications|offers)/", CUSTOMER, own_objects=True, tolerated=STAFF),
    # Merchants (issue #20): the customer's checkout page behind a signed link is public; staff onboard;
    # the portal is the merchant role's (an admin holds every role but works for no merchant: refused).
    Rule(r"^merchant/checkout/", PUBLIC),
    Rule(r"^merchant/staff/", MANAGERS),
    Rule(r"^merchant/", frozenset({"merchant"}), tolerated=frozenset({"admin"})),
    Rule(r"^manager/", MANAGERS),
    Rule(r"^staff/(customers|documents)/", FILE_ROLES),
    Rule(r"^staff/(applications|approvals|productivity)/", WORKBENCH),
    Rule(r"^staff/", STAFF, tolerated=STAFF),
    Rule(r"^servicing/staff/close-of-business/", frozenset({"manager", "admin", "approver"})),
    Rule(r"^servicing/staff/requests/", frozenset({"loan_officer", "approver", "manager", "admin"})),
    Rule(r"^servicing/staff/", STAFF),
    Rule(r"^servicing/books/", MANAGERS),  # and accountants (tests/ledger)
    Rule(r"^servicing/collections/analysis/", frozenset({"manager", "collector", "approver", "admin"})),
    Rule(r"^servicing/collections/", CASE_ROLES, assigned_cases=True),
    Rule(r"^scoring/monitoring/", frozenset({"approver", "manager", "admin"})),
    Rule(r"^scoring/", WORKBENCH),
    Rule(r"^plans/staff/", WORKBENCH),
    # API: staff-only customer files; everything else per view permission, customers own objects only.
    Rule(r"^api/v1/customers/", FILE_ROLES),
    Rule(r"^api/v1/auth/token/", PUBLIC),
    Rule(r"^api/v1/", "api", own_objects=True),
]
# Any other staff-looking prefix is at least closed to customers and anonymous visitors.
STAFF_PREFIX = re.compile(r"^(staff|manager|scoring|servicing/staff|servicing/collections|plans/staff)/")

IDENTITIES = ["anonymous", "customer_a", "customer_b", "officer", "collector", "approver", "manager", "admin",
              "merchant"]
ROLE_OF = {"customer_a": "customer", "customer_b": "customer", "officer": "loan_officer"}

# The noun before an id says which model it is.
NOUN_MODELS = {
    "applications": "application", "offers": "offer", "contracts": "contract", "plans": "plan", "payments": "payment",
    "cases": "case", "customers": "profile", "documents": "document", "consents": "consent", "requests": "request",
    "lines": "income", "notes": "note",
}
KWARG_MODELS = {"offer_pk": "offer", "document_pk": "document", "contract_pk": "contract", "plan_pk": "plan",
                "application_pk": "application", "case_pk": "case", "payment_pk": "payment"}
STR_VALUES = {"line_type": "income", "kind": "marketing", "step": "personal", "moment": "after_contract"}
GUESSED_ID = 987654
# Deliberate error-page previews (DEBUG only) answer with their status on purpose.
SKIP_VIEWS = {"config.views.error_403", "config.views.error_404", "config.views.error_500"}
CONVERTER = re.compile(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>")
LOGIN_PATHS = ("/accounts/login/", "/admin/login/")


def walk(resolver=None, prefix=""):
    """(route, pattern) for every route of the root URLconf; the admin site is walked separately."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = str(entry.pattern)
        if isinstance(entry, URLResolver):
            if prefix + route == "admin/":
                continue
            yield from walk(entry, prefix + route)
        elif isinstance(entry, URLPattern):
            yield prefix + route, entry


def _view_path(pattern: URLPattern) -> str:
    callback = getattr(pattern.callback, "cls", pattern.callback)
    return f"{callback.__module__}.{getattr(callback, '__qualname__', callback.__class__.__name__)}"


def rule_for(route: str) -> Rule | None:
    for rule in RULES:
        if re.search(rule.pattern, route):
            return rule
    if STAFF_PREFIX.search(route):
        return Rule("staff prefix", STAFF, tolerated=STAFF)
    return None


def _noun_before(route: str, position: int) -> str | None:
    for token in reversed([t for t in route[:position].split("/") if t]):
        if not CONVERTER.fullmatch(token):
            return token
    return None


def concrete_urls(route: str, world) -> list[tuple[str, str]]:
    """[(owner, url)]: the route filled with A's ids, B's ids and a guessed id (owner a / b / guess)."""
    converters = list(CONVERTER.finditer(route))
    if not any(m.group("conv") == "int" for m in converters):
        return [("none", "/" + CONVERTER.sub(lambda m: STR_VALUES.get(m.group("name"), "x"), route))]
    if any(not m.group("conv") or m.group("conv") not in ("int", "str", "slug", "path", "uuid")
           for m in converters):
        return []  # a regex route; nothing to fill

    def fill(choose) -> list[str]:
        urls = [""]
        last = 0
        for match in converters:
            literal = route[last:match.start()]
            last = match.end()
            if match.group("conv") == "int":
                values = choose(match)
            elif match.group("conv") == "uuid":
                values = ["00000000-0000-0000-0000-000000000000"]
            else:
                values = [STR_VALUES.get(match.group("name"), "x")]
            urls = [u + literal + str(v) for u in urls for v in values]
        return ["/" + u + route[last:] for u in urls]

    out = []
    for owner, book in (("a", world.a), ("b", world.b)):
        def choose(match, book=book):
            key = KWARG_MODELS.get(match.group("name")) or NOUN_MODELS.get(_noun_before(route, match.start()) or "")
            if key:
                return book.ids(key)[:3] or [GUESSED_ID]
            return sorted({pk for objs in book.objects.values() for pk in (o.pk for o in objs)})[:12]
        out += [(owner, url) for url in fill(choose)]
    out += [("guess", url) for url in fill(lambda m: [GUESSED_ID])]
    return list(dict.fromkeys(out))


def _api_permission_allows(pattern: URLPattern, user, method: str) -> bool | None:
    """What the DRF view's permission classes declare for `user` (None: cannot tell without a request)."""
    view_cls = getattr(pattern.callback, "cls", None)
    if view_cls is None:
        return None
    fake = type("FakeRequest", (), {"user": user, "method": method, "auth": None, "query_params": {}, "data": {}})()
    try:
        view = view_cls()
        return all(permission().has_permission(fake, view) for permission in view_cls.permission_classes)
    except Exception:  # a permission that needs more of the request than this: no expectation
        return None


def expectation(route: str, pattern: URLPattern, identity: str, user, owner: str, method: str) -> str:
    """'deny', 'allow' or 'any' (no expectation beyond: no 500, no leak)."""
    rule = rule_for(route)
    if rule is None:
        return "any"
    role = ROLE_OF.get(identity, identity)
    if rule.allowed == PUBLIC:
        return "any" if method == "POST" else "allow"
    if identity == "anonymous" and "anonymous" not in rule.tolerated:
        if rule.allowed == "api":
            declared = _api_permission_allows(pattern, _anonymous(), method)
            return "any" if declared else "deny"
        return "deny"
    if rule.allowed == AUTHENTICATED:
        return "any"
    if rule.allowed == "api":
        declared = _api_permission_allows(pattern, user, method) if user is not None else None
        if declared is False:
            return "deny"
        if rule.own_objects and role == "customer" and owner in ("a", "b") and owner != identity[-1]:
            return "deny"
        return "any"
    if role in rule.tolerated:
        return "any"
    if role not in rule.allowed and not (identity == "admin" and rule.allowed != CUSTOMER):
        return "deny"
    if rule.own_objects and role == "customer" and owner in ("a", "b") and owner != identity[-1]:
        return "deny"
    if rule.assigned_cases and role == "collector" and owner == "b" and "cases/" in route:
        return "deny"  # B's case is assigned to nobody
    return "allow" if method == "GET" and owner != "guess" else "any"


def _anonymous():
    from django.contrib.auth.models import AnonymousUser

    return AnonymousUser()


def _is_login_redirect(response) -> bool:
    return response.status_code in (301, 302) and any(p in response.get("Location", "") for p in LOGIN_PATHS)


def _denied(response, identity: str) -> bool:
    if _is_login_redirect(response):
        return True
    return response.status_code in ((401, 403, 404, 405) if identity == "anonymous" else (401, 403, 404, 405))


def _body(response) -> str:
    if getattr(response, "streaming", False):
        # Consuming it closes it (the test client's wrapper); closing it again would fire
        # request_finished and close the database connection mid-test.
        content = b"".join(response.streaming_content)
    else:
        content = response.content
    return content.decode("utf-8", "replace")


def database_fingerprint() -> str:
    """A digest of every row of the product's own tables (customers, installments, scoring, collections,
    tokens, OTP devices): any write changes it."""
    digest = hashlib.sha256()
    labels = ("customers", "installments", "scoring", "collections_app", "knox", "otp_totp")
    for model in apps.get_models():
        if model._meta.app_label in labels and not model._meta.proxy:
            rows = model._default_manager.order_by("pk").values_list()
            digest.update(f"{model._meta.label}:{list(rows)!r}".encode())
    return digest.hexdigest()


def _client_for(identity: str, world) -> tuple[Client, object]:
    client = Client(raise_request_exception=False)
    if identity == "anonymous":
        return client, None
    user = world.users[identity]
    client.force_login(user, backend="customers.backends.ModelBackendWithRoles")
    verify_two_factor(client, user)
    return client, user


def _routes():
    seen = set()
    for route, pattern in walk():
        if route in seen or _view_path(pattern) in SKIP_VIEWS:
            continue
        seen.add(route)
        yield route, pattern


def _methods(pattern: URLPattern) -> tuple[str, ...]:
    view_cls = getattr(pattern.callback, "cls", None)
    if view_cls is not None:
        return tuple(m for m in ("GET", "POST") if hasattr(view_cls, m.lower())) or ("GET",)
    return ("GET", "POST")


def test_the_walk_covers_every_area_of_the_product(world):
    routes = [route for route, _ in _routes()]
    for prefix in ("me/", "profile/", "staff/", "servicing/my/", "servicing/staff/", "servicing/collections/",
                   "scoring/", "plans/", "api/v1/", "documents/"):
        assert any(r.startswith(prefix) for r in routes), prefix
    filled = [url for route, _ in _routes() for _, url in concrete_urls(route, world)]
    assert len(filled) > len(routes)
    assert f"/servicing/my/plans/{world.b.ids('plan')[0]}/" in filled


@pytest.mark.parametrize("identity", IDENTITIES)
def test_every_route_answers_as_the_rules_say_and_never_leaks_b_to_a(world, identity):
    client, user = _client_for(identity, world)
    b_markers = world.b.markers if identity in ("anonymous", "customer_a") else []
    a_markers = world.a.markers if identity == "customer_b" else []
    problems, own_pages_ok, denied_count = [], 0, 0
    plan = []
    for route, pattern in _routes():
        for owner, url in concrete_urls(route, world):
            try:
                match = resolve(url)
            except Resolver404:
                continue
            if match.route != route:
                continue  # shadowed by an earlier route, walked there
            for method in _methods(pattern):
                plan.append((route, pattern, owner, url, method,
                             expectation(route, pattern, identity, user, owner, method)))

    # Pass 1: everything this identity must not reach, GET and POST; nothing may change.
    before = database_fingerprint()
    for _route, _pattern, _owner, url, method, expected in plan:
        if expected != "deny":
            continue
        denied_count += 1
        response = client.get(url) if method == "GET" else client.post(url, {})
        body = _body(response)
        if not _denied(response, identity):
            problems.append(f"{identity} {method} {url}: {response.status_code}, expected a refusal")
        for marker in b_markers + a_markers:
            if marker in body:
                problems.append(f"{identity} {method} {url}: shows another customer's {marker!r}")
    after = database_fingerprint()
    if before != after:
        problems.append(f"{identity}: refused requests changed the database")

    # Pass 2: what the identity may open (GET only), plus routes without an expectation.
    for _route, _pattern, owner, url, method, expected in plan:
        if expected == "deny" or method != "GET":
            continue
        response = client.get(url)
        body = _body(response)
        if response.status_code >= 500:
            problems.append(f"{identity} GET {url}: {response.status_code}")
        if expected == "allow" and response.status_code in (401, 403):
            problems.append(f"{identity} GET {url}: {response.status_code}, expected access")
        if expected == "allow" and _is_login_redirect(response) and identity != "anonymous":
            problems.append(f"{identity} GET {url}: sent to log in, expected access")
        for marker in b_markers + a_markers:
            if marker in body:
                problems.append(f"{identity} GET {url}: shows another customer's {marker!r}")
        if identity == "customer_a" and owner == "a" and response.status_code == 200:
            own_pages_ok += 1

    assert not problems, "\n".join(problems)
    if identity == "customer_a":
        assert own_pages_ok >= 5, "customer A opened too few of their own pages: the walk proves little"
    if identity in ("anonymous", "customer_a", "customer_b"):
        assert denied_count > 20


# --- The admin site -----------------------------------------------------------------------------------

def _admin_urls(world) -> list[str]:
    urls = [reverse("admin:index")]
    objects = {type(o): o for objs in world.b.objects.values() for o in objs}
    objects[type(world.b.user)] = world.b.user
    for model in admin.site._registry:
        info = (model._meta.app_label, model._meta.model_name)
        for name in ("changelist", "add"):
            try:
                urls.append(reverse(f"admin:{info[0]}_{info[1]}_{name}"))
            except NoReverseMatch:
                pass
        if model in objects:
            urls.append(reverse(f"admin:{info[0]}_{info[1]}_change", args=[objects[model].pk]))
            urls.append(reverse(f"admin:{info[0]}_{info[1]}_history", args=[objects[model].pk]))
    return urls


def test_only_the_admin_opens_the_admin_site(world):
    urls = _admin_urls(world)
    assert len(urls) > 20
    for identity in IDENTITIES:
        client, _ = _client_for(identity, world)
        for url in urls:
            response = client.get(url)
            if identity == "admin":
                assert response.status_code in (200, 302, 403), (url, response.status_code)
                assert response.status_code != 302 or "/admin/login/" not in response["Location"], url
            else:
                assert _is_login_redirect(response), (identity, url, response.status_code)


def test_the_admin_needs_the_second_factor_too(world):
    client = Client()
    client.force_login(world.users["admin"], backend="customers.backends.ModelBackendWithRoles")
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302 and "/accounts/two-factor/" in response["Location"]
