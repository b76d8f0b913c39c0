"""Roles are Django groups; one name per role across code, UI and docs."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    CUSTOMER = "customer", _("Customer")
    LOAN_OFFICER = "loan_officer", _("Loan officer")
    APPROVER = "approver", _("Approver")
    COLLECTOR = "collector", _("Collector")
    MANAGER = "manager", _("Manager")
    ACCOUNTANT = "accountant", _("Accountant")
    ADMIN = "admin", _("Administrator")
    MERCHANT = "merchant", _("Merchant")


STAFF_ROLES = (Role.LOAN_OFFICER, Role.APPROVER, Role.COLLECTOR, Role.MANAGER, Role.ACCOUNTANT, Role.ADMIN)
