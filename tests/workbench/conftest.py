"""Workbench fixtures: private media in a temp dir, fast hashing, and a case ready for review."""

import pytest

from customers.roles import Role
from tests.factories import workbench_case


@pytest.fixture(autouse=True)
def _private_media_and_fast_hashing(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def case(db):
    """A grade-B application for 20,000 (under the four-eyes amount), scored, offer A chosen."""
    return workbench_case()


@pytest.fixture
def big_case(db):
    """A grade-B application for 80,000: above the default four-eyes amount of 50,000."""
    return workbench_case(amount="80000", income="60000")


@pytest.fixture
def second_approver(make_user):
    return make_user(Role.APPROVER)
