"""The `stationmap` command: a thin adapter from arguments to the library.

Every command takes --data-dir (or STATIONMAP_DATA_DIR). A StationmapError becomes a one-line
message on stderr and exit code 2; no traceback reaches the user.
"""
from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

from . import config
from .errors import ImportRejected, StationmapError
from .store import StationStore, open_store


def with_store(fn):
    """Add --data-dir and pass the opened registry as `store`."""

    @click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                  help="Registry directory (default: $STATIONMAP_DATA_DIR or ./stationmap-data).")
    @functools.wraps(fn)
    def wrapper(*args, data_dir: Path | None = None, **kwargs):
        return fn(*args, store=open_store(config.data_dir({"data_dir": data_dir})), **kwargs)

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
    from .io import export_layer

    n = export_layer(store, layer, fmt, output)
    if str(output) != "-":
        click.echo(f"wrote {n} {layer} to {output}", err=True)


@cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--crs", type=click.Choice(["wgs84", "gcj02", "bd09"]), default="wgs84", show_default=True,
              help="Datum of the file's coordinates: gcj02 for points picked in Amap/Tencent, bd09 for Baidu.")
@click.option("--merge", is_flag=True, help="Add to and update the registry instead of replacing it with the file.")
@click.option("--dry-run", is_flag=True, help="Validate and show what would change; write nothing.")
@click.option("--sheet", default=None, help="XLSX sheet name (default: the first sheet).")
@with_store
def import_cmd(file: Path, crs: str, merge: bool, dry_run: bool, sheet: str | None, store: StationStore) -> None:
    """Import the union's station list (CSV, XLSX or GeoJSON). Any bad row: nothing is written."""
    from .io import import_file

    try:
        result = import_file(store, file, crs=crs, merge=merge, dry_run=dry_run, sheet=sheet)
    except ImportRejected as exc:
        click.echo(f"refused {file}: {len(exc.problems)} problem(s); the registry was not changed", err=True)
        for row, why in exc.problems:
            click.echo(f"  row {row}: {why}" if row is not None else f"  {why}", err=True)
        sys.exit(1)
    click.echo(result.summary())


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2)
    except StationmapError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
