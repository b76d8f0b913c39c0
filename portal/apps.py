from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    """The customer's self-service pages, above every app they use (no models of its own), and the
    commands that span every app (demo data, a customer's data export and anonymisation)."""

    name = "portal"
    verbose_name = _("Customer self-service")
