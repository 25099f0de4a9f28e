"""Station lists encoded once per registry version, and validators for them.

What a station looks like as a GeoJSON Feature (`stationmap.present.station_feature`) changes with the
registry, except three members that follow the clock and the smart stations' reports: `open_now`,
`open_state` and `live`. Each station's Feature is encoded once per registry version with markers in
their place and cut at the markers; an answer then joins the stored pieces with those three members
encoded afresh. The bytes are the same as encoding the whole FeatureCollection (`json_bytes`).
"""
from __future__ import annotations

import hashlib
import json
import secrets
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from .. import present
from ..cache import LruCache
from ..model import Station
from .core import Answer, json_bytes

if TYPE_CHECKING:
    from ..query.nearest import StationSet

_MARK = "\x00" + secrets.token_hex(8)  # no station text can hold it by chance
_DYNAMIC = ("open_now", "open_state", "live")
_MARKS = [json.dumps(_MARK + name).encode() for name in _DYNAMIC]


def _compact(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _pieces(s: Station) -> list[bytes]:
    """The station's Feature cut where its three dynamic members go (four pieces)."""
    feature = present.station_feature(s, None, live={})
    for name in _DYNAMIC:
        feature["properties"][name] = _MARK + name
    text = json_bytes(feature)[:-1]  # without the newline
    pieces = []
    for mark in _MARKS:
        head, text = text.split(mark)
        pieces.append(head)
    return pieces + [text]


def feature_bytes(snapshot: "StationSet", s: Station, when: datetime, live: Mapping[str, Any]) -> bytes:
    """`json_bytes(present.station_feature(s, when, live))` without the newline, from the stored pieces."""
    memo = snapshot.memo.setdefault("feature_pieces", {})
    pieces = memo.get(s.id)
    if pieces is None:
        pieces = memo[s.id] = _pieces(s)
    status = present._live(s, live)
    state = present.open_state(s, when, status)
    key = (state["label"], state["open"], state["basis"])
    coded = _STATES.get(key)
    if coded is None or coded[2] != state:
        coded = _STATES[key] = (_compact(state["open"]), _compact(state), state)
    return b"".join((pieces[0], coded[0], pieces[1], coded[1], pieces[2],
                     b"null" if status is None else _compact(status), pieces[3]))


_STATES: dict[tuple[str, Any, str], tuple[bytes, bytes, dict[str, Any]]] = {}  # the few open states, encoded


def collection(snapshot: "StationSet", chosen: Sequence[Station], when: datetime, live: Mapping[str, Any]) -> bytes:
    """`json_bytes(present.feature_collection(chosen, when, live))`, built from stored pieces."""
    features = b",".join(feature_bytes(snapshot, s, when, live) for s in chosen)
    sample = b"true" if any(s.demo for s in chosen) else b"false"
    return (b'{"type":"FeatureCollection","sample_data":' + sample + b',"numberReturned":'
            + str(len(chosen)).encode() + b',"features":[' + features + b"]}\n")


def kept(snapshot: "StationSet", key: Any, build: Callable[[], bytes]) -> tuple[bytes, str]:
    """(body, ETag) of an answer over `snapshot`, built once per `key`: what it depends on besides the
    registry (the question, the minute its open states are judged at, the live-status table)."""
    answers = snapshot.memo.get("answers")
    if answers is None:
        answers = snapshot.memo.setdefault("answers", LruCache(32))
    hit = answers.get(key)
    if hit is None:
        body = build()
        hit = answers.put(key, (body, entity_tag(body)))
    return hit


def live_key(live: Mapping[str, Any]) -> bytes:
    """The live-status table as a key (its encoded form)."""
    return _compact(live) if live else b"{}"


def entity_tag(body: bytes) -> str:
    """A strong ETag (quoted) for these bytes."""
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def matches(if_none_match: str | None, tag: str) -> bool:
    """Whether an If-None-Match header names `tag` (weak or strong; a coding suffix such as :br ignored)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    bare = tag.strip('"')
    for item in if_none_match.split(","):
        item = item.strip()
        if item.startswith("W/"):
            item = item[2:]
        if item.strip('"').split(":", 1)[0] == bare:
            return True
    return False


def tagged(req: Any, body: bytes, media: str, tag: str | None = None) -> Answer:
    """A 200 with an ETag over `body` (`tag` when already known), or a 304 without a body when
    If-None-Match names that ETag."""
    tag = tag or entity_tag(body)
    if matches(req.headers.get("If-None-Match"), tag):
        return Answer(304, b"", None, {"ETag": tag})
    return Answer(200, body, media, {"ETag": tag})
