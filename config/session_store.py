"""Sessions kept in the database and cached in Redis (SESSION_ENGINE when REDIS_URL is set).

A signed-in request reads its session from Redis instead of PostgreSQL; every write still goes to
the database first, which stays the record. Django's own cached_db backend already survives a
failed cache write, but not a failed cache fill after a miss nor a failed cache delete: with Redis
down every page would fail. Here Redis being down only costs the database read it saves.

Known limit: a session deleted while Redis cannot be reached (a log-out during the outage) ends
in the database, but a copy cached before the outage is trusted again if the same Redis comes
back with its data, until the session's expiry. Django's cached_db has the same gap (and fails
the log-out besides); a Redis that keeps nothing on disk loses such copies when it restarts.
"""

import logging

from django.contrib.sessions.backends.cached_db import SessionStore as CachedDBStore

logger = logging.getLogger("django.contrib.sessions")


class SessionStore(CachedDBStore):
    def load(self):
        try:
            data = self._cache.get(self.cache_key)
        except Exception:  # Redis down, or a key the cache refuses
            data = None
        if data is not None:
            return data
        stored = self._get_session_from_db()
        if not stored:
            return {}
        data = self.decode(stored.session_data)
        try:
            self._cache.set(self.cache_key, data, self.get_expiry_age(expiry=stored.expire_date))
        except Exception:
            logger.warning("Session cache unavailable: session read from the database only.")
        return data

    def exists(self, session_key):
        try:
            if session_key and (self.cache_key_prefix + session_key) in self._cache:
                return True
        except Exception:
            pass
        return super(CachedDBStore, self).exists(session_key)

    def delete(self, session_key=None):
        super(CachedDBStore, self).delete(session_key)  # the database row: the session ends here
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        try:
            self._cache.delete(self.cache_key_prefix + session_key)
        except Exception:
            logger.warning("Session cache unavailable: a deleted session may stay cached until it expires.")
