"""The shared cache on Redis, failing soft: with Redis unreachable it acts as a cache that holds nothing.

Everything kept in this cache can be lost: sessions are in the database (config/session_store.py),
the scoring caches are recomputed, DRF throttles and the summaries' refresh lock start again. So
when Redis cannot be used (refused, no answer within the socket timeouts in settings, or an
answer that is not Redis's):

- reads miss (`get` gives the default, `has_key` False, `get_many` nothing);
- writes keep nothing and say so (`set`, `add`, `touch`, `delete` return False): a lock taken with
  `add` is never granted, so a job that needs it is skipped (fails closed);
- counters cannot count: `incr`/`decr` return UNCOUNTABLE, above every limit, so a limit counted
  with them (the password-reset mails, customers.forms.within_hourly_limit) refuses (fails closed),
  while the anonymous quote throttle (DRF keeps its history with get/set) lets requests through
  (fails open). SECURITY.md says why.

After a failure the backend does not try Redis again for DOWN_SECONDS in this process, so a Redis
that does not answer costs one timeout every few seconds, not one per call.
"""

import logging
import sys
import time

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache

logger = logging.getLogger(__name__)

UNCOUNTABLE = sys.maxsize


def _unreachable_errors() -> tuple[type[BaseException], ...]:
    """Refused, timed out, or not answering as Redis (a wrong address, a proxy, a full or loading server)."""
    from redis.exceptions import RedisError

    return (RedisError, OSError)


class FailSoftRedisCache(RedisCache):
    DOWN_SECONDS = 5.0

    def __init__(self, server, params):
        super().__init__(server, params)
        self._down_until = 0.0
        self._errors = _unreachable_errors()

    def _soft(self, fallback, method, *args, **kwargs):
        if time.monotonic() < self._down_until:
            return fallback
        try:
            return method(*args, **kwargs)
        except self._errors as error:
            self._down_until = time.monotonic() + self.DOWN_SECONDS
            logger.warning("Cache unavailable (%s); working without it for %.0f s.", type(error).__name__,
                           self.DOWN_SECONDS)
            return fallback

    def get(self, key, default=None, version=None):
        return self._soft(default, super().get, key, default, version)

    def get_many(self, keys, version=None):
        return self._soft({}, super().get_many, keys, version)

    def has_key(self, key, version=None):
        return self._soft(False, super().has_key, key, version)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._soft(False, super().add, key, value, timeout, version)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._soft(False, super().set, key, value, timeout, version)

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        return self._soft(list(data), super().set_many, data, timeout, version)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return self._soft(False, super().touch, key, timeout, version)

    def delete(self, key, version=None):
        return self._soft(False, super().delete, key, version)

    def delete_many(self, keys, version=None):
        return self._soft(None, super().delete_many, keys, version)

    def clear(self):
        return self._soft(False, super().clear)

    def incr(self, key, delta=1, version=None):
        return self._soft(UNCOUNTABLE, super().incr, key, delta, version)
