"""Weekly opening hours: read as unions write them, store as OpenStreetMap `opening_hours`, evaluate in Asia/Shanghai.

A schedule is seven tuples (Monday first) of (start, end) minute intervals within the day, end <= 1440.
Accepted input: '24小时', '全天', '08:00-18:00', '周一至周五 08:00-17:30 / 周末休息',
'周一至周五8:00-12:00、14:30-18:00；周六 9点-12点', '工作日 ...', '下午2:00-5:30', '20:00-02:00'
(past midnight), and the OSM subset this module writes ('24/7', 'Mo-Fr 08:00-17:30; Sa,Su off').
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from .errors import InvalidInput

TZ = ZoneInfo("Asia/Shanghai")
Schedule = tuple[tuple[tuple[int, int], ...], ...]
FULL_DAY = 24 * 60
OSM_DAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
ZH_DAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
_DAY_NUM = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "七": 6,
            "1": 0, "2": 1, "3": 2, "4": 3, "5": 4, "6": 5, "7": 6}
_DAY_NUM.update({d.lower(): i for i, d in enumerate(OSM_DAYS)})

_DAY = r"(?:(?:周|星期|礼拜)[一二三四五六日天七1-7]|Mo|Tu|We|Th|Fr|Sa|Su)"
_TIME = r"(?:(上午|早上|中午|下午|晚上)?\s*(\d{1,2})\s*(?:[:点时]\s*(\d{2})?\s*分?|(?=\s*[-~至到]))(半)?)"
_TOKEN = re.compile(
    rf"(?P<range>{_DAY}\s*[-~至到]\s*{_DAY})"
    rf"|(?P<day>{_DAY})"
    r"|(?P<weekdays>工作日|周一到周五)"
    r"|(?P<weekend>周末|双休日|节假日及周末)"
    r"|(?P<daily>每天|每日|天天|全周|全年|周一至周日|Mo-Su)"
    r"|(?P<allday>24\s*小时|24\s*h|24/7|全天候?|00:00\s*[-~至到]\s*24:00|通宵)"
    rf"|(?P<times>{_TIME}\s*[-~至到]\s*{_TIME})"
    r"|(?P<off>休息|闭站|关闭|不开放|暂停开放|停止开放|off|closed)",
    re.IGNORECASE,
)
_FILLER = re.compile(r"[\s,，;；、/|。.:：()（）\[\]【】]+|开放时间|开放|营业|服务时间|时间|全年无休|无休|均", re.IGNORECASE)


def _minutes(ampm: str | None, hour: str, minute: str | None, half: str | None) -> int:
    h, m = int(hour), int(minute or 0) + (30 if half else 0)
    if ampm in ("下午", "晚上") and h < 12:
        h += 12
    if h > 24 or m > 59 or (h == 24 and m):
        raise ValueError(f"{hour}:{minute or '00'} is not a time of day")
    return h * 60 + m


def _days_in(text: str) -> list[int]:
    found = re.findall(r"(?:周|星期|礼拜)?([一二三四五六日天七1-7]|Mo|Tu|We|Th|Fr|Sa|Su)", text, re.IGNORECASE)
    return [_DAY_NUM[f.lower()] for f in found]


def parse_hours(text: str | None) -> Schedule | None:
    """A cell of opening hours -> Schedule; empty -> None (unknown). Raises InvalidInput if unreadable.

    A registry repeats a few texts many times: each is parsed once (a Schedule is immutable)."""
    return _parse_text(text) if isinstance(text, str) else _parse(text)


@lru_cache(maxsize=4096)
def _parse_text(text: str) -> Schedule | None:
    return _parse(text)


def _parse(text: Any) -> Schedule | None:
    if text is None or str(text).strip() in ("", "nan", "None", "时间未知"):
        return None
    raw = str(text)
    s = unicodedata.normalize("NFKC", raw).replace("—", "-").replace("–", "-").replace("－", "-")
    spans: list[tuple[int, int, tuple[int, int]]] = []  # (day the times were given for, day, (start, end))
    current: list[int] = list(range(7))
    last_was_day = False
    leftover: list[str] = []
    pos = 0
    try:
        for m in _TOKEN.finditer(s):
            gap = s[pos:m.start()]
            leftover.append(gap)
            pos = m.end()
            kind = m.lastgroup
            if kind == "day":
                # A list such as 周六、周日 arrives as consecutive day tokens: extend it.
                d = _days_in(m.group())[0]
                current = current + [d] if last_was_day and not gap.strip(" 、,，和及与") else [d]
            elif kind == "range":
                a, b = _days_in(m.group())
                current = [d % 7 for d in range(a, b + (7 if b < a else 0) + 1)]
            elif kind in _DAY_SETS:
                current = list(_DAY_SETS[kind])
            elif kind == "off":  # 08:00-18:00 周末休息: the days named closed lose the times given before
                spans = [sp for sp in spans if sp[0] not in current]
            else:
                spans += [(origin, d, span) for origin, d, span in _spans(m, kind, current)]
            last_was_day = kind == "day"
        leftover.append(s[pos:])
    except ValueError as exc:
        raise InvalidInput(f"unreadable opening hours {raw!r}: {exc}") from exc
    rest = _FILLER.sub("", "".join(leftover))
    days: dict[int, list[tuple[int, int]]] = {}
    for _origin, d, span in spans:
        days.setdefault(d, []).append(span)
    if rest or not days:
        raise InvalidInput(
            f"unreadable opening hours {raw!r}" + (f" (did not understand {rest!r})" if rest else ": no times given")
            + "; write e.g. 24小时, 08:00-18:00, or 周一至周五 08:00-17:30 / 周末休息")
    return tuple(_merge(days.get(d, [])) for d in range(7))


_DAY_SETS = {"weekdays": (0, 1, 2, 3, 4), "weekend": (5, 6), "daily": tuple(range(7))}


def _spans(m: re.Match, kind: str, current: list[int]):
    """(day given, day, (start, end)) for a time-range token; a range past midnight spills into the next day."""
    if kind == "allday":
        return [(d, d, (0, FULL_DAY)) for d in current]
    (a, b) = _time_parts(m.group())
    start, end = _minutes(*a), _minutes(*b)
    if a[0] and not b[0] and end <= start < _minutes(a[0], *b[1:]):
        end = _minutes(a[0], *b[1:])  # 下午2:00-5:30: the afternoon applies to both ends
    if end == start:
        raise ValueError(f"'{m.group()}' opens and closes at the same time")
    if end > start:
        return [(d, d, (start, end)) for d in current]
    return [(d, d, (start, FULL_DAY)) for d in current] + [(d, (d + 1) % 7, (0, end)) for d in current if end]


_TIME_RE = re.compile(_TIME)


def _time_parts(text: str) -> list[tuple]:
    return [m.groups() for m in _TIME_RE.finditer(text)][:2]


def _merge(spans: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    out: list[list[int]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return tuple((a, b) for a, b in out)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _groups(schedule: Schedule) -> list[tuple[list[int], tuple[tuple[int, int], ...]]]:
    """Runs of consecutive days with the same spans."""
    groups: list[tuple[list[int], tuple]] = []
    for d, spans in enumerate(schedule):
        if groups and groups[-1][1] == spans and groups[-1][0][-1] == d - 1:
            groups[-1][0].append(d)
        else:
            groups.append(([d], spans))
    return groups


def _day_label(days: list[int], names: tuple[str, ...], joiner: str) -> str:
    if len(days) == 1:
        return names[days[0]]
    if len(days) == 2:
        return names[days[0]] + joiner + names[days[1]]
    return names[days[0]] + ("-" if names is OSM_DAYS else "至") + names[days[-1]]


def is_24_7(schedule: Schedule) -> bool:
    return all(spans == ((0, FULL_DAY),) for spans in schedule)


@lru_cache(maxsize=4096)  # a Schedule is immutable; a registry repeats a few
def to_osm(schedule: Schedule | None) -> str:
    """OpenStreetMap opening_hours text, e.g. 'Mo-Fr 08:00-17:30; Sa,Su off'; '' when unknown."""
    if schedule is None:
        return ""
    if is_24_7(schedule):
        return "24/7"
    parts = []
    for days, spans in _groups(schedule):
        label = _day_label(days, OSM_DAYS, ",")
        body = ",".join(f"{_hhmm(a)}-{_hhmm(b)}" for a, b in spans) if spans else "off"
        parts.append(f"{label} {body}")
    return "; ".join(parts)


@lru_cache(maxsize=4096)  # a Schedule is immutable; a registry repeats a few
def to_zh(schedule: Schedule | None) -> str:
    """Chinese display text, e.g. '周一至周五 08:00-17:30；周六、周日 休息'."""
    if schedule is None:
        return "时间未知"
    if is_24_7(schedule):
        return "24小时开放"
    parts = []
    for days, spans in _groups(schedule):
        label = "每天" if len(days) == 7 else _day_label(days, ZH_DAYS, "、")
        body = "、".join(f"{_hhmm(a)}-{_hhmm(b)}" for a, b in spans) if spans else "休息"
        parts.append(f"{label} {body}")
    return "；".join(parts)


def is_open(schedule: Schedule | None, when: datetime | None = None) -> bool | None:
    """Open at `when` (default now), judged on the Asia/Shanghai clock; None if hours are unknown."""
    if schedule is None:
        return None
    t = (when or datetime.now(TZ))
    t = t.astimezone(TZ) if t.tzinfo else t.replace(tzinfo=TZ)
    minute = t.hour * 60 + t.minute
    return any(a <= minute < b for a, b in schedule[t.weekday()])
