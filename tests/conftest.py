"""Fixtures shared by the whole suite: users per role and a real Celery worker on Redis."""

import os

import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

from customers.roles import Role
from tests.factories import UserFactory


def pytest_report_header(config):
    db = os.environ.get("DATABASE_URL", "sqlite (default)")
    redis_url = os.environ.get("REDIS_URL") or "not set: tasks run in-process; worker tests are skipped"
    return [f"database: {db.split('@')[-1]}", f"redis: {redis_url}"]


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    """Uploaded files of every test go to a temporary folder, never the working tree's media/."""
    settings.MEDIA_ROOT = tmp_path / "media"


def ensure_books_defaults() -> None:
    """The rows the books' data migrations make (chart of accounts, default account mappings, the
    classification policy): a transactional test's flush removes them, and every plan posts to them."""
    from importlib import import_module

    from django.apps import apps

    import_module("collections_app.migrations.0006_default_chart_of_accounts").create_chart(apps, None)
    import_module("collections_app.migrations.0007_books_posting").create_defaults(apps, None)


@pytest.fixture(autouse=True)
def _books_defaults(request):
    """Before a test on a flushed (transactional) database, put the books' default rows back."""
    marker = request.node.get_closest_marker("django_db")
    transactional = (marker is not None and (marker.kwargs.get("transaction") or (marker.args and marker.args[0]))
                     or "transactional_db" in request.fixturenames or "live_server" in request.fixturenames)
    if transactional:
        request.getfixturevalue("transactional_db")
        ensure_books_defaults()
    yield


@pytest.fixture(autouse=True)
def _default_language():
    """Every test starts in the default language: a request in Chinese must not leak into the next test."""
    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.deactivate()


@pytest.fixture
def make_user(db):
    def _make(*roles, **kwargs):
        return UserFactory(roles=roles, **kwargs)

    return _make


@pytest.fixture
def customer(make_user):
    return make_user(Role.CUSTOMER)


@pytest.fixture
def officer(make_user):
    return make_user(Role.LOAN_OFFICER)


@pytest.fixture
def approver(make_user):
    return make_user(Role.APPROVER)


@pytest.fixture
def collector(make_user):
    return make_user(Role.COLLECTOR)


@pytest.fixture
def manager(make_user):
    return make_user(Role.MANAGER)


def totp_device_for(user):
    """The user's confirmed TOTP device (made if missing), ready to accept the current code again."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
    device.last_t = -1  # a test may use the same 30-second code twice
    device.throttling_failure_count = 0
    device.throttling_failure_timestamp = None
    device.save(update_fields=["last_t", "throttling_failure_count", "throttling_failure_timestamp"])
    return device


def totp_code(device) -> str:
    """The code the user's authenticator app shows now."""
    from django_otp.oath import totp

    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):0{device.digits}d}"


def verify_two_factor(client, user) -> None:
    """For a user whose role needs two-factor authentication (settings.TWO_FACTOR_ROLES), mark the
    client's session verified by a confirmed TOTP device, the way django-otp's login() does."""
    from django_otp import DEVICE_ID_SESSION_KEY

    from customers.two_factor import requires_two_factor

    if not requires_two_factor(user):
        return
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = totp_device_for(user).persistent_id
    session.save()


def complete_two_factor(page, user) -> None:
    """Browser tests: after submitting the login form of a user with a two-factor role, pass the
    TOTP step (the setup page turns into the verify page once the user has a confirmed device)."""
    device = totp_device_for(user)
    page.wait_for_url("**/accounts/two-factor/**")
    if "/two-factor/setup/" in page.url:
        page.reload()
        page.wait_for_url("**/accounts/two-factor/verify/**")
    page.fill("input[name=otp_token]", totp_code(device))
    page.click("#two-factor-submit")
    page.wait_for_load_state()


class TwoFactorAwareClient(Client):
    """The test client whose force_login() also passes the TOTP step for two-factor roles.

    force_login() skips the password; it skips the second factor too, so tests that log in an
    approver or admin directly keep working. Logging in through the form still meets the real step.
    """

    def force_login(self, user, backend=None):
        super().force_login(user, backend)
        verify_two_factor(self, user)


@pytest.fixture
def client():
    """pytest-django's `client`, 2FA-aware (see TwoFactorAwareClient)."""
    return TwoFactorAwareClient()


@pytest.fixture
def client_for(client):
    """`client_for(user)` -> the test client logged in as that user (two-factor step passed for the
    roles that need it)."""

    def _login(user):
        client.force_login(user, backend="customers.backends.ModelBackendWithRoles")
        verify_two_factor(client, user)
        return client

    return _login


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


requires_redis = pytest.mark.skipif(not settings.REDIS_URL, reason="REDIS_URL not set (CI sets it)")


@pytest.fixture
def celery_live_worker(transactional_db):
    """A real Celery worker thread consuming from the real Redis broker (all queues).

    Tests using it must be marked `requires_redis`; they see committed rows only, like production.
    """
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    app.conf.task_always_eager = False
    try:
        with start_worker(
            app, pool="solo", concurrency=1, perform_ping_check=False, loglevel="WARNING",
            queues=["default", "scoring", "notifications", "batch"], shutdown_timeout=20,
        ) as worker:
            yield worker
    finally:
        app.conf.task_always_eager = settings.CELERY_TASK_ALWAYS_EAGER


@pytest.fixture
def celery_eager():
    """Tasks run in-process, as without REDIS_URL: for tests that run on-commit callbacks which
    enqueue work but have no worker (nothing is left on the real broker for a later test)."""
    from config.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        yield app
    finally:
        app.conf.task_always_eager = previous


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def browser_page(live_server, monkeypatch):
    """A Playwright page in Debian's headless Chromium, pointed at the live server.

    `page.goto(live_server.url + path)`; skipped when Chromium is not installed (`.ci/run`
    installs it). Playwright's sync API runs an event loop in this thread, so Django's
    async-safety guard is relaxed for the test's own ORM calls.
    """
    if not os.path.exists(CHROMIUM):
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        # Reduced motion: Bootstrap's smooth `scroll-behavior` and the viewer's animated scroll
        # would otherwise move an element between Playwright's stability check and its click.
        context = browser.new_context(locale="en-US", reduced_motion="reduce")
        page = context.new_page()
        page.set_default_timeout(15000)
        page.live_server_url = live_server.url
        try:
            yield page
        finally:
            context.close()
            browser.close()
