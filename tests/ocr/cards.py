"""Synthetic PRC resident ID cards drawn with PIL and a CJK font from Debian (tests and bench/bench_ocr.py).

Each card carries a random realistic name, sex, ethnicity, address and a valid ID number (GB 11643),
and is rendered at a chosen width, rotated and blurred, so the OCR engine and the parser are measured on
the variety a phone photo brings. Nothing here is a real person.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from customers.national_id import make_resident_id

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",  # Debian fonts-wqy-zenhei
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",  # Debian fonts-noto-cjk
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
)


def cjk_font_path() -> str | None:
    return next((path for path in FONT_CANDIDATES if Path(path).exists()), None)


SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志红玉梅海燕立新春晓文斌雪宇浩然子涵欣怡思远佳琪俊杰"
ETHNICITIES = ["汉"] * 12 + ["回", "满", "壮", "蒙古", "维吾尔", "苗", "土家", "朝鲜"]
# (region code, province, city, districts)
REGIONS = [
    ("110105", "北京市", "", ["朝阳区"]),
    ("110108", "北京市", "", ["海淀区"]),
    ("310104", "上海市", "", ["徐汇区"]),
    ("310115", "上海市", "", ["浦东新区"]),
    ("440305", "广东省", "深圳市", ["南山区"]),
    ("440106", "广东省", "广州市", ["天河区"]),
    ("330106", "浙江省", "杭州市", ["西湖区"]),
    ("320102", "江苏省", "南京市", ["玄武区"]),
    ("510107", "四川省", "成都市", ["武侯区"]),
    ("420106", "湖北省", "武汉市", ["武昌区"]),
    ("370202", "山东省", "青岛市", ["市南区"]),
    ("610113", "陕西省", "西安市", ["雁塔区"]),
]
STREETS = ["建国路", "中山路", "人民路", "解放大道", "长江路", "和平街", "文化路", "幸福里", "科技园路", "新华街"]
AUTHORITY_SUFFIX = "公安局"


@dataclass(frozen=True)
class CardFacts:
    name: str
    sex: str  # male / female
    ethnicity: str
    birth_date: date
    address: str
    id_number: str
    authority: str
    valid_from: date
    valid_until: date | None  # None: 长期


def random_facts(rng: random.Random) -> CardFacts:
    sex = rng.choice(["male", "female"])
    name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice([1, 2, 2])))
    birth = date(1955, 1, 1) + timedelta(days=rng.randrange(0, 365 * 50))
    region, province, city, districts = rng.choice(REGIONS)
    district = rng.choice(districts)
    street = f"{rng.choice(STREETS)}{rng.randrange(1, 300)}号"
    if rng.random() < 0.6:
        street += f"{rng.randrange(1, 30)}栋{rng.randrange(1, 30)}0{rng.randrange(1, 9)}室"
    address = f"{province}{city}{district}{street}"
    id_number = make_resident_id(region_code=region, birth_date=birth, sequence=rng.randrange(100), sex=sex)
    valid_from = date(2012, 1, 1) + timedelta(days=rng.randrange(0, 365 * 12))
    valid_from = valid_from.replace(day=min(valid_from.day, 28))  # no 29 February anniversaries
    years = 20 if birth.year > 1980 else 0
    valid_until = valid_from.replace(year=valid_from.year + years) if years else None
    if rng.random() < 0.25:  # some cards have expired
        valid_from = valid_from.replace(year=valid_from.year - 12)
        valid_until = valid_from.replace(year=valid_from.year + 10)
    authority = f"{city or province}{AUTHORITY_SUFFIX}{district}分局"
    return CardFacts(name, sex, rng.choice(ETHNICITIES), birth, address, id_number, authority, valid_from, valid_until)


def _card_canvas(width: int):
    from PIL import Image, ImageDraw

    height = round(width * 54 / 85.6)
    image = Image.new("RGB", (width, height), (236, 240, 243))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle([2, 2, width - 3, height - 3], radius=width // 30, outline=(180, 190, 200), width=2)
    return image, draw, height


def _finish(image, rng: random.Random, *, rotation: float, blur: float, fmt: str = "PNG") -> bytes:
    from PIL import Image, ImageFilter

    background = Image.new("RGB", (int(image.width * 1.15), int(image.height * 1.2)), (90, 95, 100))
    background.paste(image, ((background.width - image.width) // 2, (background.height - image.height) // 2))
    if rotation:
        background = background.rotate(rotation, resample=Image.BICUBIC, expand=True, fillcolor=(90, 95, 100))
    if blur:
        background = background.filter(ImageFilter.GaussianBlur(blur))
    out = io.BytesIO()
    background.save(out, format=fmt, quality=90) if fmt == "JPEG" else background.save(out, format=fmt)
    return out.getvalue()


def draw_front(facts: CardFacts, *, width: int = 900, rotation: float = 0.0, blur: float = 0.0,
               rng: random.Random | None = None, fmt: str = "PNG", smudged_number: bool = False) -> bytes:
    """The front: labels in a light blue-grey, values in black, the address wrapped, the photo box on the right.
    `smudged_number`: the ID number's digits blurred beyond reading (a thumb, glare or motion), the rest sharp."""
    from PIL import ImageFilter, ImageFont

    rng = rng or random.Random(0)
    image, draw, height = _card_canvas(width)
    unit = width / 85.6  # one millimetre
    label_font = ImageFont.truetype(cjk_font_path(), round(3.2 * unit))
    value_font = ImageFont.truetype(cjk_font_path(), round(3.6 * unit))
    number_font = ImageFont.truetype(cjk_font_path(), round(4.2 * unit))
    label, value = (70, 110, 150), (20, 20, 20)
    x0, x1 = 6 * unit, 17 * unit

    def row(y_mm, text_label, text_value, x_value=x1):
        draw.text((x0, y_mm * unit), text_label, font=label_font, fill=label)
        draw.text((x_value, y_mm * unit - 0.3 * unit), text_value, font=value_font, fill=value)

    row(6, "姓 名", facts.name)
    row(12.5, "性 别", "男" if facts.sex == "male" else "女")
    draw.text((30 * unit, 12.5 * unit), "民 族", font=label_font, fill=label)
    draw.text((40 * unit, 12.2 * unit), facts.ethnicity, font=value_font, fill=value)
    draw.text((x0, 19 * unit), "出 生", font=label_font, fill=label)
    b = facts.birth_date
    draw.text((x1, 18.7 * unit), f"{b.year}", font=value_font, fill=value)
    draw.text((x1 + 10 * unit, 19 * unit), "年", font=label_font, fill=label)
    draw.text((x1 + 15 * unit, 18.7 * unit), f"{b.month}", font=value_font, fill=value)
    draw.text((x1 + 20 * unit, 19 * unit), "月", font=label_font, fill=label)
    draw.text((x1 + 25 * unit, 18.7 * unit), f"{b.day}", font=value_font, fill=value)
    draw.text((x1 + 30 * unit, 19 * unit), "日", font=label_font, fill=label)
    per_line = 11
    lines = [facts.address[i:i + per_line] for i in range(0, len(facts.address), per_line)]
    draw.text((x0, 26 * unit), "住 址", font=label_font, fill=label)
    for i, line in enumerate(lines[:3]):
        draw.text((x1, (25.7 + 5 * i) * unit), line, font=value_font, fill=value)
    draw.text((x0, 45 * unit), "公民身份号码", font=label_font, fill=label)
    draw.text((30 * unit, 44.4 * unit), facts.id_number, font=number_font, fill=value)
    if smudged_number:
        area = tuple(round(v * unit) for v in (40, 43.5, 80, 50))
        image.paste(image.crop(area).filter(ImageFilter.GaussianBlur(round(0.9 * unit))), area[:2])
    # The photo: a plain box with a silhouette-ish shade (no text).
    draw.rectangle([58 * unit, 8 * unit, 80 * unit, 36 * unit], fill=(200, 206, 212))
    draw.ellipse([63 * unit, 12 * unit, 75 * unit, 26 * unit], fill=(160, 166, 172))
    return _finish(image, rng, rotation=rotation, blur=blur, fmt=fmt)


def draw_back(facts: CardFacts, *, width: int = 900, rotation: float = 0.0, blur: float = 0.0,
              rng: random.Random | None = None, fmt: str = "PNG") -> bytes:
    """The back: the title, the issuing authority and the validity period (YYYY.MM.DD-YYYY.MM.DD or 长期)."""
    from PIL import ImageFont

    rng = rng or random.Random(0)
    image, draw, height = _card_canvas(width)
    unit = width / 85.6
    title_font = ImageFont.truetype(cjk_font_path(), round(5.5 * unit))
    big_font = ImageFont.truetype(cjk_font_path(), round(7 * unit))
    label_font = ImageFont.truetype(cjk_font_path(), round(3.2 * unit))
    value_font = ImageFont.truetype(cjk_font_path(), round(3.6 * unit))
    draw.ellipse([6 * unit, 5 * unit, 20 * unit, 19 * unit], outline=(200, 60, 60), width=3)
    draw.text((26 * unit, 7 * unit), "中华人民共和国", font=title_font, fill=(30, 30, 30))
    draw.text((22 * unit, 17 * unit), "居民身份证", font=big_font, fill=(30, 30, 30))
    until = facts.valid_until.strftime("%Y.%m.%d") if facts.valid_until else "长期"
    draw.text((16 * unit, 38 * unit), "签发机关", font=label_font, fill=(70, 110, 150))
    draw.text((32 * unit, 37.7 * unit), facts.authority, font=value_font, fill=(20, 20, 20))
    draw.text((16 * unit, 45 * unit), "有效期限", font=label_font, fill=(70, 110, 150))
    draw.text((32 * unit, 44.7 * unit), f"{facts.valid_from:%Y.%m.%d}-{until}", font=value_font, fill=(20, 20, 20))
    return _finish(image, rng, rotation=rotation, blur=blur, fmt=fmt)


def draw_not_a_card(*, width: int = 800) -> bytes:
    """A receipt-like image with Chinese text but no ID card labels or number."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (width, width // 2), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(cjk_font_path(), width // 22)
    for i, line in enumerate(["超市购物小票", "苹果 2.5公斤 12.80元", "牛奶 1箱 45.00元", "合计 57.80元 谢谢惠顾"]):
        draw.text((30, 30 + i * width // 12), line, font=font, fill="black")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@dataclass(frozen=True)
class Variant:
    width: int
    rotation: float
    blur: float


def variants(count: int, seed: int = 20) -> list[tuple[CardFacts, Variant]]:
    """`count` cards with sizes 640-1200 px wide, rotations within ±5 degrees and blur 0-1.2 px."""
    rng = random.Random(seed)
    return [(random_facts(rng), Variant(width=rng.choice([640, 800, 1000, 1200]),
                                        rotation=round(rng.uniform(-5, 5), 1),
                                        blur=rng.choice([0, 0, 0.6, 1.0, 1.2])))
            for _ in range(count)]
