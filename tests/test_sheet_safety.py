"""Spreadsheet formula injection: station text that starts like a formula never runs in a CSV or XLSX.

Hostile names, addresses, hosts, phones, usage rows, audit actors and gap rows come out of every
spreadsheet-bound writer (CLI and web) with a leading quote and as string cells; GeoJSON and
GeoPackage keep the exact text; an exported CSV or XLSX imports back without changing the registry.
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import zipfile

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from stationmap.cli import cli
from stationmap.files.sheets import TRIGGERS, plain_cell, safe_cell, safe_csv_text
from stationmap.model import make_station
from stationmap.ops.accounts import open_accounts
from stationmap.ops.telemetry import build_report, open_telemetry
from stationmap.ops.usage import demand_csv
from stationmap.present import gaps_csv
from stationmap.query.coverage import Gap
from stationmap.store import open_store

HOSTILE = ['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]
STORABLE = HOSTILE[:4]  # make_station strips surrounding whitespace: tab/CR-led text only arrives by other paths
APOSTROPHES = ["'abc 驿站", "'=quoted already"]  # a genuine leading quote must survive the round trip
ACTOR = "@evil"


def _stations(names):
    out = []
    for i, name in enumerate(names):
        s = make_station({"name": name, "lat": 23.50 + i * 0.002, "lon": 116.30, "hours": "24小时",
                          "address": f"=cmd|' /C calc'!A{i}", "host": "-2+3 单位", "phone": "+86 663 8221234",
                          "honours": "=1+1", "kind": "smart" if i == 0 else "outdoor"})
        out.append(s)
    return out


@pytest.fixture
def hostile_dir(registry_dir):
    """The sample registry plus stations with formula-like text that import validation accepts."""
    store = open_store(registry_dir)
    added = _stations(STORABLE + APOSTROPHES)
    store.update(lambda old: old + added, note={"actor": ACTOR, "action": "edit"})
    return registry_dir


@pytest.fixture
def raw_dir(hostile_dir):
    """`hostile_dir` plus names led by a tab or a carriage return, written past validation."""
    store = open_store(hostile_dir)
    base = _stations(["制表符驿站", "回车驿站"])
    raw = [dataclasses.replace(s, name=name, address=name) for s, name in zip(base, HOSTILE[4:])]
    store.update(lambda old: old + raw, note={"actor": ACTOR, "action": "edit"})
    return hostile_dir


def invoke(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def digest(data_dir):
    return hashlib.sha256((data_dir / "stations.gpkg").read_bytes()).hexdigest()


def csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def assert_inert(rows):
    """No cell of a CSV starts with a character that makes a spreadsheet run it."""
    live = [c for r in rows for c in r if c[:1] in TRIGGERS]
    assert not live, live


# -- the rule ------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", HOSTILE)
def test_formula_like_text_gets_one_leading_quote_and_comes_back(text):
    assert safe_cell(text) == "'" + text
    assert plain_cell(safe_cell(text)) == text


@pytest.mark.parametrize("value", [-3.5, -1, 0, 2.25, True, None, "", "揭阳驿站", "'abc", "a=b"])
def test_numbers_and_ordinary_text_are_left_alone(value):
    assert safe_cell(value) is value
    assert plain_cell(value) is value


@pytest.mark.parametrize("text", ["'=1", "''+2", "'abc", "''", "'"])
def test_leading_quotes_round_trip_exactly(text):
    assert plain_cell(safe_cell(text)) == text


def test_safe_csv_text_keeps_inert_text_and_quotes_live_cells():
    inert = "\ufeffname,lat\r\n'=1,-3.5\r\nplain,23.5\r\n"
    assert safe_csv_text(inert) is inert
    fixed = safe_csv_text('\ufeffname,lat\r\n"=HYPERLINK(""http://x"",""y"")",-3.5\r\n@SUM(A1),1\r\n')
    assert fixed.startswith("\ufeff") and fixed.endswith("\r\n")
    assert csv_rows(fixed.encode("utf-8")) == [["name", "lat"], ["'=HYPERLINK(\"http://x\",\"y\")", "-3.5"],
                                               ["'@SUM(A1)", "1"]]


# -- CLI exports -----------------------------------------------------------------------------------
def test_cli_csv_export_quotes_every_formula_like_cell(raw_dir, tmp_path):
    out = tmp_path / "stations.csv"
    invoke("export", "--format", "csv", "-o", out, "--data-dir", raw_dir)
    rows = csv_rows(out.read_bytes())
    assert_inert(rows)
    header, body = rows[0], rows[1:]
    by_name = {plain_cell(r[header.index("驿站名称")]): dict(zip(header, r)) for r in body}
    for name in HOSTILE:
        row = by_name[name]
        assert row["驿站名称"] == "'" + name
        assert row["详细地址"].startswith("'")
        assert float(row["经度"]) == 116.30  # numbers stay numbers
    assert by_name["'abc 驿站"]["驿站名称"] == "'abc 驿站"
    assert by_name["'=quoted already"]["驿站名称"] == "''=quoted already"
    row = by_name["+1+1"]
    assert (row["依托单位"], row["联系电话"], row["荣誉"]) == ("'-2+3 单位", "'+86 663 8221234", "'=1+1")


def test_cli_xlsx_export_has_string_cells_and_no_formula(raw_dir, tmp_path):
    out = tmp_path / "stations.xlsx"
    invoke("export", "--format", "xlsx", "-o", out, "--data-dir", raw_dir)
    with zipfile.ZipFile(out) as z:
        sheets = [n for n in z.namelist() if n.startswith("xl/worksheets/")]
        assert sheets and not any(b"<f>" in z.read(n) or b"<f " in z.read(n) for n in sheets)
    ws = load_workbook(out).worksheets[0]
    cells = [c for row in ws.iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    assert all(c.data_type == "s" for c in cells if isinstance(c.value, str))
    header = [c.value for c in next(ws.iter_rows(max_row=1))]
    names = {r[header.index("驿站名称")].value: r for r in ws.iter_rows(min_row=2)}
    for name in HOSTILE[:5]:
        assert "'" + name in names
    assert any(n.startswith("'") and n[1:] in ("\r=1", "\n=1") for n in names)  # XML reads CR back as LF
    row = names["'+1+1"]
    lon = row[header.index("经度")]
    assert lon.data_type == "n" and lon.value == 116.30
    assert row[header.index("详细地址")].value.startswith("'=cmd")


def test_geojson_and_geopackage_keep_the_exact_text(raw_dir, tmp_path):
    import pyogrio

    invoke("export", "--format", "geojson", "-o", tmp_path / "s.geojson", "--data-dir", raw_dir)
    feats = json.loads((tmp_path / "s.geojson").read_text(encoding="utf-8"))["features"]
    names = {f["properties"]["name"] for f in feats}
    assert set(HOSTILE + APOSTROPHES) <= names
    invoke("export", "--format", "gpkg", "-o", tmp_path / "s.gpkg", "--data-dir", raw_dir)
    frame = pyogrio.read_dataframe(tmp_path / "s.gpkg")
    assert set(HOSTILE + APOSTROPHES) <= set(frame["name"])
    assert "=cmd|' /C calc'!A0" in set(frame["address"])


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_exported_spreadsheet_imports_back_unchanged(hostile_dir, tmp_path, fmt):
    out = tmp_path / f"all.{fmt}"
    invoke("export", "--format", fmt, "-o", out, "--data-dir", hostile_dir)
    before = digest(hostile_dir)
    result = invoke("import", out, "--data-dir", hostile_dir)
    assert "no change" in result.output
    assert digest(hostile_dir) == before
    names = {s.name for s in open_store(hostile_dir).all()}
    assert set(STORABLE + APOSTROPHES) <= names


def test_a_carriage_return_inside_a_name_cannot_start_a_row(registry_dir, tmp_path):
    """A bare CR ends a row in Excel; unquoted, the text after it would be a new row's live first cell."""
    name = "揭阳驿站\r=HYPERLINK(\"http://x\",\"y\")"
    store = open_store(registry_dir)
    store.update(lambda old: old + _stations([name]))
    out = tmp_path / "cr.csv"
    invoke("export", "--format", "csv", "-o", out, "--data-dir", registry_dir)
    data = out.read_bytes()
    assert ('"' + name.replace('"', '""') + '"').encode() in data  # quoted, so the CR stays inside its cell
    rows = csv_rows(data)
    assert_inert(rows)
    assert name in [r[1] for r in rows] and len(rows) == 1 + len(store.all())
    before = digest(registry_dir)
    assert "no change" in invoke("import", out, "--data-dir", registry_dir).output
    assert digest(registry_dir) == before


def test_cli_gaps_audit_and_demand_csv_are_inert(hostile_dir, tmp_path):
    smart = next(s for s in open_store(hostile_dir).all() if s.name == STORABLE[0])
    _report_visits(hostile_dir, smart, 5)
    invoke("usage", "--demand", tmp_path / "d.csv", "--data-dir", hostile_dir)
    demand = csv_rows((tmp_path / "d.csv").read_bytes())
    assert_inert(demand)
    assert demand[1][1] == "'" + STORABLE[0] and demand[1][4] == "5"
    invoke("audit", "--csv", "-o", tmp_path / "a.csv", "--data-dir", hostile_dir)
    audit = csv_rows((tmp_path / "a.csv").read_bytes())
    assert_inert(audit)
    assert "'" + ACTOR in [r[audit[0].index("actor")] for r in audit[1:]]
    invoke("gaps", "--minutes", "15", "--mode", "ebike", "--limit", "3", "--format", "csv",
           "-o", tmp_path / "g.csv", "--data-dir", hostile_dir)
    assert_inert(csv_rows((tmp_path / "g.csv").read_bytes()))


def test_library_csv_writers_quote_text_and_keep_numbers():
    gap = Gap(1, 23.5, 116.3, "445202", "-榕城区", "445202001", '=HYPERLINK("http://x","y")', 12.5, -0.5, True)
    rows = csv_rows(gaps_csv([gap]).encode())
    assert rows[1][rows[0].index("township_name")] == "'=HYPERLINK(\"http://x\",\"y\")"
    assert rows[1][rows[0].index("district_name")] == "'-榕城区"
    assert rows[1][rows[0].index("area_km2")] == "-0.5"
    rows = csv_rows(demand_csv([{"station": "-x", "name": "@SUM(A1)", "lat": -1.5, "lon": 116.3, "weight": 3}]).encode())
    assert rows[1] == ["'-x", "'@SUM(A1)", "-1.5", "116.3", "3"]


# -- web downloads -----------------------------------------------------------------------------------
def _report_visits(data_dir, station, visits):
    accounts = open_accounts(data_dir)
    key = accounts.issue_device_key(station)
    body, sig = build_report(key, station.id, visits=visits)
    open_telemetry(data_dir).receive(open_store(data_dir), accounts, station.id, body, sig, 300)


@pytest.fixture
def client(hostile_dir):
    from web import create_app

    app = create_app({"data_dir": str(hostile_dir), "rate_limit_public": "100000/minute"})
    return app.test_client()


def test_web_usage_and_demand_downloads_are_inert(client, hostile_dir):
    smart = next(s for s in open_store(hostile_dir).all() if s.name == STORABLE[0])
    _report_visits(hostile_dir, smart, 7)
    for path in ("/api/usage?format=csv&by=station", "/api/usage/demand?format=csv"):
        resp = client.get(path)
        assert resp.status_code == 200 and resp.mimetype == "text/csv"
        rows = csv_rows(resp.data)
        assert_inert(rows)
        assert "'" + STORABLE[0] in [r[rows[0].index("name")] for r in rows[1:]], path


def test_web_audit_download_is_inert(client, hostile_dir):
    accounts = open_accounts(hostile_dir)
    accounts.add_user("auditor", "admin")
    token = accounts.issue_token("auditor")[0]
    resp = client.get("/api/audit?format=csv", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.data
    rows = csv_rows(resp.data)
    assert_inert(rows)
    assert "'" + ACTOR in [r[rows[0].index("actor")] for r in rows[1:]]


def test_web_gaps_download_is_inert(client):
    from webserver import answered

    resp = answered(lambda: client.get("/api/gaps?minutes=15&mode=ebike&limit=3&format=csv"))
    assert resp.status_code == 200
    assert_inert(csv_rows(resp.data))


def test_web_csv_helpers_quote_rows_and_finished_text():
    from stationmap.api.core import csv_answer, csv_text_answer

    answer = csv_answer([{"name": n, "lat": -3.5, "tags": ["=x"]} for n in HOSTILE], "x.csv")
    rows = csv_rows(answer.body)
    assert [r[0] for r in rows[1:]] == ["'" + n for n in HOSTILE]
    assert {r[1] for r in rows[1:]} == {"-3.5"} and {r[2] for r in rows[1:]} == {'["=x"]'}
    answer = csv_text_answer("name,n\n@SUM(A1),-2\n'=kept,1\n", "y.csv")
    assert answer.body.decode("utf-8") == "\ufeffname,n\r\n'@SUM(A1),-2\r\n'=kept,1\r\n"
    inert = "\ufeffname,n\r\n'@SUM(A1),-2\r\n"
    assert csv_text_answer(inert, "z.csv").body.decode("utf-8") == inert
