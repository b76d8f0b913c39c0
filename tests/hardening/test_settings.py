"""Production settings: deploy checks, HSTS and secure cookies, DEBUG off unless asked for, friendly
error pages, security headers, and no secrets committed to the repository."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

REPO = Path(__file__).resolve().parents[2]
PROD_ENV = {
    "DEBUG": "0", "SECRET_KEY": "test-" + "k" * 60, "ALLOWED_HOSTS": "lend.example.com",
    "PII_ENCRYPTION_KEYS": "qq4P6f8H1ivCjt7a5uNJtH_AUchH8W4CB7JcDNqHZfY=", "PII_HASH_KEY": "test-hash-key-0123456789",
}


def _python(code: str, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY", "DJANGO_SETTINGS_MODULE")}
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env={**clean, **env}, capture_output=True,
                          text=True, timeout=120)


SETTINGS_DUMP = """
import django, json, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()
from django.conf import settings as s
print(json.dumps({k: getattr(s, k, None) for k in (
    "DEBUG", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY", "CSRF_COOKIE_HTTPONLY", "X_FRAME_OPTIONS",
    "SECURE_CONTENT_TYPE_NOSNIFF", "SESSION_COOKIE_AGE", "TWO_FACTOR_ROLES")}))
"""


def test_production_settings_turn_on_hsts_and_secure_cookies_and_debug_is_off_by_default():
    import json

    result = _python(SETTINGS_DUMP, **{k: v for k, v in PROD_ENV.items() if k != "DEBUG"})
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values["DEBUG"] is False  # no DEBUG in the environment -> off
    assert values["SECURE_HSTS_SECONDS"] >= 31536000 and values["SECURE_HSTS_INCLUDE_SUBDOMAINS"]
    assert values["SECURE_SSL_REDIRECT"] and values["SESSION_COOKIE_SECURE"] and values["CSRF_COOKIE_SECURE"]
    assert values["SESSION_COOKIE_HTTPONLY"] and values["CSRF_COOKIE_HTTPONLY"] and values["X_FRAME_OPTIONS"] == "DENY"
    assert 0 < values["SESSION_COOKIE_AGE"] <= 12 * 3600
    assert {"approver", "admin"} <= set(values["TWO_FACTOR_ROLES"])


def test_production_settings_refuse_to_start_without_a_secret_key():
    env = {k: v for k, v in PROD_ENV.items() if k != "SECRET_KEY"}
    result = _python(SETTINGS_DUMP, **env)
    assert result.returncode != 0 and "SECRET_KEY" in result.stderr


def test_deploy_security_checks_are_clean_with_production_settings():
    """`check --deploy` (security checks) passes at WARNING level; CI runs the full deploy check."""
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--tag", "security", "--fail-level", "WARNING"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
        env={**{k: v for k, v in os.environ.items() if k != "DEBUG"}, **PROD_ENV},
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.django_db
def test_friendly_error_pages_without_debug_details(settings):
    settings.DEBUG = False
    client = Client(raise_request_exception=False)
    response = client.get("/no-such-page-here/")
    assert response.status_code == 404
    body = response.content.decode()
    assert "Traceback" not in body and "URLconf" not in body and "<html" in body.lower()

    from config import views

    response = views.error_500(None)
    assert response.status_code == 500 and "Traceback" not in response.content.decode()
    assert "<html" in response.content.decode().lower()


def test_an_unhandled_error_shows_the_friendly_500_page(client, settings, monkeypatch):
    from config import views

    settings.DEBUG = False
    monkeypatch.setattr(views, "render", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom secret")))
    response = Client(raise_request_exception=False).get(reverse("home"))
    assert response.status_code == 500
    assert "boom secret" not in response.content.decode() and "Traceback" not in response.content.decode()


@pytest.mark.django_db
def test_security_headers_on_every_page(client):
    response = client.get(reverse("login"))
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


# --- No secrets in the repository ----------------------------------------------------------------------

SECRET_PATTERNS = {
    "private key": re.compile(r"-----BEGIN (RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----"),
    "AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Slack token": re.compile(r"\bxox[baprs]-[A-Za-z0-9-]{10,}"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b"),
    "Stripe key": re.compile(r"\bsk_live_[0-9a-zA-Z]{24,}"),
    "password in a URL": re.compile(r"\b(postgres|postgresql|redis|amqp|smtp)(\+\w+)?://[^:/\s@]+:(?!secret@|password@|"
                                    r"pass@|\$)[^@\s]{6,}@"),
    "assigned secret": re.compile(r"""(?i)\b(SECRET_KEY|PII_HASH_KEY|PII_ENCRYPTION_KEYS|API_KEY|PASSWORD)\s*=\s*"""
                                  r"""['"]?[A-Za-z0-9+/=_\-]{32,}"""),
}
# Deliberate, documented development-only values: the settings' DEBUG-only key and the throwaway
# password of docker-compose's private database container (never reachable from outside).
ALLOWED = ("dev-only-insecure-key-change-me", "//installments:installments@")


def _tracked_files() -> list[Path]:
    result = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, timeout=60)
    if result.returncode != 0:
        pytest.skip("not a git checkout")
    return [REPO / name for name in result.stdout.decode().split("\0") if name]


def test_no_secrets_in_tracked_files():
    findings = []
    this_file = Path(__file__).resolve()
    for path in _tracked_files():
        if path.resolve() == this_file:  # its own examples of what a secret looks like
            continue
        if not path.is_file() or path.stat().st_size > 2_000_000 or path.suffix in (".png", ".jpg", ".pdf", ".mo",
                                                                                  ".woff", ".woff2", ".joblib"):
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for name, pattern in SECRET_PATTERNS.items():
            for match in pattern.finditer(text):
                if not any(allowed in match.group(0) for allowed in ALLOWED):
                    findings.append(f"{path.relative_to(REPO)}: {name}: {match.group(0)[:40]}...")
    assert not findings, "\n".join(findings)
    assert not any(p.name == ".env" for p in _tracked_files()), ".env must never be committed"


def test_the_secret_scan_would_catch_a_key():
    assert SECRET_PATTERNS["private key"].search("-----BEGIN RSA PRIVATE KEY-----")
    assert SECRET_PATTERNS["password in a URL"].search("postgres://app:Hunter2Hunter2@db:5432/x")
    assert not SECRET_PATTERNS["password in a URL"].search("postgres://installments:secret@127.0.0.1:5432/db")
