"""The nearest answer encoded from pieces kept per registry version.

`json_bytes(present.nearest_answer(...))` builds and encodes every found station's fields, datums and
navigation links on every question. Most of a result is the station's own: only the distance, bearing,
direction, minutes, open state, live status and the origin inside each link change from one question to
the next. Each station's result is encoded once per registry version and travel mode with markers in
those places and cut at the markers; an answer joins the kept pieces with the changing members encoded
afresh, in one pass over the results. Open states that follow the clock alone are kept per minute. The bytes
are the same as encoding `present.nearest_answer` (a test holds them to it).
"""
from __future__ import annotations

import json
import secrets
from datetime import datetime
from json.encoder import encode_basestring  # a str as json writes it with ensure_ascii=False
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from .. import present
from ..cache import KeptDict
from ..model import Station
from ..query.nearest import NearestResult, compass, compass_point
from .core import compact_json, json_bytes

if TYPE_CHECKING:
    from ..query.nearest import StationSet

_MARK = "\x00" + secrets.token_hex(8)  # no station text can hold it by chance
_MEMBERS = ("open_now", "distance_m", "bearing_deg", "direction", "direction_zh", "minutes", "open_state", "live")
_FAR_MEMBERS = tuple(m for m in _MEMBERS if m != "minutes")


_compact = compact_json
# What json writes for round(x, 1): both round correctly to one decimal, and float.__repr__ of the rounded value
# is that decimal for every |x| < 1e16 (distances, bearings and minutes here are far below it).
_TENTHS = b"%.1f"
_RESULTS = _MARK + "results"  # where the envelope's results go
_RESULTS_MARK = json.dumps(_RESULTS).encode()


def _origin_mark(key: str) -> str:
    return _MARK + "origin-" + key


def _template(s: Station, mode: str, far: bool) -> tuple[bytes, ...]:
    """The station's result cut where the changing members go: (the text before them; a %-format of the members
    from open_now to minutes and the text between them; then the text after minutes, after each link's origin,
    after open_state and after live). Without minutes (far), the format's minutes take an empty member."""
    blank = NearestResult(s, 0.0, 0.0, {}, None)
    result = present.nearest_result(blank, mode, None, far, None, {})
    members = _FAR_MEMBERS if far else _MEMBERS
    for name in members:
        result[name] = _MARK + name
    result["nav"] = {key: head + _origin_mark(key) + tail
                     for key, (head, tail) in present.nav_parts(s.lat, s.lon, s.name, mode).items()}
    text = json_bytes(result)[:-1]  # without the newline
    marks = [json.dumps(_MARK + name).encode() for name in members[:-2]]  # in the order `nearest_bytes` fills them
    marks += [json.dumps(_origin_mark(key))[1:-1].encode() for key in present.NAV_APPS]
    marks += [json.dumps(_MARK + name).encode() for name in members[-2:]]
    cut = []
    for mark in marks:
        before, found, text = text.partition(mark)
        assert found, "the members of a nearest result moved"
        cut.append(before)
    cut.append(text)
    if far:  # no minutes: an empty member between direction_zh and the first link's origin
        cut.insert(6, b"")
    c = [piece.replace(b"%", b"%%") for piece in cut[:6]]
    span = b"%b" + c[1] + _TENTHS + c[2] + _TENTHS + c[3] + b"%b" + c[4] + b"%b" + c[5] + b"%b"
    return (cut[0], span, *cut[6:])


_STATES: dict[str, tuple[bytes, bytes, dict[str, Any]]] = {}  # the few open states, encoded
_WORDS = tuple((_compact(compass(b)), _compact(compass(b, "zh"))) for b in range(0, 360, 45))  # by compass point


def _state(state: dict[str, Any]) -> tuple[bytes, bytes]:
    coded = _STATES.get(state["label"])
    if coded is None or coded[2] != state:
        coded = _STATES[state["label"]] = (_compact(state["open"]), _compact(state), state)
    return coded[0], coded[1]


_MINUTES: dict[tuple[str, ...], bytes] = {}


def _minutes(minutes: Mapping[str, float]) -> bytes:
    """{mode: minutes to 0.1} encoded."""
    modes = tuple(minutes)
    template = _MINUTES.get(modes)
    if template is None:
        keys = (_compact(m).replace(b"%", b"%%") for m in modes)
        template = _MINUTES[modes] = b"{" + b",".join(key + b":" + _TENTHS for key in keys) + b"}"
    return template % tuple(minutes.values())


KEPT_TEMPLATES = 1 << 14  # stations x modes whose results are kept encoded (~1.5 KB each), per registry version
KEPT_STATES = 1 << 15  # stations whose open state is kept for the minute


class _Kept:
    """A snapshot's kept pieces: result templates by (station id, mode, far), and the open states of the
    current minute by station id (open_now, open_state and live encoded). Bounded, as questions from all over a
    national registry would otherwise keep every station's."""

    def __init__(self) -> None:
        self.templates: KeptDict[tuple[bytes, ...]] = KeptDict(KEPT_TEMPLATES)
        self.minute: tuple[datetime | None, KeptDict[tuple[bytes, bytes, bytes]]] = (None, KeptDict(KEPT_STATES))

    def states(self, minute: datetime) -> KeptDict[tuple[bytes, bytes, bytes]]:
        """The open states kept for `minute` (those of an earlier minute are dropped)."""
        at, states = self.minute
        if at != minute:
            at, states = self.minute = (minute, KeptDict(KEPT_STATES))
        return states


def _kept(snapshot: "StationSet") -> _Kept:
    kept = snapshot.memo.get("nearest_kept")
    if kept is None:
        kept = snapshot.memo.setdefault("nearest_kept", _Kept())
    return kept


def _open_state(s: Station, when: datetime, live: Mapping[str, Any]) -> tuple[bytes, bytes, bytes]:
    """The station's open_now, open_state and live, encoded."""
    status = present._live(s, live)
    open_now, state = _state(present.open_state(s, when, status))
    return open_now, state, b"null" if status is None else _compact(status)


def nearest_bytes(snapshot: "StationSet", results: Sequence[NearestResult], lat: Any, lon: Any, crs: str,
                  now: datetime, mode: str | None, live: Mapping[str, Any]) -> bytes:
    """`json_bytes(present.nearest_answer(results, lat, lon, crs, now, mode=mode, live=live))`, from kept pieces
    (`results` found in `snapshot`)."""
    mode = present.check_nav_mode(mode)
    origin = present.nearest_origin(lat, lon, crs)
    far = present.is_far(origin, results)
    links = present.origin_texts((origin["lat"], origin["lon"]))
    amap, baidu = (encode_basestring(links[key])[1:-1].encode() for key in present.NAV_APPS)
    kept = _kept(snapshot)
    templates = kept.templates
    states = kept.states(now.replace(second=0, microsecond=0))
    parts = []
    for r in results:
        s = r.station
        key = (s.id, mode, far)
        head, span, after_minutes, after_amap, after_baidu, after_state, end = (
            templates.get(key) or templates.put(key, _template(s, mode, far)))
        if s.id in live:
            open_now, state, status = _open_state(s, now, live)
        else:  # what the station shows without a report follows the clock alone: kept for the minute
            open_now, state, status = states.get(s.id) or states.put(s.id, _open_state(s, now, {}))
        bearing = r.bearing_deg
        en, zh = _WORDS[compass_point(bearing)]
        members = span % (open_now, r.distance_m, bearing, en, zh, b"" if far else _minutes(r.minutes))
        parts.append(b"".join((head, members, after_minutes, amap, after_amap, baidu, after_baidu, state,
                               after_state, status, end)))
    envelope = json_bytes({"origin": origin, "far": far, "mode": mode, "time": now.isoformat(timespec="seconds"),
                           "count": len(parts), "results": _RESULTS,
                           "sample_data": any(r.station.demo for r in results)})
    before, _, after = envelope.partition(_RESULTS_MARK)
    return b"".join((before, b"[", b",".join(parts), b"]", after))
