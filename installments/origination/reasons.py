"""Why an application is declined: the codes officers choose and what the customer is told.

Below both the decisions (which record the codes) and the notices and self-service pages (which
show the words), so neither has to import the other for them.
"""

from django.db import models
from django.utils.translation import gettext_lazy


class DeclineReason(models.TextChoices):
    """Why an officer declines; the customer sees `DECLINE_REASON_TEXTS` in plain words."""

    AFFORDABILITY = "affordability", gettext_lazy("Repayments not affordable on the income shown")
    CREDIT_HISTORY = "credit_history", gettext_lazy("Credit history")
    CREDIT_SCORE = "credit_score", gettext_lazy("Credit assessment below our lending standard")
    POLICY_RULE = "policy_rule", gettext_lazy("A lending rule is not met")
    DOCUMENTS = "documents", gettext_lazy("Documents missing or not verified")
    IDENTITY = "identity", gettext_lazy("Identity could not be confirmed")
    INCONSISTENT = "inconsistent", gettext_lazy("Information inconsistent")
    INCOMPLETE = "incomplete", gettext_lazy("Application incomplete")
    OTHER = "other", gettext_lazy("Other (see the note)")


# What a declined customer is told, in both languages (the notice and the self-service pages).
DECLINE_REASON_TEXTS = {
    DeclineReason.AFFORDABILITY: ("The repayments would take too large a share of your income.",
                                  "还款额占您收入的比例过高。"),
    DeclineReason.CREDIT_HISTORY: ("Your credit history does not meet our requirements at present.",
                                   "您目前的信用记录未达到我们的要求。"),
    DeclineReason.CREDIT_SCORE: ("Our credit assessment of your application is below our lending standard.",
                                 "我们对您申请的信用评估未达到放款标准。"),
    DeclineReason.POLICY_RULE: ("Your application does not meet one of our lending rules.",
                                "您的申请未满足我们的某项放款规则。"),
    DeclineReason.DOCUMENTS: ("We could not verify the documents we need.", "我们无法核实所需的材料。"),
    DeclineReason.IDENTITY: ("We could not confirm your identity.", "我们无法确认您的身份。"),
    DeclineReason.INCONSISTENT: ("Some of the information given could not be reconciled.",
                                 "您提供的部分信息无法相互印证。"),
    DeclineReason.INCOMPLETE: ("The application is incomplete.", "申请资料不完整。"),
    DeclineReason.OTHER: ("Please contact us for details.", "详情请与我们联系。"),
}
