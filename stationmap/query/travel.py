"""Travel time <-> straight-line reach, per mode: the one place speeds and the detour factor live.

A worker does not travel in a straight line: route length = straight-line (geodesic) distance x
DETOUR_FACTOR. Time = route length / speed. The figures (all assumptions for planning, not routing):

* walk 4.8 km/h (1.33 m/s): normal adult walking speed is about 1.3-1.4 m/s (Bohannon & Andrews,
  "Normal walking speed: a descriptive meta-analysis", Physiotherapy 97(3), 2011); 15-minute
  "community life circle" planning in China likewise assumes about 1 km of walking in 15 minutes.
* ebike 15 km/h: China's e-bike standard GB 17761-2018 caps design speed at 25 km/h; delivery
  riders' door-to-door average in town traffic, with junctions and traffic lights, is taken as 60 %
  of that cap (our assumption).
* car 30 km/h: an assumption for mixed urban and township roads; the annual traffic reports of Chinese
  map providers give peak-hour average road speeds of about 20-35 km/h in Chinese cities.
* DETOUR_FACTOR 1.3 for every mode: network distance is about 1.2 x straight-line distance in urban
  areas (Newell 1980; O'Sullivan 1996 found 1.21-1.23 around transit stations), national road circuity
  is 1.2-1.4 (Ballou et al. 2002; South Korea 1.26, Kim et al. 2015), and walking and cycling routes are
  more circuitous (Dill 2003); 1.3 is a round middle value.

So 15 minutes is 923 m straight-line on foot, 2,885 m by e-bike and 5,769 m by car.
"""
from __future__ import annotations

from ..checks import number
from ..errors import InvalidInput

#: Average travel speed per mode (see module docstring for sources).
SPEED_KMH: dict[str, float] = {"walk": 4.8, "ebike": 15.0, "car": 30.0}
SPEED_M_S: dict[str, float] = {mode: kmh / 3.6 for mode, kmh in SPEED_KMH.items()}
MODES: tuple[str, ...] = ("walk", "ebike", "car")
_MODE_SPEEDS = tuple((m, SPEED_M_S[m]) for m in MODES)
MODE_ZH: dict[str, str] = {"walk": "步行", "ebike": "电动车", "car": "驾车"}
#: Route length / straight-line length.
DETOUR_FACTOR = 1.3
#: Largest straight-line reach accepted anywhere (coverage, siting): 50 km.
MAX_REACH_M = 50_000.0
MIN_REACH_M = 10.0  # below this a "reach" is a typo (or 0): no station serves a 10 m circle
_MODE_WORDS = {"walk": "walk", "foot": "walk", "walking": "walk", "步行": "walk",
               "ebike": "ebike", "e-bike": "ebike", "bike": "ebike", "电动车": "ebike", "电瓶车": "ebike",
               "car": "car", "drive": "car", "driving": "car", "驾车": "car", "开车": "car"}


def check_mode(mode: str) -> str:
    """Normalise a mode name ('walk', '步行', 'e-bike' ...) or raise InvalidInput naming the modes."""
    key = _MODE_WORDS.get(str(mode).strip().lower())
    if key is None:
        raise InvalidInput(f"unknown travel mode {mode!r}; use one of {', '.join(MODES)}")
    return key


def check_reach_m(reach_m: object) -> float:
    """A straight-line reach in metres, 10 m <= reach <= 50 km, or InvalidInput."""
    r = number(reach_m, "reach")
    if not MIN_REACH_M <= r <= MAX_REACH_M:
        raise InvalidInput(f"reach {reach_m!r} m is out of range; use {MIN_REACH_M:,.0f} to {MAX_REACH_M:,.0f} m")
    return r


def reach_m(minutes: float, mode: str) -> float:
    """Straight-line distance (m) coverable in `minutes` by `mode`: minutes x speed / detour factor."""
    key = check_mode(mode)
    t = number(minutes, "minutes")
    if t <= 0:
        raise InvalidInput(f"minutes {minutes!r} must be more than 0")
    r = t * 60.0 * SPEED_M_S[key] / DETOUR_FACTOR
    if r < MIN_REACH_M:
        raise InvalidInput(f"{t:g} minutes by {key} is a reach of {r:.1f} m; use at least "
                           f"{MIN_REACH_M * DETOUR_FACTOR / SPEED_M_S[key] / 60.0:.2f} minutes")
    if r > MAX_REACH_M:
        limit = MAX_REACH_M * DETOUR_FACTOR / SPEED_M_S[key] / 60.0
        raise InvalidInput(f"{t:g} minutes by {key} is a reach of {r / 1000:.1f} km; at most "
                           f"{MAX_REACH_M / 1000:.0f} km ({limit:.0f} minutes by {key})")
    return r


def minutes(distance_m: float, mode: str) -> float:
    """Estimated minutes to cover a straight-line `distance_m` by `mode` (route = distance x detour)."""
    key = check_mode(mode)
    return distance_m * DETOUR_FACTOR / SPEED_M_S[key] / 60.0


def all_minutes(distance_m: float) -> dict[str, float]:
    """{'walk': .., 'ebike': .., 'car': ..} minutes for a straight-line distance: `minutes` of each mode, the
    same sum without looking the modes up (every nearest result carries these)."""
    return {m: distance_m * DETOUR_FACTOR / speed / 60.0 for m, speed in _MODE_SPEEDS}


def resolve_reach(reach_m_value: float | None = None, minutes_value: float | None = None,
                  mode: str | None = None) -> float:
    """One reach in metres from either `reach_m_value` or `minutes_value` + `mode` (CLI and API helper)."""
    if reach_m_value is not None and minutes_value is not None:
        raise InvalidInput("give either a reach in metres or minutes with a mode, not both")
    if reach_m_value is not None:
        if mode is not None:
            raise InvalidInput("a travel mode goes with minutes, not with a reach in metres")
        return check_reach_m(reach_m_value)
    if minutes_value is None:
        raise InvalidInput("give a reach in metres or minutes with a mode (walk, ebike, car)")
    return reach_m(minutes_value, mode or "walk")


def describe_reach(reach: float, minutes_value: float | None = None, mode: str | None = None) -> str:
    """Human label, e.g. '15 min walk (923 m straight-line)' or '2,000 m straight-line'."""
    if minutes_value is not None:
        return f"{float(minutes_value):g} min {check_mode(mode or 'walk')} ({reach:,.0f} m straight-line)"
    return f"{reach:,.0f} m straight-line"
