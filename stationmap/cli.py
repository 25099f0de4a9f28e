"""The `stationmap` command: a thin adapter from arguments to the library.

Every command takes --data-dir (or STATIONMAP_DATA_DIR). Bad usage, a StationmapError or a file that
cannot be read or written becomes a one-line message on stderr and exit code 2 (a refused import: 1);
no traceback reaches the user.
"""
from __future__ import annotations

import functools
import inspect
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from . import config, params
from .errors import ImportRejected, InvalidInput, StationmapError
from .params import Param

if TYPE_CHECKING:  # a command loads what it uses when it runs: `stationmap --help` loads none of it
    from .store import StationStore


def option(param: Param, *decls: str, **kwargs: Any):
    """A click option (or, with no flags, an argument) from a parameter's one declaration
    (stationmap.params): its help and default, the value parsed and bounded as the web API does."""
    def parse(_ctx: click.Context, given: click.Parameter, value: Any) -> Any:
        values = [v for v in (value if isinstance(value, tuple) else (value,)) if v is not None]
        if not values:
            return () if param.type == "array" and param.default is None else param.default
        try:
            return param.bounded(config.load_settings()).parse([str(v) for v in values])
        except InvalidInput as exc:  # said with the option's own name
            raise click.BadParameter(str(exc), param=given) from None

    if decls and decls[0].startswith("-"):
        shown = f" [default: {param.default}]" if param.default not in (None, False) else ""
        kwargs.setdefault("metavar", "|".join(map(str, param.enum)) if param.enum and param.type != "array"
                          else param.name.upper())
        return click.option(*decls, param.name, default=None, multiple=param.type == "array", callback=parse,
                            help=param.help + shown, **kwargs)
    return click.argument(param.name, callback=parse, **kwargs)


def with_store(fn):
    """Add --data-dir and pass the opened registry as `store`, and the directory as `data_dir` to
    commands that take it (accounts, audit and telemetry are kept beside the registry)."""
    wants_dir = "data_dir" in inspect.signature(fn).parameters

    @click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                  help="Registry directory (default: $STATIONMAP_DATA_DIR or ./stationmap-data).")
    @functools.wraps(fn)
    def wrapper(*args, data_dir: Path | None = None, **kwargs):
        directory = config.data_dir({"data_dir": data_dir})
        if wants_dir:
            kwargs["data_dir"] = directory
        from .store import open_store

        return fn(*args, store=open_store(directory), **kwargs)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """揭阳市总工会 工会驿站地图 — Jieyang union rest-station map."""


@cli.command("export")
@click.option("--layer", type=click.Choice(["stations", "townships", "districts"]), default="stations", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["geojson", "csv", "gpkg", "xlsx"]), default="geojson", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="File to write ('-' for standard output, text formats only).")
@with_store
def export_cmd(layer: str, fmt: str, output: Path, store: StationStore) -> None:
    """Write stations, townships or districts as GeoJSON, CSV, GeoPackage or XLSX."""
    from .files.exports import export_layer

    n = export_layer(store, layer, fmt, output)
    if str(output) != "-":
        click.echo(f"wrote {n} {layer} to {output}", err=True)


@cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@option(replace(params.CRS, help="Datum of the file's coordinates: gcj02 for points picked in Amap/Tencent, bd09 for "
                                  "Baidu."), "--crs")
@click.option("--merge", is_flag=True, help="Add to and update the registry instead of replacing it with the file.")
@click.option("--dry-run", is_flag=True, help="Validate and show what would change; write nothing.")
@click.option("--sheet", default=None, help="XLSX sheet name (default: the first sheet).")
@with_store
def import_cmd(file: Path, crs: str, merge: bool, dry_run: bool, sheet: str | None, store: StationStore) -> None:
    """Import the union's station list (CSV, XLSX or GeoJSON). Any bad row: nothing is written."""
    from .files.imports import import_file

    try:
        result = import_file(store, file, crs=crs, merge=merge, dry_run=dry_run, sheet=sheet)
    except ImportRejected as exc:
        click.echo(f"refused {file}: {len(exc.problems)} problem(s); the registry was not changed", err=True)
        for row, why in exc.problems:
            click.echo(f"  row {row}: {why}" if row is not None else f"  {why}", err=True)
        sys.exit(1)
    click.echo(result.summary())


# -- accounts, devices, usage, audit ---------------------------------------------------------
def _read_password() -> str:
    """Prompt twice on a terminal; read one line from standard input otherwise (scripts)."""
    if sys.stdin.isatty():
        return click.prompt("password (at least 10 characters)", hide_input=True, confirmation_prompt=True)
    return sys.stdin.readline().rstrip("\r\n")


def _emit(text: str, output: Path | None) -> None:
    """`text` to standard output, or atomically to the file `output`."""
    from .files.exports import write_text

    write_text(output or "-", text if text.endswith("\n") else text + "\n")


@cli.group("user")
def user_group() -> None:
    """Accounts that may edit stations: admins (whole city) and district editors."""


@user_group.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["admin", "editor"]), required=True)
@click.option("--district", default=None, help="The editor's district: name or adcode (e.g. 普宁市 or 445281).")
@click.option("--password", "with_password", is_flag=True,
              help="Set a password for the admin page (prompted; read from standard input when piped).")
@with_store
def user_add(name: str, role: str, district: str | None, with_password: bool, store: StationStore, data_dir: Path) -> None:
    """Create an account."""
    from .ops.accounts import open_accounts

    user = open_accounts(data_dir).add_user(name, role, district, _read_password() if with_password else None)
    click.echo(f"added {user.role} {user.name}" + (f" for district {user.district}" if user.district else ""))


@user_group.command("password")
@click.argument("name")
@with_store
def user_password(name: str, store: StationStore, data_dir: Path) -> None:
    """Set or change an account's password (prompted; read from standard input when piped)."""
    from .ops.accounts import open_accounts

    open_accounts(data_dir).set_password(name, _read_password())
    click.echo(f"password set for {name}")


@user_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@with_store
def user_list(as_json: bool, store: StationStore, data_dir: Path) -> None:
    """Accounts with their role, district and active tokens (never a secret)."""
    import json

    from .ops.accounts import open_accounts

    accounts = open_accounts(data_dir)
    rows = []
    for u in accounts.users():
        toks = [t for t in accounts.tokens(u.name) if t.state() == "active"]
        rows.append({"name": u.name, "role": u.role, "district": u.district, "created_utc": u.created_utc,
                     "disabled": u.disabled, "active_tokens": [t.id for t in toks]})
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for r in rows:
        click.echo(f"{r['name']}\t{r['role']}\t{r['district'] or '全市'}\t{'disabled' if r['disabled'] else 'active'}"
                   f"\ttokens: {', '.join(r['active_tokens']) or '-'}")


@user_group.command("token")
@click.argument("name")
@click.option("--label", default="", help="What the token is for (shown in lists).")
@click.option("--expires-days", type=click.IntRange(min=1), default=None, help="Expire after this many days.")
@with_store
def user_token(name: str, label: str, expires_days: int | None, store: StationStore, data_dir: Path) -> None:
    """Issue an API token; it is printed once, and only its hash is kept."""
    from datetime import timedelta

    from .ops.accounts import open_accounts

    ttl = timedelta(days=expires_days) if expires_days else None
    token, info = open_accounts(data_dir).issue_token(name, label, ttl)
    click.echo(token)
    click.echo(f"token {info.id} for {name}" + (f", expires {info.expires_utc}" if info.expires_utc else "")
               + ": copy it now, it is not shown again", err=True)


@user_group.command("tokens")
@click.argument("name", required=False)
@with_store
def user_tokens(name: str | None, store: StationStore, data_dir: Path) -> None:
    """List tokens (id, owner, state, dates), never the tokens themselves."""
    from .ops.accounts import open_accounts

    for t in open_accounts(data_dir).tokens(name):
        click.echo(f"{t.id}\t{t.user}\t{t.state()}\t{t.label}\tcreated {t.created_utc}\tlast used {t.last_used_utc or '-'}")


@user_group.command("revoke")
@click.argument("name")
@click.option("--token", "token_id", default=None, help="Revoke only this token id (default: all of NAME's tokens).")
@with_store
def user_revoke(name: str, token_id: str | None, store: StationStore, data_dir: Path) -> None:
    """Revoke one or all API tokens of an account."""
    from .ops.accounts import open_accounts

    n = open_accounts(data_dir).revoke(name, token_id)
    click.echo(f"revoked {n} token(s) of {name}")


@user_group.command("disable")
@click.argument("name")
@with_store
def user_disable(name: str, store: StationStore, data_dir: Path) -> None:
    """Disable an account and revoke all its tokens."""
    from .ops.accounts import open_accounts

    n = open_accounts(data_dir).disable_user(name)
    click.echo(f"disabled {name}; revoked {n} token(s)")


@cli.group("db")
def db_group() -> None:
    """The PostGIS registry's schema (setting database_url)."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Alembic revision to migrate to.")
def db_upgrade(revision: str) -> None:
    """Create or migrate the schema in STATIONMAP_DATABASE_URL (also done whenever the registry is opened)."""
    from .errors import RegistryUnavailable
    from .store.postgis import upgrade

    url = config.load_settings()["database_url"]
    if not url:
        raise InvalidInput("no database: set STATIONMAP_DATABASE_URL to postgresql://user:password@host/db")
    try:
        upgrade(url, revision)
    except Exception as exc:  # the driver's and Alembic's many errors: one line
        raise RegistryUnavailable(f"cannot migrate the registry database: {str(exc).strip().splitlines()[0]}") from None
    click.echo(f"registry schema at {revision}")


@cli.group("device")
def device_group() -> None:
    """Device keys of smart stations (they sign telemetry reports)."""


@device_group.command("token")
@click.argument("station_id")
@with_store
def device_token(station_id: str, store: StationStore, data_dir: Path) -> None:
    """Issue (or replace) a smart station's device key; printed once."""
    from .ops.accounts import open_accounts

    key = open_accounts(data_dir).issue_device_key(store.get(station_id))
    click.echo(key)
    click.echo(f"device key for {station_id}: put it on the device now, it is not shown again; "
               "an older key of this station no longer works", err=True)


@device_group.command("revoke")
@click.argument("station_id")
@with_store
def device_revoke(station_id: str, store: StationStore, data_dir: Path) -> None:
    from .ops.accounts import open_accounts

    ok = open_accounts(data_dir).revoke_device(station_id)
    click.echo(f"revoked the device key of {station_id}" if ok else f"{station_id} had no active device key")


@device_group.command("list")
@with_store
def device_list(store: StationStore, data_dir: Path) -> None:
    from .ops.accounts import open_accounts

    for d in open_accounts(data_dir).devices():
        click.echo(f"{d['station_id']}\t{'revoked' if d['revoked_utc'] else 'active'}\tissued {d['created_utc']}")


@cli.command("usage")
@option(params.USAGE_BY, "--by")
@click.option("--since", default=None, help="First day (Asia/Shanghai), e.g. 2025-06-01.")
@click.option("--until", default=None, help="Day after the last one (exclusive).")
@click.option("--district", default=None, help="Only this district (name or adcode).")
@click.option("--json", "as_json", is_flag=True)
@click.option("--demand", "demand_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the visits as a demand layer CSV (lat, lon, weight) for coverage and siting.")
@with_store
def usage_cmd(by: str, since: str | None, until: str | None, district: str | None, as_json: bool,
              demand_out: Path | None, store: StationStore, data_dir: Path) -> None:
    """Visits reported by smart stations, per station, district, day or week (Asia/Shanghai)."""
    import json

    from .ops.telemetry import open_telemetry
    from .ops.usage import demand_csv, demand_rows, visits

    telemetry = open_telemetry(data_dir)
    rows = visits(telemetry, store, by, since, until, district)
    if demand_out is not None:
        from .files.exports import write_text

        points = demand_rows(telemetry, store, since, until)
        write_text(demand_out, demand_csv(points))
        click.echo(f"wrote {len(points)} weighted points to {demand_out}", err=True)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for r in rows:
        label = {"station": lambda: f"{r['station']} {r['name']}", "district": lambda: f"{r['district']} {r['district_name']}",
                 "day": lambda: r["day"], "week": lambda: f"{r['week']} ({r['monday']})"}[by]()
        click.echo(f"{label}\t{r['visits']} visits\t{r['reports']} reports")
    click.echo(f"total\t{sum(r['visits'] for r in rows)} visits", err=True)


@cli.command("audit")
@click.option("--station", default=None, help="Only this station id.")
@click.option("--actor", default=None, help="Only changes by this user.")
@click.option("--since", default=None, help="Only changes from this UTC time on (e.g. 2025-06-01).")
@click.option("--limit", type=click.IntRange(min=1), default=None)
@click.option("--json", "as_json", is_flag=True, help="JSON (before and after as objects).")
@click.option("--csv", "as_csv", is_flag=True, help="CSV (before and after as JSON text).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="File (default: stdout).")
@with_store
def audit_cmd(station: str | None, actor: str | None, since: str | None, limit: int | None, as_json: bool,
              as_csv: bool, output: Path | None, store: StationStore, data_dir: Path) -> None:
    """The audit log of station changes, newest first: who, when, what before and after."""
    import json

    from .ops.audit import csv_text, open_audit, reconcile

    if as_json and as_csv:
        raise click.UsageError("--json or --csv, not both")
    reconcile(store)
    entries = open_audit(data_dir).entries(station, actor, since, limit)
    if as_json:
        _emit(json.dumps([e.to_json() for e in entries], ensure_ascii=False, indent=2), output)
    elif as_csv:
        _emit(csv_text(entries), output)
    else:
        _emit("\n".join(f"{e.at_local}\t{e.actor}\t{e.action}\t{e.op}\t{e.station_id}\t"
                        + (" ".join(e.changed) if e.op == "update" else
                           json.dumps(e.detail, ensure_ascii=False) if e.detail else "")
                        for e in entries), output)
    if output is not None and str(output) != "-":
        click.echo(f"wrote {len(entries)} audit entries to {output}", err=True)


@cli.command("unverified")
@click.option("--days", type=click.IntRange(min=1, max=36500), required=True,
              help="List stations not verified for this many days or more (never verified ones too).")
@click.option("--district", default=None, help="Only this district (name or adcode).")
@click.option("--json", "as_json", is_flag=True)
@click.option("--csv", "as_csv", is_flag=True, help="CSV (text kept inert for spreadsheets).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="File (default: stdout).")
@with_store
def unverified_cmd(days: int, district: str | None, as_json: bool, as_csv: bool, output: Path | None,
                   store: StationStore) -> None:
    """Stations no editor has verified for N days, never verified ones first, then the oldest."""
    import json

    from .files.sheets import records_csv
    from .ops.verified import COLUMNS, unverified, unverified_rows

    if as_json and as_csv:
        raise click.UsageError("--json or --csv, not both")
    rows = unverified_rows(unverified(store.all(), days, district=district))
    if as_json:
        _emit(json.dumps(rows, ensure_ascii=False, indent=2), output)
    elif as_csv:
        _emit(records_csv(COLUMNS, rows), output)
    else:
        _emit("\n".join(f"{r['id']}\t{r['name']}\t{r['district_name']}\t"
                        + (f"{r['last_verified']} ({r['days_since']} days)" if r["last_verified"] else "never verified")
                        for r in rows), output)
    click.echo(f"{len(rows)} station(s) not verified for {days} days or more", err=True)


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: every interface).")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@click.option("--basemap", type=click.Choice(["osm", "amap", "tianditu"]), default=None,
              help="Default basemap (else $STATIONMAP_BASEMAP or osm).")
@click.option("--get", "get_path", default=None, help="GET one path in-process, print the body, exit 1 unless 200.")
@with_store
def serve_cmd(host: str, port: int, basemap: str | None, get_path: str | None, store: StationStore, data_dir: Path) -> None:
    """Serve the map and the API (development server; production: gunicorn 'web:create_app()')."""
    from web import create_app

    app = create_app({"data_dir": str(data_dir), "basemap": basemap})
    if get_path:
        resp = app.test_client().get(get_path)
        click.echo(resp.get_data(as_text=True))
        sys.exit(int(resp.status_code != 200))
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    click.echo(f"揭阳工会驿站地图 Jieyang union station map: open http://{shown}:{port}/map   (Ctrl+C to stop)")
    click.echo(f"  planner http://{shown}:{port}/planner · API http://{shown}:{port}/api/openapi.json"
               f" · OGC API http://{shown}:{port}/ogcapi")
    click.echo(f"  registry: {store.describe()}")
    from werkzeug.serving import run_simple

    run_simple(host, port, app, threaded=True)


@cli.command("render")
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory to write the static site into (created if missing).")
@click.option("--basemap", type=click.Choice(["osm", "amap", "tianditu"]), default=None, help="Basemap of the pages.")
@click.option("--lang", type=click.Choice(["zh", "en"]), default=None, help="Initial language (switchable on the page).")
@with_store
def render_cmd(out_dir: Path, basemap: str | None, lang: str | None, store: StationStore, data_dir: Path) -> None:
    """Write a self-contained static map site (index.html + assets + GeoJSON) that needs no Python to host."""
    from .maps.render import render_site

    files = render_site(out_dir, {"data_dir": str(data_dir)}, basemap=basemap, lang=lang)
    click.echo(f"wrote {len(files)} files to {out_dir}; open {out_dir / 'index.html'} or copy the folder to any web server")


# -- query engine: nearest, coverage, gaps, suggest -----------------------------------------
def _reach_options(fn):
    """--reach-m | --minutes/--mode, --min-stations, --demand: the reach every planning command takes."""
    options = [
        option(params.REACH_M, "--reach-m"),
        option(params.MINUTES, "--minutes"),
        option(params.MODE, "--mode"),
        option(params.MIN_STATIONS, "--min-stations"),
        click.option("--demand", "demand_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="Own demand (CSV/XLSX/GeoJSON/GPKG with weights) instead of the modelled population."),
        option(replace(params.CRS, name="demand_crs", help="Datum of the demand file."), "--demand-crs"),
    ]
    for decorate in reversed(options):
        fn = decorate(fn)
    return fn


def _reach(reach_m: float | None, minutes: float | None, mode: str | None) -> tuple[float, str]:
    from .query import travel

    if reach_m is None and minutes is None:
        minutes = 15.0
    value = travel.resolve_reach(reach_m, minutes, mode)
    return value, travel.describe_reach(value, minutes, mode)


def _demand(demand_file: Path | None, demand_crs: str):
    from .query.demand import default_demand, load_demand

    return load_demand(demand_file, crs=demand_crs) if demand_file else default_demand()


def _pop_note(demand) -> str:
    return f"population: {demand.label}" + (" — 人口为模型估算" if demand.modelled else "")


@cli.command("nearest")
@option(params.LAT)
@option(params.LON)
@option(params.K, "-k")
@option(params.CRS, "--crs")
@option(params.AMENITY, "--amenity")
@option(params.KIND, "--kind")
@option(params.STATUS, "--status")
@click.option("--open-now", is_flag=True, help=params.OPEN_NOW.help)
@option(params.NAV_MODE, "--mode")
@click.option("--json", "as_json", is_flag=True, help="JSON (the same document as GET /api/nearest) instead of a table.")
@with_store
def nearest_cmd(lat: float, lon: float, k: int, crs: str, amenity: tuple[str, ...], kind: str | None,
                status: str | None, open_now: bool, mode: str, as_json: bool, store: StationStore,
                data_dir: Path) -> None:
    """The K stations nearest to LAT LON by geodesic distance, with bearing and travel minutes."""
    import json
    from datetime import datetime

    from .hours import TZ
    from .ops.telemetry import open_telemetry
    from .present import nearest_answer
    from .query.nearest import nearest

    now = datetime.now(TZ)
    hits = nearest(store.all(), lat, lon, k=k, crs=crs, kind=kind, amenities=amenity, open_now=open_now,
                   status=status, when=now)
    settings = config.load_settings({"data_dir": data_dir})
    live = open_telemetry(data_dir).live_status(settings["status_unknown_after_s"])
    answer = nearest_answer(hits, lat, lon, crs, now, mode=mode, live=live)
    if as_json:
        click.echo(json.dumps(answer, ensure_ascii=False, indent=2))
        return
    if not hits:
        click.echo("no station matches the filters")
        return
    if answer["far"]:
        click.echo(f"this point is {answer['origin']['to_jieyang_m'] / 1000:,.0f} km from Jieyang: no travel minutes")
        for i, d in enumerate(answer["results"], 1):
            click.echo(f"{i:>2}  {d['distance_m'] / 1000:>7,.0f} km  {d['direction']:>3}  {d['name']} [{d['id']}]")
        return
    click.echo(f"{'#':>2}  {'distance':>9}  {'dir':>3}  {'walk':>6}  {'ebike':>6}  {'car':>6}  station")
    for i, d in enumerate(answer["results"], 1):
        m = d["minutes"]
        click.echo(f"{i:>2}  {d['distance_m']:>7,.0f} m  {d['direction']:>3}  {m['walk']:>4.0f}′  {m['ebike']:>4.0f}′  "
                   f"{m['car']:>4.0f}′  {d['name']} [{d['id']}]" + ("  (open)" if d["open_now"] else ""))
    if answer["sample_data"]:
        click.echo("sample data (示例数据)")
    from .query.travel import DETOUR_FACTOR, MODES, SPEED_KMH

    click.echo(f"minutes are estimates: straight-line distance x {DETOUR_FACTOR:g} detour at "
               + " / ".join(f"{SPEED_KMH[m]:g}" for m in MODES) + " km/h (" + ", ".join(MODES) + ")")


@cli.command("search")
@option(params.SEARCH_TEXT)
@option(params.SEARCH_LIMIT, "--limit")
@option(params.SEARCH_CRS, "--crs")
@click.option("--json", "as_json", is_flag=True, help="JSON (the same document as GET /api/search) instead of a table.")
@with_store
def search_cmd(q: str, limit: int, crs: str, as_json: bool, store: StationStore) -> None:
    """Find stations, townships and streets (棉湖), districts, or a point pasted from Amap or Baidu."""
    import json

    from .query.search import answer

    found = answer(q, store.all(), limit, crs)
    if as_json:
        click.echo(json.dumps(found, ensure_ascii=False, indent=2))
        return
    if not found["results"]:
        click.echo("nothing found")
    for r in found["results"]:
        click.echo(f"{r['score']:.1f}  {r['type']:<11}  {r['lat']:>10.6f} {r['lon']:>11.6f}  {r['name']}"
                   + (f"  ({r['district_name']})" if r["district_name"] and r["district_name"] != r["name"] else ""))


def _coverage_table(result, show_townships: bool, label: str) -> None:
    d = result.to_dict()
    click.echo(f"coverage within {label}, {'>= 2 stations (cross coverage)' if result.min_stations == 2 else '>= 1 station'}; "
               f"{d['stations']} stations")
    click.echo(f"{'area':<18} {'land km²':>9} {'covered':>9} {'share':>6}  {'population':>10} {'covered':>10} {'share':>6}")

    def row(name: str, e: dict) -> None:
        click.echo(f"{name:<18} {e['area_km2']:>9,.1f} {e['covered_area_km2']:>9,.1f} {e['area_share']:>6.1%}  "
                   f"{e['population']:>10,.0f} {e['covered_population']:>10,.0f} {e['population_share']:>6.1%}")

    row("揭阳市 (city)", d["city"])
    for e in d["districts"].values():
        row(f"{e['name']} {e['code']}", e)
    if show_townships:
        for e in sorted(d["townships"].values(), key=lambda e: (e["district"], e["code"])):
            row(f"  {e['name']}", e)
    click.echo(_pop_note(result.demand))


@cli.command("coverage")
@_reach_options
@click.option("--townships", "show_townships", is_flag=True, help="List every township in the table too.")
@click.option("--add", "add", multiple=True, help="What-if: a new site 'LAT,LON' (repeat for several).")
@click.option("--remove", "remove", multiple=True, help="What-if: leave out this station id (repeat for several).")
@click.option("--geojson", "geojson_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the covered and uncovered land as GeoJSON to this file.")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
@with_store
def coverage_cmd(reach_m, minutes, mode, min_stations, demand_file, demand_crs, show_townships, add, remove,
                 geojson_out, as_json, store: StationStore) -> None:
    """Share of land and population within reach, for the city, districts and townships."""
    import json

    from .query.coverage import coverage

    reach, label = _reach(reach_m, minutes, mode)
    sites = [_lat_lon_pair(a) for a in add]
    result = coverage(store.all(), reach, min_stations, _demand(demand_file, demand_crs), add=sites, remove=remove)
    if geojson_out:
        from .files.exports import write_text

        write_text(geojson_out, json.dumps(result.to_geojson(), ensure_ascii=False))
    if as_json:
        click.echo(json.dumps({**result.to_dict(), "reach_label": label}, ensure_ascii=False, indent=2))
    else:
        _coverage_table(result, show_townships, label)


def _lat_lon_pair(text: str) -> tuple[str, str]:
    parts = [p.strip() for p in str(text).replace("，", ",").split(",")]
    if len(parts) != 2:
        raise click.BadParameter(f"{text!r}: write a site as LAT,LON, e.g. 23.55,116.37", param_hint="--add")
    return parts[0], parts[1]


@cli.command("gaps")
@_reach_options
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N gaps (table default: 20).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "geojson"]), default="table", show_default=True)
@click.option("--geometry", type=click.Choice(["area", "point"]), default="area", show_default=True,
              help="GeoJSON: each gap's uncovered area or its centre point.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="File (default: stdout).")
@with_store
def gaps_cmd(reach_m, minutes, mode, min_stations, demand_file, demand_crs, limit, fmt, geometry, output,
             store: StationStore) -> None:
    """Uncovered demand, most people first, with district and township."""
    import json

    from .files.exports import write_text
    from .present import gaps_csv, gaps_geojson
    from .query.coverage import gaps

    reach, label = _reach(reach_m, minutes, mode)
    demand = _demand(demand_file, demand_crs)
    found = gaps(store.all(), reach, min_stations, demand, limit=limit or (20 if fmt == "table" and output is None else None))
    if fmt == "csv":
        text = gaps_csv(found)
    elif fmt == "geojson":
        text = json.dumps(gaps_geojson(found, geometry), ensure_ascii=False)
    else:
        lines = [f"gaps: demand not within {label} of {'2 stations' if str(min_stations) == '2' else 'a station'}",
                 f"{'#':>3}  {'people':>9}  {'km²':>7}  {'lat':>9} {'lon':>10}  district / township"]
        for g in found:
            lines.append(f"{g.rank:>3}  {g.population:>9,.0f}  {g.area_km2:>7.1f}  {g.lat:>9.5f} {g.lon:>10.5f}  "
                         f"{g.district_name} / {g.township_name}")
        lines.append(_pop_note(demand))
        text = "\n".join(lines) + "\n"
    write_text(output or "-", text, bom=fmt == "csv")
    if output is not None and str(output) != "-":
        click.echo(f"wrote {len(found)} gaps to {output}", err=True)


@cli.command("suggest")
@option(params.SITES)
@_reach_options
@click.option("--candidates", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Own candidate sites (CSV/XLSX with lat/lon, or GeoJSON points); default: a grid on land.")
@option(replace(params.CRS, name="candidates_crs", help="Datum of the candidate file."), "--candidates-crs")
@click.option("--time-limit", type=click.FloatRange(1, 600), default=8.0, show_default=True, help="Seconds for the solver.")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
@with_store
def suggest_cmd(n, reach_m, minutes, mode, min_stations, demand_file, demand_crs, candidates, candidates_crs,
                time_limit, as_json, store: StationStore) -> None:
    """N new sites that bring the most people within reach (maximal covering location problem)."""
    import json

    from .query.siting import load_candidates, suggest

    reach, label = _reach(reach_m, minutes, mode)
    demand = _demand(demand_file, demand_crs)
    cands = load_candidates(candidates, candidates_crs) if candidates else None
    result = suggest(store.all(), n, reach, min_stations, candidates=cands, demand=demand, time_limit_s=time_limit)
    if as_json:
        click.echo(json.dumps({**result.to_dict(), "reach_label": label}, ensure_ascii=False, indent=2))
        return
    click.echo(f"{len(result.sites)} new sites within {label}"
               + (", cross coverage (2 stations)" if result.min_stations == 2 else ""))
    click.echo(f"{'#':>3}  {'gain':>9}  {'lat':>9} {'lon':>10}  district / township")
    for i, s in enumerate(result.sites, 1):
        click.echo(f"{i:>3}  {s.gain:>9,.0f}  {s.lat:>9.5f} {s.lon:>10.5f}  {s.district_name} / {s.township_name}"
                   + (f"  {s.name}" if s.name else ""))
    click.echo(f"total newly covered: {result.total_gain:,.0f} (covered {result.covered_before:,.0f} -> {result.covered_after:,.0f})")
    click.echo(f"method: {result.method}; optimality gap {result.optimality_gap:.2%} (bound {result.upper_bound:,.0f})")
    click.echo(_pop_note(demand))


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:  # bad usage caught by click: the same one line as the library's errors
        if isinstance(exc, getattr(click.exceptions, "NoArgsIsHelpError", ())):  # a bare `stationmap`: its help
            click.echo(exc.format_message(), err=True)
            sys.exit(2)
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        click.echo(f"error: {exc.format_message()}{hint}", err=True)
        sys.exit(2)
    except StationmapError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except OSError as exc:  # a file that cannot be read or written: say which, and why
        where = f"{exc.filename}: " if exc.filename else ""
        click.echo(f"error: {where}{exc.strerror or exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
