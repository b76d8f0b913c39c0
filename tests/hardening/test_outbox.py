"""The transactional outbox (customers/outbox.py) and the cache failing soft (config/cache.py), on any
database and without a broker: what runs when, what is resent, and what each limit does with Redis down.
The same with a real redis-server and worker: test_outbox_faults.py."""

import json
import time
from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from config.cache import UNCOUNTABLE, FailSoftRedisCache
from config.celery import app as celery_app
from customers import outbox
from customers.models import OutboxTask
from customers.roles import Role
from tests.factories import TEST_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db
PING = "config.ping"
DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1: every call is refused at once


@pytest.fixture
def eager():
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture
def broker_down():
    """Producers point at a closed port (this process only), as with Redis down."""
    # The stored value (None), not the property, which falls back to broker_url.
    previous = celery_app.conf.task_always_eager, celery_app.conf.get("broker_write_url")
    celery_app.conf.task_always_eager = False
    celery_app.conf.broker_write_url = DEAD_REDIS
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    yield
    celery_app.conf.task_always_eager, celery_app.conf.broker_write_url = previous
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def dead_cache(settings):
    settings.CACHES = {"default": {"BACKEND": "config.cache.FailSoftRedisCache", "LOCATION": DEAD_REDIS,
                                   "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.5}}}


def test_the_task_runs_after_commit_and_the_row_is_marked_done(eager, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        with transaction.atomic():
            row = outbox.enqueue(PING, args=[1])
    assert OutboxTask.objects.get(pk=row.pk).dispatched_at is None and len(callbacks) == 1
    callbacks[0]()
    row.refresh_from_db()
    assert row.dispatched_at and row.done_at and row.attempts == 1 and row.due_at is None and not row.last_error


def test_a_rolled_back_change_queues_nothing(eager, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            outbox.enqueue(PING, args=[1])
            raise RuntimeError("the business change failed")
    assert not OutboxTask.objects.exists() and not callbacks


def test_broker_down_the_commit_goes_on_at_once_and_the_row_waits_for_the_dispatcher(
        broker_down, django_capture_on_commit_callbacks, caplog):
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        row = outbox.enqueue(PING, args=[2])
    assert time.monotonic() - started < 2
    row.refresh_from_db()
    assert row.dispatched_at is None and row.attempts == 0 and "OperationalError" in row.last_error
    assert row.due_at <= timezone.now() and "could not be queued" in caplog.text
    second = outbox.enqueue(PING, args=[3])
    report = outbox.dispatch()
    assert report["published"] == 0 and report["stopped_at"] == row.pk  # stops at the first broker error
    assert OutboxTask.objects.get(pk=second.pk).dispatched_at is None


def test_the_dispatcher_publishes_what_is_due_and_resends_what_was_not_done(eager, settings):
    settings.OUTBOX_RESEND_AFTER = 60
    now = timezone.now()
    never = OutboxTask.objects.create(task_name=PING, args=[1], due_at=now - timedelta(seconds=1))
    lost = OutboxTask.objects.create(task_name=PING, args=[2], attempts=1, dispatched_at=now - timedelta(minutes=5),
                                     due_at=now - timedelta(seconds=1))
    waiting = OutboxTask.objects.create(task_name=PING, args=[3], not_before=now + timedelta(hours=1),
                                        due_at=now + timedelta(hours=1))
    done = OutboxTask.objects.create(task_name=PING, args=[4], attempts=1, dispatched_at=now, done_at=now,
                                     due_at=None)
    assert outbox.dispatch()["published"] == 2
    for row in (never, lost, waiting, done):
        row.refresh_from_db()
    assert never.done_at and lost.done_at and lost.attempts == 2
    assert waiting.dispatched_at is None and done.attempts == 1


def test_a_deferred_task_is_left_to_the_dispatcher_until_its_time(eager, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        row = outbox.enqueue(PING, args=[1], not_before=timezone.now() + timedelta(hours=8))
    assert not callbacks and outbox.dispatch()["published"] == 0
    OutboxTask.objects.filter(pk=row.pk).update(due_at=timezone.now())
    assert outbox.dispatch()["published"] == 1 and OutboxTask.objects.get(pk=row.pk).done_at


def test_the_resend_waits_double_each_time_and_gives_up(broker_down, settings):
    settings.OUTBOX_RESEND_AFTER, settings.OUTBOX_MAX_ATTEMPTS = 240, 3
    assert [outbox._resend_after(n).total_seconds() for n in (1, 2, 3, 9)] == [240, 480, 960, 3600]
    row = OutboxTask.objects.create(task_name=PING, attempts=3, dispatched_at=timezone.now(), due_at=timezone.now())
    assert outbox.dispatch()["gave_up"] == 1
    row.refresh_from_db()
    assert row.due_at is None and "gave up" in row.last_error


def test_done_rows_are_purged_after_the_keeping_days(settings):
    settings.OUTBOX_KEEP_DAYS = 7
    old = timezone.now() - timedelta(days=8)
    OutboxTask.objects.create(task_name=PING, done_at=old)
    OutboxTask.objects.create(task_name=PING, done_at=timezone.now())
    OutboxTask.objects.create(task_name=PING, created_at=old, due_at=old)  # not done: kept
    assert outbox.purge() == 1 and OutboxTask.objects.count() == 2


def test_the_scoring_is_queued_through_the_outbox_in_the_submission_transaction(eager):
    from installments.origination import applications

    with transaction.atomic():
        assert applications.enqueue_scoring(application_id=987654)
    assert OutboxTask.objects.filter(task_name=applications.SCORE_TASK, args=[987654]).exists()


def test_the_admin_shows_the_outbox_read_only(client_for):
    admin = UserFactory(roles=[Role.ADMIN], is_staff=True, is_superuser=True)
    row = OutboxTask.objects.create(task_name=PING, args=[1], last_error="OperationalError: refused")
    client = client_for(admin)
    listing = client.get(reverse("admin:customers_outboxtask_changelist"))
    assert listing.status_code == 200 and PING in listing.content.decode()
    page = client.get(reverse("admin:customers_outboxtask_change", args=[row.pk]))
    assert page.status_code == 200 and "refused" in page.content.decode() and 'name="_save"' not in page.content.decode()
    assert client.get(reverse("admin:customers_outboxtask_add")).status_code == 403


# --- The cache with Redis down --------------------------------------------------------------------------

def test_the_cache_fails_soft_and_stops_trying_for_a_while(dead_cache):
    from django.core.cache import caches

    cache = caches["default"]
    assert isinstance(cache, FailSoftRedisCache)
    started = time.monotonic()
    assert cache.get("k", "default") == "default" and cache.set("k", 1) is False and cache.add("k", 1) is False
    assert "k" not in cache and cache.get_many(["k"]) == {} and cache.delete("k") is False
    assert cache.incr("counter") == UNCOUNTABLE  # a limit counted here refuses (fails closed)
    assert cache.get_or_set("k", 5) == 5
    assert time.monotonic() - started < 1
    assert cache._down_until > time.monotonic()  # not tried again for a few seconds


@pytest.fixture
def silent_redis():
    """A port that accepts connections and never answers (a hung Redis, a half-open network path)."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    listener.close()


def test_a_redis_that_does_not_answer_costs_one_short_timeout(silent_redis, settings,
                                                              django_capture_on_commit_callbacks):
    """Every Redis call is bounded well under a second: the cache's reads and the broker's publish."""
    from django.core.cache import caches

    settings.CACHES = {"default": {**settings.CACHES["default"], "BACKEND": "config.cache.FailSoftRedisCache",
                                   "LOCATION": silent_redis,
                                   "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.5}}}
    started = time.monotonic()
    assert caches["default"].get("k") is None
    assert time.monotonic() - started < 1
    started = time.monotonic()
    assert caches["default"].get("k") is None  # not tried again for a few seconds
    assert time.monotonic() - started < 0.05

    previous = celery_app.conf.task_always_eager, celery_app.conf.get("broker_write_url")
    celery_app.conf.task_always_eager, celery_app.conf.broker_write_url = False, silent_redis
    celery_app._pool = celery_app.amqp._producer_pool = None
    try:
        started = time.monotonic()
        with django_capture_on_commit_callbacks(execute=True):
            row = outbox.enqueue(PING, args=[1])
        assert time.monotonic() - started < 1.5
    finally:
        celery_app.conf.task_always_eager, celery_app.conf.broker_write_url = previous
        celery_app._pool = celery_app.amqp._producer_pool = None
    row.refresh_from_db()
    assert row.dispatched_at is None and "imeout" in row.last_error


QUOTE = {"amount": "12000", "annual_interest_rate": "12", "term_months": 12, "method": "annuity",
         "disbursement_date": "2026-01-15"}


def test_the_quote_api_and_its_throttle_work_without_redis(dead_cache, settings):
    """Fails open: the anonymous quote throttle cannot count, the quote is answered."""
    client = APIClient()
    for _ in range(3):
        response = client.post("/api/v1/quotes/", json.dumps(QUOTE), content_type="application/json")
        assert response.status_code == 200, response.content[:300]


def test_password_reset_mails_are_not_sent_without_redis(dead_cache, db):
    """Fails closed: the per-address and per-client counts cannot be kept, so nothing is sent; the
    page is the same as always."""
    UserFactory(roles=[Role.CUSTOMER], email="reset@example.org")
    response = Client().post(reverse("password_reset"), {"email": "reset@example.org"})
    assert response.status_code == 302 and response["Location"] == reverse("password_reset_done")
    assert mail.outbox == []


def test_login_lockout_holds_without_redis(dead_cache, settings):
    """Log-in throttling is in the database (django-axes): it locks with Redis down."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    UserFactory(roles=[Role.CUSTOMER], email="locked@example.org")
    client = Client()
    for _ in range(5):
        client.post(reverse("login"), {"username": "locked@example.org", "password": "wrong-password-1"})
    response = client.post(reverse("login"), {"username": "locked@example.org", "password": TEST_PASSWORD})
    assert "_auth_user_id" not in client.session and response.status_code in (403, 429)
