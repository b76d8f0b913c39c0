"""The import-linter contracts in pyproject.toml: they hold on the tree, and a back-import breaks them.

.ci/run runs `lint-imports` beside ruff; these tests prove the contracts are not vacuous: the same
command on a copy of the tree with one deliberate back-import (customers importing collections_app)
fails and names the import.
"""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("config", "customers", "scoring", "installments", "collections_app", "portal")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint(where: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=where, capture_output=True, text=True, timeout=600)


def copy_tree(to: Path) -> None:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, to / package,
                        ignore=shutil.ignore_patterns("__pycache__", "migrations", "templates", "locale"))
    shutil.copy(ROOT / "pyproject.toml", to / "pyproject.toml")


def test_the_tree_keeps_every_contract():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout and "0 broken" in result.stdout


def test_a_back_import_breaks_the_layers(tmp_path):
    copy_tree(tmp_path)
    (tmp_path / "customers" / "back_import.py").write_text("from collections_app import models  # noqa\n")

    result = lint(tmp_path)

    assert result.returncode != 0
    assert "BROKEN" in result.stdout
    assert "customers.back_import -> collections_app.models" in result.stdout


def test_django_in_the_pure_engine_breaks_its_contract(tmp_path):
    copy_tree(tmp_path)
    (tmp_path / "installments" / "engine" / "uses_django.py").write_text("from django.db import models  # noqa\n")

    result = lint(tmp_path)

    assert result.returncode != 0
    assert "installments.engine.uses_django -> django (l.1)" in result.stdout
