"""Request in, answer out: the plain values the API layer works on, with no web framework behind them.

A `Request` is what a client asked (method, path, query, headers, body, address, the base its links are
built on); an `Answer` is what it gets (status, headers, body bytes and their media type). The helpers
below make the answers the API gives: JSON, GeoJSON, CSV for spreadsheets (UTF-8 with BOM, text that a
spreadsheet would run as a formula quoted) and RFC 9457 problem documents.
"""
from __future__ import annotations

import dataclasses
import decimal
import json
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from datetime import time as dtime
from email.utils import format_datetime
from typing import Any, Iterable, Iterator, Mapping
from urllib.parse import parse_qsl, unquote, urlsplit

from ..errors import InvalidInput
from ..files.sheets import records_csv, safe_csv_text

JSON_PREFIXES = ("/api", "/ogcapi", "/healthz", "/readyz")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PROBLEM_MEDIA = "application/problem+json"


class Fields:
    """Names with one or more values each, in the order given (a query string, or headers when `folded`:
    names compared without regard to case). The pairs are read from `pairs` when first asked for, so that a
    front end can hand over every header of a request and pay for them only if a handler reads one."""

    __slots__ = ("folded", "_source", "_list", "_index")

    def __init__(self, pairs: Iterable[tuple[str, str]] | Mapping[str, Any] = (), *, folded: bool = False):
        if isinstance(pairs, Mapping):
            pairs = [(k, v) for k, vs in pairs.items() for v in (vs if isinstance(vs, (list, tuple)) else [vs])]
        self.folded = folded
        self._source: Iterable[tuple[Any, Any]] = pairs
        self._list: list[tuple[str, str]] | None = None
        self._index: dict[str, list[str]] | None = None  # name -> values, made at the first lookup

    @property
    def _pairs(self) -> list[tuple[str, str]]:
        if self._list is None:
            self._list = [(k if type(k) is str else str(k), v if type(v) is str else str(v)) for k, v in self._source]
            self._source = ()
        return self._list

    def _key(self, name: str) -> str:
        return name.lower() if self.folded else name

    def _values(self, name: str) -> list[str] | None:
        if self._index is None:
            index: dict[str, list[str]] = {}
            for k, v in self._pairs:
                index.setdefault(self._key(k), []).append(v)
            self._index = index
        return self._index.get(self._key(name))

    def getlist(self, name: str) -> list[str]:
        return list(self._values(name) or ())

    def peek(self, name: str) -> list[str] | None:
        """The values given for `name` (not a copy: read them, do not change them), or None."""
        return self._values(name)

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self._values(name)
        return values[0] if values else default

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(self._values(name))

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def keys(self) -> list[str]:
        """Each name once, as first given."""
        seen: dict[str, str] = {}
        for k, _ in self._pairs:
            seen.setdefault(self._key(k), k)
        return list(seen.values())

    def items(self) -> list[tuple[str, str]]:
        """(name, first value) for each name."""
        return [(k, self.getlist(k)[0]) for k in self.keys()]

    def pairs(self) -> list[tuple[str, str]]:
        return list(self._pairs)


@dataclass(frozen=True)
class Request:
    """One request, as any front end (the Flask app, the static export, a test) hands it to the API layer.

    `base_url` is scheme://host plus the root the service is mounted under ('' in process);
    `root` is that mount path alone, which relative links start with.
    """

    method: str
    path: str
    query: Fields = field(default_factory=Fields)
    headers: Fields = field(default_factory=lambda: Fields(folded=True))
    body: bytes = b""
    remote_addr: str = "unknown"
    base_url: str = "http://localhost"
    root: str = ""

    @classmethod
    def make(cls, method: str, target: str, *, headers: Mapping[str, str] | None = None, body: bytes = b"",
             remote_addr: str = "local", base_url: str = "http://localhost") -> "Request":
        """A request built in process: `target` is a path (percent-encoded as sent) with an optional query string."""
        parts = urlsplit(target)
        return cls(method.upper(), unquote(parts.path) or "/", Fields(parse_qsl(parts.query, keep_blank_values=True)),
                   Fields(headers or {}, folded=True), body, remote_addr, base_url.rstrip("/"),
                   urlsplit(base_url).path.rstrip("/"))

    def with_path(self, path: str) -> "Request":
        return dataclasses.replace(self, path=path)


class NotYet(Exception):
    """Raised by a handler whose answer is not ready (a costly question still computing): the service sends
    `interim(service, request)` meanwhile."""

    def interim(self, svc: Any, req: "Request") -> "Answer":
        raise NotImplementedError


@dataclass
class Answer:
    """What the API layer answers: status, headers, body bytes and their media type (no charset)."""

    status: int
    body: bytes = b""
    media: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def content_type(self) -> str | None:
        """The Content-Type header: the media type, with the charset for text (as web servers send it)."""
        if self.media and self.media.startswith("text/") and "charset" not in self.media:
            return f"{self.media}; charset=utf-8"
        return self.media

    def json(self) -> Any:
        return json.loads(self.body)


def _default(o: Any) -> Any:
    """Values JSON has no type for, written as HTTP services write them: dates as HTTP dates, dataclasses as
    objects, decimals and UUIDs as text."""
    if isinstance(o, date):
        dt = o if isinstance(o, datetime) else datetime.combine(o, dtime())
        return format_datetime(dt.astimezone(timezone.utc) if dt.tzinfo else dt.replace(tzinfo=timezone.utc),
                               usegmt=True)
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return dataclasses.asdict(o)
    if isinstance(o, (decimal.Decimal, uuid.UUID)):
        return str(o)
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


# One encoder for every answer: json.dumps builds a new one on each call when given options.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_default)


def compact_json(doc: Any) -> bytes:
    """Compact UTF-8 JSON (Chinese as is, keys in their order), without a newline."""
    return _ENCODER.encode(doc).encode("utf-8")


def json_bytes(doc: Any) -> bytes:
    """Compact UTF-8 JSON (Chinese as is, keys in their order) ending with a newline."""
    return (_ENCODER.encode(doc) + "\n").encode("utf-8")


def json_answer(doc: Any, status: int = 200, media: str = "application/json",
                headers: dict[str, str] | None = None) -> Answer:
    return Answer(status, json_bytes(doc), media, dict(headers or {}))


def _download(filename: str | None) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{filename}"'} if filename else {}


def geojson_answer(doc: dict[str, Any], filename: str | None = None) -> Answer:
    """GeoJSON (RFC 7946 media type); a download under `filename` when given."""
    return json_answer(doc, media="application/geo+json", headers=_download(filename))


def csv_text_answer(text: str, filename: str) -> Answer:
    """A CSV download, with a UTF-8 BOM (added if missing) so that Excel shows the Chinese names."""
    text = safe_csv_text(text)
    text = text if text.startswith("\ufeff") else "\ufeff" + text
    return Answer(200, text.encode("utf-8"), "text/csv", _download(filename))


def csv_answer(rows: list[dict[str, Any]], filename: str) -> Answer:
    """Rows as a CSV download (columns in first-seen order; lists and dicts as JSON text)."""
    columns: list[str] = []
    for r in rows:
        columns += [k for k in r if k not in columns and k != "geometry"]
    flat = ({k: json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else v for k, v in r.items()}
            for r in rows)
    return csv_text_answer(records_csv(columns, flat, extrasaction="ignore"), filename)


def problem_answer(status: int, title: str, detail: str, type_uri: str = "about:blank", instance: str = "",
                   headers: dict[str, str] | None = None) -> Answer:
    """An RFC 9457 problem document."""
    doc = {"type": type_uri, "title": title, "status": status, "detail": detail, "instance": instance}
    return json_answer(doc, status, PROBLEM_MEDIA, headers)


def no_content() -> Answer:
    return Answer(204)


def public_base(url: str) -> str:
    """The configured public URL without a trailing slash ('' if unset); InvalidInput unless http(s)://host[/path]."""
    url = (url or "").strip()
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc or parts.query \
            or parts.fragment:
        raise InvalidInput(f"public_url {url!r}: give the service's base URL, e.g. https://map.example.org")
    return url.rstrip("/")
