import logging

from django.apps import AppConfig
from django.conf import settings
from django.utils.translation import gettext_lazy as _

logger = logging.getLogger(__name__)


class CustomersConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "customers"
    verbose_name = _("Customers and accounts")

    def ready(self) -> None:
        # Receivers: API tokens revoked on password/role change and 2FA reset; customers' own 2FA at log-in.
        from customers import backends, two_factor  # noqa: F401
        if not settings.REDIS_URL:
            logger.warning("REDIS_URL is not set: Celery tasks run in-process and the cache is local to this process.")
