"""What a phone downloads, and how often: compression, fingerprinted static URLs, validators and 304s.

* Pages and API answers are compressed by Flask-Compress (brotli, else gzip, by the request's
  Accept-Encoding; `Vary: Accept-Encoding` on every response). Static files are compressed once, at
  the highest brotli and gzip levels, and kept in memory (they are small and change only on deploy).
* Static files have content-addressed URLs, `/static/v/<fingerprint>/<path>`: `asset_url(name)` (a
  Jinja global, and every `url_for("static", filename=...)`) fingerprints one file, `asset_base()`
  the whole static folder, for code that joins the prefix and a name (the folium maps, and the
  relative references inside vendored CSS). A URL whose fingerprint matches is cached for a year as
  immutable; an old or unknown fingerprint (a page from before a deploy) gets today's file, revalidated
  every time. Plain `/static/<path>` still works, revalidated every time. Every static answer has a
  strong ETag (the content hash, with the coding) and answers If-None-Match with 304.
* HTML pages (200 to GET) are `Cache-Control: no-cache, private` with an ETag over the page as sent
  less what changes on every render without changing the page: this response's CSP nonce and
  folium's random element ids. A browser that revalidates gets 304 with no body and keeps the page
  it has, with the policy it came with: a 304 never carries a Content-Security-Policy, since a new
  policy (a new nonce) would replace the stored one and block the stored page's own script. `private`
  keeps shared caches from handing one nonce to many people.
* Compression suffixes the ETag of what it codes (`"abc"` becomes `"abc:br"`), so each coding has its
  own strong validator. If-Match is read without that suffix: an edit names the station's version
  whatever coding the editor read it in.
"""
from __future__ import annotations

import gzip
import hashlib
import mimetypes
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import brotli
from flask import Flask, Response, current_app, g, request, url_for
from flask_compress import Compress
from werkzeug.exceptions import NotFound
from werkzeug.security import safe_join

YEAR_S = 365 * 24 * 3600
IMMUTABLE = f"public, max-age={YEAR_S}, immutable"
REVALIDATE = "no-cache"
PAGE_CACHE = "no-cache, private"
CODINGS = ("br", "gzip")  # static files: the best a client takes, in this order
MIN_COMPRESS = 500  # bytes: below this a coding costs more than it saves
COMPRESSIBLE = ("text/", "application/javascript", "application/json", "image/svg+xml")
# What the app answers besides Flask-Compress's defaults (it leaves these uncompressed otherwise).
MORE_MIMETYPES = ("application/geo+json", "application/problem+json", "application/vnd.oai.openapi+json", "text/csv")
_CODING_SUFFIX = re.compile(r':(?:br|gzip|zstd|deflate)"')
_FOLIUM_IDS = re.compile(rb"_[0-9a-f]{32}(?![0-9a-f])")  # folium's element names, <kind>_<uuid4 hex>, new each render
_NOT_ON_304 = frozenset({"content-security-policy", "content-security-policy-report-only"})


def init_app(app: Flask) -> None:
    """Compression, fingerprinted static files, page validators; one call in `create_app`."""
    app.config.setdefault("COMPRESS_ALGORITHM", ["br", "gzip"])
    app.config.setdefault("COMPRESS_BR_LEVEL", 5)  # ~3 ms for the 166 KB map page, 8% smaller than level 4
    app.config.setdefault("COMPRESS_MIN_SIZE", MIN_COMPRESS)
    Compress(app).compress_mimetypes_set.update(MORE_MIMETYPES)
    app.after_request(page_validators)  # registered after Compress, so it runs before it: hashes the plain page
    app.view_functions["static"] = serve_static
    app.add_url_rule(f"{app.static_url_path}/v/<v>/<path:filename>", endpoint="static", view_func=serve_static)
    app.url_defaults(_fingerprint_static_urls)
    app.jinja_env.globals["asset_url"] = asset_url
    app.wsgi_app = Validators(app.wsgi_app)  # type: ignore[method-assign]


# -- static files ------------------------------------------------------------------------------
@dataclass
class Asset:
    """One static file as served: its bytes, content hash and, made when first asked, its coded forms."""

    body: bytes
    stamp: tuple[int, int]  # (mtime_ns, size): the file is read again when either changes
    mimetype: str
    digest: str = ""
    coded: dict[str, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.digest = hashlib.sha256(self.body).hexdigest()[:12]

    @property
    def compressible(self) -> bool:
        return len(self.body) >= MIN_COMPRESS and self.mimetype.startswith(COMPRESSIBLE)

    def encoded(self, coding: str | None) -> bytes:
        if coding is None:
            return self.body
        if coding not in self.coded:
            self.coded[coding] = (brotli.compress(self.body, quality=11) if coding == "br"
                                  else gzip.compress(self.body, 9, mtime=0))
        return self.coded[coding]


_assets: dict[str, Asset] = {}


def _static_folder() -> str:
    folder = current_app.static_folder
    assert folder, "the app has no static folder"
    return folder


def find_asset(name: str) -> Asset | None:
    """The static file `name` (a path under the static folder), or None if there is none."""
    path = safe_join(_static_folder(), name) if name else None
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not os.path.isfile(path):
        return None
    stamp = (st.st_mtime_ns, st.st_size)
    asset = _assets.get(path)
    if asset is None or asset.stamp != stamp:
        asset = Asset(Path(path).read_bytes(), stamp, mimetypes.guess_type(path)[0] or "application/octet-stream")
        _assets[path] = asset
    return asset


def _static_files(folder: str) -> Iterable[str]:
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            yield os.path.relpath(os.path.join(root, name), folder).replace(os.sep, "/")


def tree_fingerprint() -> str:
    """A content hash of the whole static folder (every file's path and hash)."""
    h = hashlib.sha256()
    for rel in _static_files(_static_folder()):
        asset = find_asset(rel)
        if asset is not None:
            h.update(f"{rel}\0{asset.digest}\n".encode())
    return h.hexdigest()[:12]


def asset_url(name: str) -> str:
    """The fingerprinted URL of one static file (plain `/static/<name>` if there is no such file)."""
    return url_for("static", filename=name)


def asset_base() -> str:
    """A fingerprinted prefix to join static file names to (`asset_base() + "vendor/leaflet/leaflet.js"`)."""
    return url_for("static", filename="", v=tree_fingerprint())


def _fingerprint_static_urls(endpoint: str | None, values: dict[str, Any]) -> None:
    """`url_for("static", filename=...)` gives the fingerprinted URL of a file that exists."""
    if endpoint == "static" and "v" not in values:
        asset = find_asset(str(values.get("filename") or ""))
        if asset is not None:
            values["v"] = asset.digest


def serve_static(filename: str, v: str | None = None) -> Response:
    """A static file, coded as the client accepts; cached for a year under a matching fingerprint."""
    asset = find_asset(filename)
    if asset is None:
        raise NotFound()
    immutable = v is not None and (v == asset.digest or v == tree_fingerprint())
    coding = request.accept_encodings.best_match(CODINGS) if asset.compressible else None
    tag = asset.digest + (f":{coding}" if coding else "")  # the tag Flask-Compress would give this coding
    if request.if_none_match.contains_weak(tag):
        resp = Response(status=304)
    else:
        resp = Response(asset.encoded(coding), mimetype=asset.mimetype)
        if coding:
            resp.headers["Content-Encoding"] = coding
    resp.set_etag(tag)
    resp.headers["Cache-Control"] = IMMUTABLE if immutable else REVALIDATE
    resp.vary.add("Accept-Encoding")
    return resp


# -- pages -------------------------------------------------------------------------------------
def page_tag(body: bytes, nonce: str | None) -> str:
    """The ETag of an HTML page: its hash less this response's nonce and folium's per-render ids."""
    if nonce:
        body = body.replace(nonce.encode(), b"")
    return "p" + hashlib.sha256(_FOLIUM_IDS.sub(b"", body)).hexdigest()[:24]


def page_validators(resp: Response) -> Response:
    """An HTML page answered 200 to GET gets an ETag and `no-cache, private`; a matching If-None-Match, 304
    (here if the page goes out uncoded, else from Flask-Compress, after it suffixed the ETag with the coding)."""
    if (request.method not in ("GET", "HEAD") or resp.status_code != 200 or resp.mimetype != "text/html"
            or resp.is_streamed or "Cache-Control" in resp.headers or resp.get_etag()[0]):
        return resp
    resp.set_etag(page_tag(resp.get_data(), g.get("csp_nonce")))
    resp.headers["Cache-Control"] = PAGE_CACHE
    return resp.make_conditional(request)


class Validators:
    """WSGI wrapper: If-Match is read without the coding suffix; a 304 carries no CSP."""

    def __init__(self, wsgi_app: Callable[..., Any]):
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if "HTTP_IF_MATCH" in environ:
            environ["HTTP_IF_MATCH"] = _CODING_SUFFIX.sub('"', environ["HTTP_IF_MATCH"])

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if status.startswith("304"):
                headers = [(k, v) for k, v in headers if k.lower() not in _NOT_ON_304]
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, start)


__all__ = ["init_app", "asset_url", "asset_base", "find_asset", "tree_fingerprint", "serve_static", "page_tag"]
