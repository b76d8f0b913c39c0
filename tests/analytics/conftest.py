import pytest


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Users are made in most tests here; PBKDF2's deliberate slowness is not under test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_refresh_lock():
    """A refresh lock left in the local cache by another test must not skip this one's refresh."""
    from django.core.cache import cache

    from installments.analytics.services import REFRESH_LOCK

    cache.delete(REFRESH_LOCK)
