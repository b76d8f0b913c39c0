"""The platform itself: database vendor, health check, Celery through Redis, API docs, i18n."""

import os

import pytest
from django.db import connection
from django.urls import reverse

from config.celery import app as celery_app
from tests.conftest import requires_redis

pytestmark = pytest.mark.django_db


def test_database_vendor_matches_database_url():
    url = os.environ.get("DATABASE_URL", "")
    expected = "postgresql" if url.startswith(("postgres://", "postgresql://")) else "sqlite"
    assert connection.vendor == expected


def test_healthz_reports_ok_when_everything_answers(client, settings):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["redis"] == ("ok" if settings.REDIS_URL else "not configured")


def test_healthz_names_redis_when_it_is_down(client, settings):
    # Port 1 on loopback refuses connections: the same answer a stopped Redis gives.
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["down"] == ["redis"]
    assert body["redis"].startswith("down:")
    assert body["database"] == "ok"


@requires_redis
def test_healthz_reports_a_stopped_redis_server(client, settings, tmp_path):
    """Start a throwaway Redis, point the app at it, stop it: /healthz must say Redis is down."""
    import shutil
    import socket
    import subprocess
    import time

    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server binary not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
    try:
        settings.REDIS_URL = f"redis://127.0.0.1:{port}/0"
        for _ in range(50):
            if client.get("/healthz").status_code == 200:
                break
            time.sleep(0.1)
        assert client.get("/healthz").json()["redis"] == "ok"
    finally:
        proc.terminate()
        proc.wait(10)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["down"] == ["redis"]


@requires_redis
def test_real_worker_runs_a_task_through_redis(celery_live_worker):
    assert celery_app.conf.broker_url.startswith("redis://")
    result = celery_app.send_task("config.ping", args=[41], queue="default")
    assert result.get(timeout=30) == 42


def test_tasks_run_in_process_without_redis(settings):
    if settings.REDIS_URL:
        pytest.skip("only meaningful without REDIS_URL")
    from config.celery import ping

    assert celery_app.conf.task_always_eager is True
    assert ping.delay(1).get(timeout=5) == 2


def test_task_routes_send_work_to_separate_queues():
    routes = celery_app.conf.task_routes
    assert routes["scoring.tasks.*"]["queue"] == "scoring"
    assert routes["collections_app.tasks.send_*"]["queue"] == "notifications"
    assert routes["collections_app.tasks.*"]["queue"] == "batch"
    assert celery_app.conf.task_acks_late is True
    assert celery_app.conf.beat_scheduler == "django_celery_beat.schedulers:DatabaseScheduler"


def test_openapi_schema_and_offline_docs(client):
    schema = client.get(reverse("api-schema"))
    assert schema.status_code == 200
    assert b"openapi" in schema.content
    docs = client.get(reverse("api-docs"))
    assert docs.status_code == 200
    # Swagger UI assets come from our own static files, never a CDN.
    assert b"cdn." not in docs.content and b"unpkg" not in docs.content
    assert b"/static/drf_spectacular_sidecar/" in docs.content


def test_pages_use_only_local_assets_and_have_a_language_switcher(client):
    html = client.get("/").content.decode()
    assert "/static/vendor/bootstrap/bootstrap.min.css" in html
    assert "/static/vendor/htmx/htmx.min.js" in html
    assert "http://" not in html.split("<body")[0] and "https://" not in html.split("<body")[0]
    assert 'name="language"' in html and "简体中文" in html


def test_language_switch_translates_the_page(client):
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    html = client.get("/").content.decode()
    assert "登录" in html  # "Log in"


def test_security_headers_present(client):
    response = client.get("/")
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_friendly_404_page(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert b"We could not find that page" in response.content


def test_api_errors_are_json_naming_the_field(api_client):
    response = api_client.post(reverse("api-token"), {"username": "", "password": "x"}, format="json")
    assert response.status_code == 400
    assert "username" in response.json()


def test_every_setting_read_from_the_environment_is_documented_in_env_example():
    import re

    from django.conf import settings as django_settings

    source = (django_settings.BASE_DIR / "config" / "settings.py").read_text()
    read = set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]+)"', source))
    read |= set(re.findall(r'\("(SCORING_ANOMALY_[A-Z_]+)"', source))
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (django_settings.BASE_DIR / ".env.example").read_text(),
                                re.MULTILINE))
    assert "SITE_URL" in read and "EMAIL_URL" in read
    assert read - documented == set()
