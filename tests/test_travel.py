"""Travel speeds, detour factor and the minutes <-> metres conversion."""
import pytest

from stationmap.errors import InvalidInput
from stationmap.query import travel


def test_fifteen_minutes_by_mode():
    # 15 min x speed / 1.3 detour: walk 4.8 km/h, e-bike 15 km/h, car 30 km/h
    assert travel.reach_m(15, "walk") == pytest.approx(15 * 60 * 4.8 / 3.6 / 1.3)
    assert travel.reach_m(15, "ebike") == pytest.approx(15 * 60 * 15 / 3.6 / 1.3)
    assert travel.reach_m(15, "car") == pytest.approx(15 * 60 * 30 / 3.6 / 1.3)
    assert round(travel.reach_m(15, "walk")) == 923


@pytest.mark.parametrize("mode", travel.MODES)
def test_minutes_inverts_reach(mode):
    for t in (1, 5, 15, 42.5):
        assert travel.minutes(travel.reach_m(t, mode), mode) == pytest.approx(t)
    kmh = {"walk": 4.8, "ebike": 15.0, "car": 30.0}[mode]
    assert travel.all_minutes(1000)[mode] == pytest.approx(1000 * 1.3 / (kmh / 3.6) / 60)


def test_mode_synonyms():
    assert travel.check_mode("步行") == "walk"
    assert travel.check_mode("E-Bike") == "ebike"
    assert travel.check_mode("驾车") == "car"


@pytest.mark.parametrize("call, words", [
    (lambda: travel.reach_m(15, "bus"), ["'bus'", "walk, ebike, car"]),
    (lambda: travel.reach_m(0, "walk"), ["minutes", "0"]),
    (lambda: travel.reach_m(-3, "walk"), ["-3"]),
    (lambda: travel.reach_m("soon", "walk"), ["'soon'", "not a number"]),
    (lambda: travel.reach_m(200, "car"), ["50 km", "car"]),
    (lambda: travel.check_reach_m(0), ["0", "50,000"]),
    (lambda: travel.check_reach_m(50_001), ["50001", "50,000"]),
    (lambda: travel.check_reach_m(float("nan")), ["nan"]),
    (lambda: travel.resolve_reach(1000, 15, "walk"), ["either"]),
    (lambda: travel.resolve_reach(1000, None, "walk"), ["mode"]),
])
def test_bad_values_name_the_value_and_what_is_allowed(call, words):
    with pytest.raises(InvalidInput) as exc:
        call()
    for w in words:
        assert w in str(exc.value)


def test_resolve_reach():
    assert travel.resolve_reach(1500) == 1500
    assert travel.resolve_reach(None, 10, "ebike") == pytest.approx(travel.reach_m(10, "ebike"))
    assert travel.check_reach_m(50_000) == 50_000


@pytest.mark.parametrize("kwargs", [{"reach_m": 1e-9}, {"reach_m": 5}, {"minutes": 1e-300, "mode": "walk"}])
def test_vanishing_reaches_are_refused(kwargs):
    from stationmap.query.travel import resolve_reach
    with pytest.raises(InvalidInput, match="reach|minutes"):
        resolve_reach(kwargs.get("reach_m"), kwargs.get("minutes"), kwargs.get("mode"))
