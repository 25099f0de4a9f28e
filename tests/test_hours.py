"""Opening hours: union spellings, canonical OSM text, and is_open against an independent evaluator."""
from datetime import datetime, timedelta, timezone

import opening_hours
import pytest

from stationmap.errors import InvalidInput
from stationmap.hours import TZ, is_open, parse_hours, to_osm, to_zh

CASES = {
    "24小时": "24/7",
    "全天": "24/7",
    "08:00-18:00": "Mo-Su 08:00-18:00",
    "周一至周五 08:00-17:30 / 周末休息": "Mo-Fr 08:00-17:30; Sa,Su off",
    "周一至周五8:00-12:00、14:30-18:00；周六 9点-12点": "Mo-Fr 08:00-12:00,14:30-18:00; Sa 09:00-12:00; Su off",
    "工作日 8:30-17:30": "Mo-Fr 08:30-17:30; Sa,Su off",
    "下午2:00-5:30": "Mo-Su 14:00-17:30",
    "早上7点至晚上9点": "Mo-Su 07:00-21:00",
    "周一至周六 7:00-19:00，周日休息": "Mo-Sa 07:00-19:00; Su off",
    "周六、周日 09:00-17:00": "Mo-Fr off; Sa,Su 09:00-17:00",
    "８：００－１８：００": "Mo-Su 08:00-18:00",
    "Mo-Fr 08:00-17:30; Sa,Su off": "Mo-Fr 08:00-17:30; Sa,Su off",
    # days named closed after the times: the closing wins
    "08:00-18:00 周末休息": "Mo-Fr 08:00-18:00; Sa,Su off",
    "每天 08:00-18:00，周日休息": "Mo-Sa 08:00-18:00; Su off",
    "周一至周日 8:00-18:00 周三闭站": "Mo,Tu 08:00-18:00; We off; Th-Su 08:00-18:00",
}


@pytest.mark.parametrize("text,osm", CASES.items())
def test_union_spellings(text, osm):
    schedule = parse_hours(text)
    assert to_osm(schedule) == osm
    assert parse_hours(to_osm(schedule)) == schedule
    assert parse_hours(to_zh(schedule)) == schedule  # the Chinese display text reads back too


@pytest.mark.parametrize("text", ["随时", "abc", "25:00-26:00", "周一至周五", "8-8", "08:00-08:00", "周一 9:00-"])
def test_unreadable_hours_are_refused(text):
    with pytest.raises(InvalidInput, match="opening hours"):
        parse_hours(text)


def test_empty_means_unknown():
    assert parse_hours("") is None and parse_hours(None) is None
    assert is_open(None) is None


@pytest.mark.parametrize("text", list(CASES) + ["20:00-02:00", "周五 22:00-06:00"])
def test_is_open_agrees_with_an_independent_evaluator(text):
    schedule = parse_hours(text)
    reference = opening_hours.OpeningHours(to_osm(schedule))
    start = datetime(2026, 11, 23, 0, 0, tzinfo=TZ)  # a Monday
    for step in range(0, 7 * 24 * 60, 17):  # every 17 minutes across a week
        t = start + timedelta(minutes=step)
        assert is_open(schedule, t) == reference.is_open(t.replace(tzinfo=None)), (text, t)


def test_is_open_judges_on_the_shanghai_clock():
    schedule = parse_hours("08:00-18:00")
    utc_morning = datetime(2026, 11, 25, 1, 0, tzinfo=timezone.utc)  # 09:00 in Jieyang
    utc_evening = datetime(2026, 11, 25, 11, 0, tzinfo=timezone.utc)  # 19:00 in Jieyang
    assert is_open(schedule, utc_morning) is True
    assert is_open(schedule, utc_evening) is False
