"""Fixed vocabularies: station amenities and smart-station features, with the words union lists use.

Keys are stable English identifiers (API, storage); `zh` and `en` are display names; `synonyms` are
the spellings seen in union spreadsheets, matched after normalisation; `icon` is a short emoji the map
draws beside the words (never instead of them), chosen from Unicode 12 or older so that phones of a
few years back show it.

Riders' words: "充电桩" is a charging post for e-bikes, never phone charging; a bare "充电" stays phone
charging (the ACFTU standard service 手机充电). A bare "停车" is not taken as e-bike parking (it may mean
cars): a union list that says it is refused with the known words, and the list is mended once.
Only keys are stored (not the words a list used), so a registry imported while "充电桩" meant phone
charging cannot be told apart afterwards: re-import the union's list to map those rows anew.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import InvalidInput


@dataclass(frozen=True)
class Term:
    key: str
    zh: str
    en: str
    synonyms: tuple[str, ...] = ()
    icon: str = ""


AMENITIES: tuple[Term, ...] = (
    Term("drinking_water", "饮用水", "Drinking water", ("饮水", "饮水机", "直饮水", "开水", "热水", "茶水", "饮水乘凉", "water"), "🚰"),
    Term("air_conditioning", "空调", "Air conditioning", ("冷气", "乘凉", "纳凉", "避暑", "降温", "ac", "aircon"), "❄️"),
    Term("microwave", "微波炉", "Microwave", ("餐食加热", "热饭", "加热", "热餐", "饭菜加热", "微波"), "🍱"),
    Term("toilet", "厕所", "Toilet", ("卫生间", "洗手间", "公厕", "如厕", "歇息如厕", "wc", "restroom", "toilets"), "🚻"),
    Term("phone_charging", "手机充电", "Phone charging", ("充电", "充电宝", "充电器", "手机充电器", "charging", "charger",
                                                        "phone charging"), "📱"),
    Term("ebike_charging", "电动车充电", "E-bike charging", ("充电桩", "电动车充电桩", "电瓶车充电", "电单车充电", "电动自行车充电",
                                                           "充电柜", "电动车充电柜", "充电站", "电动车充电站", "e-bike charging",
                                                           "ebike charging", "ev charging"), "🔌"),
    Term("battery_swap", "换电", "Battery swap", ("换电柜", "换电池", "换电站", "电池更换", "换电服务", "电池租换",
                                                "battery swap", "battery swapping"), "🔋"),
    Term("ebike_parking", "电动车停放", "E-bike parking", ("电动车停车", "电动车停车位", "电瓶车停放", "电瓶车停车", "电单车停放",
                                                        "电动自行车停放", "非机动车停放", "非机动车停车", "非机动车停车位",
                                                        "e-bike parking", "ebike parking", "bike parking"), "🛵"),
    Term("step_free", "无障碍", "Step-free access", ("无台阶", "无障碍通道", "无障碍设施", "无障碍坡道", "轮椅通道", "坡道",
                                                   "step-free", "step free", "wheelchair access", "accessible"), "♿"),
    Term("first_aid", "应急药品", "First-aid kit", ("药箱", "急救箱", "医药箱", "常用药品", "应急药箱", "药品", "first aid", "firstaid"), "💊"),
    Term("aed", "AED", "AED", ("除颤仪", "自动体外除颤器", "除颤器", "defibrillator"), "❤️"),
    Term("seating", "休息座椅", "Seating", ("座椅", "桌椅", "休息", "歇脚", "休息区", "歇息", "椅子", "seats", "rest"), "💺"),
    Term("reading", "读书阅览", "Reading", ("阅读", "书籍", "书报", "图书", "阅览", "书架", "books"), "📖"),
    Term("wifi", "无线网络", "Wi-Fi", ("wifi", "wi-fi", "无线网", "免费wifi", "网络"), "📶"),
    Term("fridge", "冰箱", "Fridge", ("冰柜", "冷藏", "refrigerator"), "🧊"),
    Term("umbrella", "雨伞", "Umbrellas", ("爱心雨伞", "借伞", "雨具", "umbrellas"), "☂️"),
    Term("tool_kit", "工具箱", "Tool kit", ("维修工具", "打气筒", "充气", "修车工具", "工具", "tools", "toolkit"), "🔧"),
    Term("shelter", "驱冷避雨", "Shelter from cold and rain", ("避雨", "避寒", "取暖", "遮风挡雨"), "🏠"),
    Term("sewing_kit", "针线包", "Sewing kit", ("针线",), "🧵"),
    Term("washbasin", "洗手池", "Washbasin", ("洗手", "洗漱"), "🧼"),
)

SMART_FEATURES: tuple[Term, ...] = (
    Term("self_service_24h", "24小时自助开放", "24-hour self-service entry", ("24小时自助", "自助开门", "无人值守"), "🕛"),
    Term("qr_sign_in", "扫码登记进入", "QR sign-in", ("扫码进入", "扫码", "扫码登记", "二维码"), "🔳"),
    Term("people_counter", "客流统计", "People counter", ("人流统计", "人数统计", "客流"), "👥"),
    Term("environment_control", "环境智能调控", "Environment control", ("环境监测", "智能调控", "温湿度控制"), "🌡️"),
    Term("emergency_alarm", "一键报警", "One-button emergency alarm", ("紧急报警", "报警", "sos"), "🚨"),
    Term("info_screen", "信息屏", "Information screen", ("信息发布屏", "显示屏", "电子屏"), "🖥️"),
    Term("ai_camera", "AI摄像头", "AI camera", ("智能摄像头", "摄像头", "监控"), "📹"),
)


def _norm(text: str) -> str:
    return re.sub(r"[\s_\-]+", "", str(text)).lower()


def _index(terms: tuple[Term, ...]) -> dict[str, str]:
    """Normalised word -> key; a word given to two terms is a mistake in this table, refused at import."""
    out: dict[str, str] = {}
    for t in terms:
        for word in (t.key, t.zh, t.en, *t.synonyms):
            if out.setdefault(_norm(word), t.key) != t.key:
                raise ValueError(f"vocabulary word {word!r} is given to both {out[_norm(word)]} and {t.key}")
    return out


_AMENITY_INDEX = _index(AMENITIES)
_FEATURE_INDEX = _index(SMART_FEATURES)
AMENITY_KEYS = tuple(t.key for t in AMENITIES)
FEATURE_KEYS = tuple(t.key for t in SMART_FEATURES)
AMENITY_BY_KEY = {t.key: t for t in AMENITIES}
FEATURE_BY_KEY = {t.key: t for t in SMART_FEATURES}
SEPARATORS = re.compile(r"[、，,;；/|\n]+")


def amenity_key(word: str) -> str:
    """The vocabulary key for one amenity word (key, Chinese or English name, or synonym)."""
    key = _AMENITY_INDEX.get(_norm(word))
    if key is None:
        raise InvalidInput(f"unknown amenity {word!r}; known: {', '.join(t.zh + '/' + t.key for t in AMENITIES)}")
    return key


def feature_key(word: str) -> str:
    key = _FEATURE_INDEX.get(_norm(word))
    if key is None:
        raise InvalidInput(f"unknown smart-station feature {word!r}; known: {', '.join(t.zh + '/' + t.key for t in SMART_FEATURES)}")
    return key


def _parse_list(cell, lookup) -> tuple[str, ...]:
    if cell is None:
        return ()
    words = cell if isinstance(cell, (list, tuple)) else SEPARATORS.split(str(cell))
    keys = {lookup(w) for w in (str(w).strip() for w in words) if w}
    return tuple(sorted(keys))


def parse_amenities(cell) -> tuple[str, ...]:
    """A cell such as '厕所、微波炉，充电' (or a list) -> sorted amenity keys; unknown words raise."""
    return _parse_list(cell, amenity_key)


def parse_features(cell) -> tuple[str, ...]:
    return _parse_list(cell, feature_key)
