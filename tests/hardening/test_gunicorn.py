"""The gunicorn settings production serves with (config/gunicorn_settings.py): a worker starts from
them and answers, and each worker has its views imported and the framework frozen out of the
garbage collector before its first request."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.hardening.test_settings import PROD_ENV, _python

REPO = Path(__file__).resolve().parents[2]

WORKER_INIT = """
import gc, json, os, runpy, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
import django
django.setup()
hooks = runpy.run_path("config/gunicorn_settings.py")
before = gc.get_freeze_count()
hooks["post_worker_init"](None)
print(json.dumps({"before": before, "after": gc.get_freeze_count(), "workers": hooks["workers"],
                  "tmp_dir": hooks.get("worker_tmp_dir"),
                  "views_imported": all(m in sys.modules for m in (
                      "portal.views", "installments.workbench.views", "collections_app.api"))}))
"""


def test_a_worker_imports_every_view_and_freezes_the_framework_before_serving():
    import json

    result = _python(WORKER_INIT, **PROD_ENV, WEB_CONCURRENCY="3")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["before"] == 0
    assert report["after"] > 50_000  # Django, pandas, scikit-learn: far more objects than one request makes
    assert report["views_imported"] is True
    assert report["workers"] == 3
    assert report["tmp_dir"] == ("/dev/shm" if os.path.isdir("/dev/shm") else None)  # heartbeats in memory


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_gunicorn_serves_the_app_with_these_settings():
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent))
    if gunicorn is None:
        pytest.skip("gunicorn is not installed in this environment")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY", "DJANGO_SETTINGS_MODULE")}
    env.update(PROD_ENV, ALLOWED_HOSTS="127.0.0.1", SECURE_SSL_REDIRECT="0", GUNICORN_BIND=f"127.0.0.1:{port}",
               WEB_CONCURRENCY="1")
    server = subprocess.Popen([gunicorn, "-c", "config/gunicorn_settings.py", "config.wsgi:application"], cwd=REPO,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        answer = None
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
                    answer = (response.status, response.headers.get("Content-Type"))
                break
            except urllib.error.HTTPError as error:  # 503: the app answers, a service it checks is down
                answer = (error.code, error.headers.get("Content-Type"))
                break
            except OSError:
                if server.poll() is not None:
                    break
                time.sleep(0.2)
        assert answer is not None, f"gunicorn did not answer: {server.poll()} {server.stderr.read() if server.poll() is not None else ''}"
        assert answer[0] in (200, 503)
        assert answer[1] == "application/json"
    finally:
        server.terminate()
        server.wait(20)
