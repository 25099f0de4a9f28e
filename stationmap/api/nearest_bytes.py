"""The nearest answer encoded from pieces kept per registry version.

`json_bytes(present.nearest_answer(...))` builds and encodes every found station's fields, datums and
navigation links on every question. Most of a result is the station's own: only the distance, bearing,
direction, minutes, open state, live status and the origin inside each link change from one question to
the next. Each station's result is encoded once per registry version and travel mode with markers in
those places and cut at the markers; an answer joins the kept pieces with the changing members encoded
afresh. The bytes are the same as encoding `present.nearest_answer` (a test holds them to it).
"""
from __future__ import annotations

import json
import secrets
from datetime import datetime
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from .. import present
from ..cache import LruCache
from ..model import Station
from ..query.nearest import NearestResult, compass
from .core import compact_json, json_bytes

if TYPE_CHECKING:
    from ..query.nearest import StationSet

_MARK = "\x00" + secrets.token_hex(8)  # no station text can hold it by chance
_MEMBERS = ("open_now", "distance_m", "bearing_deg", "direction", "direction_zh", "minutes", "open_state", "live")
_FAR_MEMBERS = tuple(m for m in _MEMBERS if m != "minutes")


_compact = compact_json


def _origin_mark(key: str) -> str:
    return _MARK + "origin-" + key


def _template(s: Station, mode: str, far: bool) -> bytes:
    """The station's result as a bytes %-template: a %b where each changing member and each link's origin go."""
    blank = NearestResult(s, 0.0, 0.0, {}, None)
    result = present.nearest_result(blank, mode, None, far, None, {})
    members = _FAR_MEMBERS if far else _MEMBERS
    for name in members:
        result[name] = _MARK + name
    result["nav"] = {key: head + _origin_mark(key) + tail
                     for key, (head, tail) in present.nav_parts(s.lat, s.lon, s.name, mode).items()}
    text = json_bytes(result)[:-1].replace(b"%", b"%%")  # without the newline
    marks = [json.dumps(_MARK + name).encode() for name in members[:-2]]  # in the order `_result` fills them
    marks += [json.dumps(_origin_mark(key))[1:-1].encode() for key in present.NAV_APPS]
    marks += [json.dumps(_MARK + name).encode() for name in members[-2:]]
    at = [text.find(mark) for mark in marks]
    assert -1 not in at and at == sorted(at), "the members of a nearest result moved"
    for mark in marks:
        text = text.replace(mark, b"%b")
    return text


_STATES: dict[str, tuple[bytes, bytes, dict[str, Any]]] = {}  # the few open states, encoded
_WORDS: dict[str, bytes] = {}  # compass names, encoded


def _word(text: str) -> bytes:
    coded = _WORDS.get(text)
    if coded is None:
        coded = _WORDS[text] = _compact(text)
    return coded


def _state(state: dict[str, Any]) -> tuple[bytes, bytes]:
    coded = _STATES.get(state["label"])
    if coded is None or coded[2] != state:
        coded = _STATES[state["label"]] = (_compact(state["open"]), _compact(state), state)
    return coded[0], coded[1]


def _number(x: float) -> bytes:
    """What json writes for a number (float.__repr__ for a finite float)."""
    return b"%a" % x if type(x) is float and x - x == 0 else _compact(x)


_MINUTES: dict[tuple[str, ...], bytes] = {}


def _minutes(minutes: Mapping[str, float]) -> bytes:
    """{mode: minutes to 0.1} encoded."""
    modes = tuple(minutes)
    template = _MINUTES.get(modes)
    if template is None:
        template = _MINUTES[modes] = b"{" + b",".join(_compact(m) + b":%b" for m in modes) + b"}"
    return template % tuple([_number(round(v, 1)) for v in minutes.values()])


KEPT_TEMPLATES = 1 << 14  # stations x modes whose results are kept encoded (~1.5 KB each), per registry version
KEPT_STATES = 1 << 15  # stations whose open state is kept for the minute


def _kept(snapshot: "StationSet") -> tuple[LruCache[bytes], LruCache[tuple[Any, ...]]]:
    """The snapshot's kept templates and open states: bounded, as questions from all over a national
    registry would otherwise keep every station's."""
    kept = snapshot.memo.get("nearest_kept")
    if kept is None:
        kept = snapshot.memo.setdefault("nearest_kept", (LruCache(KEPT_TEMPLATES), LruCache(KEPT_STATES)))
    return kept


def _result(snapshot: "StationSet", r: NearestResult, mode: str, origins: tuple[bytes, ...], far: bool,
            when: datetime, live: Mapping[str, Any]) -> bytes:
    s = r.station
    templates, opened = _kept(snapshot)
    key = (s.id, mode, far)
    template = templates.get(key)
    if template is None:
        template = templates.put(key, _template(s, mode, far))
    if s.id not in live:  # what the station shows without a report follows the clock alone: kept for the minute
        minute = when.replace(second=0, microsecond=0)
        kept = opened.get(s.id)
        if kept is None or kept[0] != minute:
            status = present._live(s, {})
            kept = opened.put(s.id, (minute, *_state(present.open_state(s, when, status)),
                                     b"null" if status is None else _compact(status)))
        open_now, state_bytes, status_bytes = kept[1:]
    else:
        status = present._live(s, live)
        open_now, state_bytes = _state(present.open_state(s, when, status))
        status_bytes = b"null" if status is None else _compact(status)
    head = (open_now, _number(round(r.distance_m, 1)), _number(round(r.bearing_deg, 1)),
            _word(compass(r.bearing_deg)), _word(compass(r.bearing_deg, "zh")))
    # the members in the order they come: the links' origins (amap, baidu) between minutes and the open state
    return template % (head + (() if far else (_minutes(r.minutes),)) + origins + (state_bytes, status_bytes))


def nearest_bytes(snapshot: "StationSet", results: Sequence[NearestResult], lat: Any, lon: Any, crs: str,
                  now: datetime, mode: str | None, live: Mapping[str, Any]) -> bytes:
    """`json_bytes(present.nearest_answer(results, lat, lon, crs, now, mode=mode, live=live))`, from kept pieces
    (`results` found in `snapshot`)."""
    mode = present.check_nav_mode(mode)
    origin = present.nearest_origin(lat, lon, crs)
    far = present.is_far(origin, results)
    start = (origin["lat"], origin["lon"])
    origins = tuple(_compact(present.origin_text(app, start))[1:-1] for app in present.NAV_APPS.values())
    parts = [_result(snapshot, r, mode, origins, far, now, live) for r in results]
    sample = b"true" if any(r.station.demo for r in results) else b"false"
    return (b'{"origin":' + _compact(origin) + b',"far":' + (b"true" if far else b"false") + b',"mode":'
            + _compact(mode) + b',"time":' + _compact(now.isoformat(timespec="seconds")) + b',"count":'
            + str(len(parts)).encode() + b',"results":[' + b",".join(parts) + b'],"sample_data":' + sample + b"}\n")
