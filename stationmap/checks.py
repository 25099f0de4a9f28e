"""Checks of values a user types (CLI arguments, API parameters, cells), shared by every module.

Each returns the clean value or raises InvalidInput naming the bad value and what is allowed.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

from .errors import InvalidInput


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


def whole_number(value: Any, what: str, low: int, high: int) -> int:
    """A whole number from `low` to `high` ('3' and 3.0 are fine, 2.5 is not)."""
    try:
        if isinstance(value, bool) or float(value) != int(float(value)):
            raise ValueError
        n = int(float(value))
    except (TypeError, ValueError, OverflowError):
        raise InvalidInput(f"{what} {value!r} is not a whole number; use {low} to {high}") from None
    if not low <= n <= high:
        raise InvalidInput(f"{what} {value!r} is out of range; use {low} to {high}")
    return n


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
