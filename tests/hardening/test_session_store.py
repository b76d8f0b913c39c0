"""Sessions in the database, cached in Redis (config/session_store.py): a signed-in page reads its
session from Redis, a log-out ends it in both, and with Redis down every signed-in page still works
from the database."""

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from customers.roles import Role
from tests.conftest import requires_redis
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ENGINE = "config.session_store"
DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1: every call is refused at once


def _session_queries(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if "django_session" in q["sql"]]


@pytest.fixture
def redis_sessions(settings):
    settings.SESSION_ENGINE = ENGINE
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": django_settings.REDIS_URL.rsplit("/", 1)[0] + "/12",
                                   "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}}
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def redis_down(settings):
    settings.SESSION_ENGINE = ENGINE
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": DEAD_REDIS,
                                   "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}}


@pytest.fixture
def customer():
    return UserFactory(roles=[Role.CUSTOMER])


def test_production_settings_cache_sessions_only_with_redis():
    assert (django_settings.SESSION_ENGINE == ENGINE) == bool(django_settings.REDIS_URL)


@requires_redis
def test_a_signed_in_page_reads_its_session_from_redis_not_the_database(client, customer, redis_sessions):
    client.force_login(customer)
    with CaptureQueriesContext(connection) as captured:
        assert client.get(reverse("portal:account")).status_code == 200
    assert _session_queries(captured) == []


@requires_redis
def test_a_session_cached_only_in_the_database_is_read_there_once_then_from_redis(client, customer, redis_sessions):
    from django.core.cache import cache

    client.force_login(customer)
    cache.clear()  # as after a Redis restart: the database still has it
    with CaptureQueriesContext(connection) as first:
        assert client.get(reverse("portal:account")).status_code == 200
    with CaptureQueriesContext(connection) as second:
        assert client.get(reverse("portal:account")).status_code == 200
    assert len(_session_queries(first)) == 1
    assert _session_queries(second) == []


@requires_redis
def test_log_out_ends_the_session_in_the_database_and_in_redis(client, customer, redis_sessions):
    from django.contrib.sessions.models import Session
    from django.core.cache import cache

    client.force_login(customer)
    key = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    assert client.get(reverse("portal:account")).status_code == 200
    assert cache.get("django.contrib.sessions.cached_db" + key) is not None

    assert client.post(reverse("logout")).status_code == 302
    assert not Session.objects.filter(session_key=key).exists()
    assert cache.get("django.contrib.sessions.cached_db" + key) is None
    client.cookies[django_settings.SESSION_COOKIE_NAME] = key  # the old cookie, replayed
    response = client.get(reverse("portal:account"))
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_with_redis_down_signed_in_pages_and_log_out_still_work_from_the_database(client, customer, redis_down):
    from django.contrib.sessions.models import Session

    client.force_login(customer)  # the cache write fails and is logged; the database has the session
    key = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    assert Session.objects.filter(session_key=key).exists()
    with CaptureQueriesContext(connection) as captured:
        assert client.get(reverse("portal:account")).status_code == 200
    assert len(_session_queries(captured)) == 1

    assert client.post(reverse("logout")).status_code == 302
    assert not Session.objects.filter(session_key=key).exists()
    client.cookies[django_settings.SESSION_COOKIE_NAME] = key
    assert client.get(reverse("portal:account")).status_code == 302
