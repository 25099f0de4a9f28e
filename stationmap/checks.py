"""Checks of values a user types or sends (CLI arguments, API parameters, cells, JSON bodies), shared by every module.

Each returns the clean value or raises InvalidInput naming the bad value and what is allowed.
"""
from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any, Iterable, Sequence

from .errors import InvalidInput

MAX_JSON_DEPTH = 32
# a JSON string literal, or an unterminated one up to the end: every quote starts a match, so this is linear
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*(?:"|\\?\Z)', re.S)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_NESTING = {"[": 1, "{": 1, "]": -1, "}": -1}


def number(value: Any, what: str) -> float:
    """A finite number (a bool is not one)."""
    if isinstance(value, bool):
        raise InvalidInput(f"{what} {value!r} is not a number")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{what} {value!r} is not a number") from None
    if not math.isfinite(x):
        raise InvalidInput(f"{what} {value!r} is not a finite number")
    return x


def whole_number(value: Any, what: str, low: int, high: int | None = None) -> int:
    """A whole number from `low` to `high` (no upper bound if None; '3' and 3.0 are fine, 2.5 is not)."""
    try:
        if isinstance(value, bool) or float(value) != int(float(value)):
            raise ValueError
        n = int(float(value))
    except (TypeError, ValueError, OverflowError):
        raise InvalidInput(f"{what} {value!r} is not a whole number; use {_range(low, high)}") from None
    if n < low or high is not None and n > high:
        raise InvalidInput(f"{what} {value!r} is out of range; use {_range(low, high)}")
    return n


def _range(low: int, high: int | None) -> str:
    return f"{low} to {high}" if high is not None else f"at least {low}"


def lat_lon(lat: Any, lon: Any) -> tuple[float, float]:
    """Two finite numbers in range (latitude -90..90, longitude -180..180)."""
    la, lo = number(lat, "latitude"), number(lon, "longitude")
    if not -90 <= la <= 90:
        hint = " (latitude and longitude look swapped: Jieyang is near 23.5N, 116.3E)" if -90 <= lo <= 90 else ""
        raise InvalidInput(f"latitude {lat!r} is out of range; use -90 to 90{hint}")
    if not -180 <= lo <= 180:
        raise InvalidInput(f"longitude {lon!r} is out of range; use -180 to 180")
    return la, lo


def choices(value: str | Iterable[str] | None, allowed: Sequence[str], what: str,
            words: dict[str, str] | None = None) -> set[str] | None:
    """One or several of `allowed` (case-insensitive; `words` maps other spellings); None if none given."""
    if value is None:
        return None
    items = [value] if isinstance(value, str) else list(value)
    out = set()
    for item in items:
        key = (words or {}).get(str(item).strip(), str(item).strip().lower())
        if key not in allowed:
            raise InvalidInput(f"unknown {what} {item!r}; use one of {', '.join(allowed)}")
        out.add(key)
    return out or None


def json_depth(text: str) -> int:
    """How deeply arrays and objects nest in a JSON text (0 for a scalar), counted without parsing it."""
    if text.count("[") + text.count("{") == 0:
        return 0
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(accumulate(map(_NESTING.__getitem__, brackets)), default=0)


def json_document(data: bytes | str, what: str = "request body", max_depth: int = MAX_JSON_DEPTH) -> Any:
    """A JSON text someone sent (UTF-8, a leading BOM ignored), nesting at most `max_depth` levels;
    InvalidInput otherwise.

    Python's parser recurses once per level, so `[[[[...]]]]` a thousand deep would end in RecursionError;
    the depth is counted first, and such a document is refused before it is parsed.
    """
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"{what} is not JSON: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    depth = json_depth(data)
    if depth > max_depth:
        raise InvalidInput(f"{what} nests arrays and objects {depth} levels deep; at most {max_depth} are allowed")
    try:
        return json.loads(data)
    except ValueError as exc:
        raise InvalidInput(f"{what} is not JSON: {exc}") from None
