from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InstallmentsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "installments"
    verbose_name = _("Installment plans")
