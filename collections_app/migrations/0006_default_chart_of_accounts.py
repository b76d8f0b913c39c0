"""The default chart of accounts for a Chinese consumer lender, and the `accountant` role's group."""

from django.db import migrations

# (code, name, name_zh, kind, normal side ("" follows the kind), channel)
DEFAULT_CHART = [
    ("1001", "Cash at bank", "银行存款", "asset", "", ""),
    ("1101", "Loans receivable - principal", "应收贷款本金", "asset", "", ""),
    ("1102", "Interest receivable", "应收利息", "asset", "", ""),
    ("1103", "Fees receivable", "应收手续费", "asset", "", ""),
    ("1104", "Late charges receivable", "应收罚息", "asset", "", ""),
    ("1201", "Payment clearing - card provider", "待清算款项-支付机构", "asset", "", "self_service"),
    ("1202", "Payment clearing - bank transfer", "待清算款项-银行转账", "asset", "", "bank_import"),
    ("1301", "Suspense", "暂记款项", "asset", "", ""),
    ("1401", "Allowance for loan losses", "贷款损失准备", "asset", "credit", ""),
    ("2101", "Customer credit balances", "客户溢缴款", "liability", "", ""),
    ("3101", "Retained earnings", "未分配利润", "equity", "", ""),
    ("4101", "Interest income", "利息收入", "income", "", ""),
    ("4102", "Fee income", "手续费收入", "income", "", ""),
    ("4103", "Penalty income", "罚息收入", "income", "", ""),
    ("4104", "Recoveries", "已核销贷款收回", "income", "", ""),
    ("5101", "Provision expense", "信用减值损失", "expense", "", ""),
    ("5102", "Write-off expense", "贷款核销损失", "expense", "", ""),
]
NORMAL_SIDE_OF_KIND = {"asset": "debit", "expense": "debit", "liability": "credit", "equity": "credit",
                       "income": "credit"}


def create_chart(apps, schema_editor):
    LedgerAccount = apps.get_model("collections_app", "LedgerAccount")
    for code, name, name_zh, kind, side, channel in DEFAULT_CHART:
        LedgerAccount.objects.get_or_create(code=code, defaults={
            "name": name, "name_zh": name_zh, "kind": kind, "normal_side": side or NORMAL_SIDE_OF_KIND[kind],
            "channel": channel})
    Group = apps.get_model("auth", "Group")
    Group.objects.get_or_create(name="accountant")


class Migration(migrations.Migration):
    dependencies = [("collections_app", "0005_ledger"), ("customers", "0002_roles")]
    operations = [migrations.RunPython(create_chart, migrations.RunPython.noop)]
