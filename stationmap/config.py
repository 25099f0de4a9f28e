"""Every setting of the service, declared once with its default, environment variable and help.

Values come from (lowest to highest): the defaults here, `STATIONMAP_<NAME>` environment
variables, then explicit overrides (CLI options, test config).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .errors import InvalidInput

REPO_ROOT = Path(__file__).resolve().parent.parent
GEODATA_DIR = REPO_ROOT / "geodata"


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    parse: Callable[[str], Any] = str


def _csv(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


PASSWORD_WORK = (10, 16)  # scrypt's n as a power of two: 1 MiB to 64 MiB of memory per check


def password_work(value: Any) -> int:
    """scrypt's cost exponent for new password hashes, within PASSWORD_WORK; else InvalidInput."""
    low, high = PASSWORD_WORK
    try:
        work = int(str(value).strip())
    except ValueError:
        raise InvalidInput(f"password_work must be a whole number from {low} to {high}, not {value!r}") from None
    if not low <= work <= high:
        raise InvalidInput(f"password_work must be from {low} to {high} (scrypt n = 2**work), not {work}")
    return work


SERVICE_AREAS = ("jieyang", "guangdong", "china")


def service_area(value: Any) -> str:
    """A service area: one of SERVICE_AREAS (any case) or the path of an existing GeoJSON file; else InvalidInput."""
    text = str(value).strip()
    if text.lower() in SERVICE_AREAS:
        return text.lower()
    path = Path(text).expanduser()
    if text and path.suffix.lower() in (".geojson", ".json") and path.is_file():
        return str(path)
    raise InvalidInput(f"service_area {text!r} is not known: use {', '.join(SERVICE_AREAS)} or the path of an existing "
                       "GeoJSON file (.geojson) holding the area's polygon(s) in WGS-84")


SETTINGS: tuple[Setting, ...] = (
    Setting("data_dir", "stationmap-data", "Directory holding the station registry (stations.gpkg)."),
    Setting("service_area", "jieyang", "Where stations may lie: jieyang (the default: the city's outline), guangdong, "
            "china (coarse outlines that reach a few km beyond the border, geodata/SOURCES.md), or the path of a GeoJSON "
            "file with the area's polygon(s) in WGS-84. Districts, townships and population coverage are Jieyang's "
            "whatever the area: a station outside Jieyang has no district or township.", service_area),
    Setting("store", "auto", "Where the station registry is kept: gpkg (DATA_DIR/stations.gpkg), postgis (the "
            "database at database_url), memory (this process only, lost when it ends; for tests and demonstrations), "
            "or auto (the default): postgis when database_url is set, else gpkg."),
    Setting("database_url", "", "PostgreSQL/PostGIS database for the station registry (postgresql://user:password@host/db "
            "or postgresql:///db?host=/socket/dir); empty: the embedded GeoPackage. Its schema is created and migrated "
            "by `stationmap db upgrade` (run at open too)."),
    Setting("redis_url", "", "Redis (or Valkey) shared by every web worker and machine for rate-limit counters and "
            "the answers of costly questions (redis://host:6379/0 or redis+unix:///path/redis.sock); empty: each "
            "worker counts in its own memory, and answers are kept for this machine only (DATA_DIR/jobs.sqlite)."),
    Setting("geocoder", "offline", "Geocoder for rows without coordinates: offline, nominatim or baidu."),
    Setting("geocoder_key", "", "API key for the online geocoder (baidu)."),
    Setting("geocoder_user_agent", "stationmap", "User agent sent to Nominatim."),
    Setting("geocoder_url", "", "Base URL of a self-hosted Nominatim (e.g. http://10.0.0.5:8080); empty: the service's own."),
    Setting("basemap", "amap", "Default basemap: amap (高德, reachable in mainland China; drawn in GCJ-02), osm or "
            "tianditu (needs tianditu_key). The pages offer the others in one tap."),
    Setting("tianditu_key", "", "Tianditu (天地图) browser key; without it the Tianditu basemap is refused."),
    Setting("cors_origins", (), "Origins allowed to call the API from a browser (comma separated).", _csv),
    Setting("frame_origins", ("*",), "Origins allowed to frame /embed (comma separated); * (the default): any site, "
            "as /embed is public and read-only. /map and the admin page are never framed by other sites.", _csv),
    Setting("max_results", 50, "Upper bound for k in nearest queries.", int),
    Setting("language", "zh", "Default UI language: zh or en."),
    Setting("osm_tile_url", "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
            "Tile URL template of the OpenStreetMap basemap (point it at a mirror or your own tile server)."),
    Setting("map_inline_max", 2000, "Largest registry the map page carries whole (every station in the page, for "
            "offline use); a larger one is loaded as the view moves: clusters from /api/stations/clusters, the "
            "stations in view, nearest from /api/nearest.", int),
    Setting("max_suggest", 30, "Upper bound for n in siting suggestions (web API and planner).", int),
    Setting("status_unknown_after_s", 1800, "Seconds after a smart station's last report when it shows 'status unknown'.", int),
    Setting("telemetry_window_s", 300, "Telemetry timestamps further than this (seconds) from server time are refused.", int),
    Setting("login_token_ttl_h", 12, "Hours a token issued by the admin page login stays valid.", int),
    Setting("max_request_bytes", 1048576, "Largest request body the web app accepts (bytes).", int),
    Setting("report_client_limit", 5, "Workers' reports accepted per client network per hour.", int),
    Setting("report_station_limit", 20, "Workers' reports accepted per station per day.", int),
    Setting("rate_limit_public", "300/minute", "Rate limit per client address and route on public endpoints (`limits` syntax, e.g. 300/minute)."),
    Setting("rate_limit_telemetry", "30/minute", "Rate limit per station and client address on the telemetry endpoint."),
    Setting("rate_limit_login", "10/minute", "Rate limit per client address on the admin login."),
    Setting("job_workers", 1, "Processes computing costly questions (coverage, gaps, siting) apart from the request workers.", int),
    Setting("job_queue_max", 16, "Costly questions waiting or computing at once, all clients together; more get 503.", int),
    Setting("job_client_pending", 2, "Costly questions one client address may have waiting or computing at once; more get 429.", int),
    Setting("job_budget_s", 120.0, "CPU seconds of new costly questions one client address may cause per hour; more get 429.", float),
    Setting("job_idle_exit_s", 120.0, "Seconds a question runner waits for new work before it exits.", float),
    Setting("proxy_count", 0, "Reverse proxies in front of the app whose X-Forwarded-For is trusted (for rate limits).", int),
    Setting("public_url", "", "The service's public base URL (e.g. https://map.example.org); when set, every absolute "
            "link (OGC API) is built on it instead of the request's Host."),
    Setting("allowed_hosts", (), "Host names (comma separated, no port) the service answers to besides localhost, "
            "127.0.0.1 and [::1]; any other Host gets 400. Not checked when public_url is set and this is empty.", _csv),
    Setting("hsts_max_age", 31536000, "Strict-Transport-Security max-age (seconds) sent on HTTPS responses; 0: none.", int),
    Setting("login_max_failures", 5, "Failed sign-ins for one account name within login_failure_window_s after which "
            "further attempts for that name are refused (429) until the window has passed; 0: no limit.", int),
    Setting("password_work", 15, "scrypt cost of new password hashes, as n = 2**work (15: 32 MiB and about 0.1 s a "
            "check, slow for guessing, fine for a sign-in). Each stored hash keeps its own cost, so a change applies to "
            "passwords set afterwards. Only the test suite lowers it.", password_work),
    Setting("login_failure_window_s", 900, "Seconds over which failed sign-ins for one account name are counted.", int),
)
DEFAULTS: dict[str, Any] = {s.name: s.default for s in SETTINGS}
_BY_NAME = {s.name: s for s in SETTINGS}


def load_settings(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Defaults, then `STATIONMAP_*` environment variables, then `overrides` (None values ignored)."""
    values = dict(DEFAULTS)
    for s in SETTINGS:
        raw = os.environ.get(f"STATIONMAP_{s.name.upper()}")
        if raw is not None and raw != "":
            try:
                values[s.name] = s.parse(raw)
            except InvalidInput as exc:
                raise InvalidInput(f"environment variable STATIONMAP_{s.name.upper()}: {exc}") from None
            except ValueError:
                raise InvalidInput(f"environment variable STATIONMAP_{s.name.upper()}={raw!r} is not "
                                   f"{'a whole number' if s.parse is int else 'valid'}; unset it for the "
                                   f"default ({s.default!r})") from None
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key not in _BY_NAME:
            raise InvalidInput(f"unknown setting {key!r}; known: {', '.join(_BY_NAME)}")
        values[key] = value
    return values


def data_dir(overrides: dict[str, Any] | None = None) -> Path:
    """The registry directory, from --data-dir, STATIONMAP_DATA_DIR or the default."""
    return Path(load_settings(overrides)["data_dir"]).expanduser()
