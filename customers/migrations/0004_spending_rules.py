"""Default keyword rules for categorising bank-statement lines (editable in the admin afterwards).

The list is frozen here on purpose: a migration must seed the same rows whenever it runs.
"""

from django.db import migrations

DEFAULT_RULES = {
    "income": ["工资", "薪资", "薪金", "代发", "奖金", "salary", "payroll", "wages", "bonus", "pension", "养老金"],
    "groceries": ["超市", "菜市场", "生鲜", "便利店", "盒马", "supermarket", "grocery", "walmart", "carrefour"],
    "dining": ["餐饮", "餐厅", "美团外卖", "饿了么", "外卖", "咖啡", "restaurant", "cafe", "coffee", "starbucks"],
    "housing": ["房租", "租金", "物业", "rent", "landlord", "property fee"],
    "utilities": ["水费", "电费", "燃气", "话费", "宽带", "中国移动", "中国联通", "中国电信", "electricity",
                  "water bill", "gas bill", "mobile bill", "broadband"],
    "transport": ["地铁", "公交", "滴滴", "加油", "停车", "高铁", "12306", "metro", "bus fare", "taxi", "uber",
                  "fuel", "parking"],
    "shopping": ["淘宝", "天猫", "京东", "拼多多", "taobao", "jd.com", "amazon", "shopping"],
    "healthcare": ["医院", "药房", "药店", "诊所", "hospital", "pharmacy", "clinic"],
    "education": ["学费", "培训", "教育", "tuition", "school fee", "course"],
    "entertainment": ["电影", "游戏", "ktv", "cinema", "netflix", "game"],
    "insurance": ["保险", "社保", "医保", "insurance"],
    "loan_repayment": ["还款", "贷款", "信用卡", "花呗", "借呗", "loan repayment", "credit card", "mortgage"],
    "transfer": ["转账", "transfer"],
    "cash": ["取现", "取款", "atm", "cash withdrawal"],
}


def seed_rules(apps, schema_editor):
    rule_model = apps.get_model("customers", "SpendingCategoryRule")
    existing = {k.lower() for k in rule_model.objects.values_list("keyword", flat=True)}
    rule_model.objects.bulk_create(
        rule_model(keyword=keyword, category=category)
        for category, keywords in DEFAULT_RULES.items()
        for keyword in keywords
        if keyword.lower() not in existing
    )


def remove_rules(apps, schema_editor):
    rule_model = apps.get_model("customers", "SpendingCategoryRule")
    keywords = [k for keywords in DEFAULT_RULES.values() for k in keywords]
    rule_model.objects.filter(keyword__in=keywords).delete()


class Migration(migrations.Migration):
    dependencies = [("customers", "0003_profile")]
    operations = [migrations.RunPython(seed_rules, remove_rules)]
