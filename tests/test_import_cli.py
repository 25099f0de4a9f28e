"""Importing realistic union spreadsheets through the real `stationmap` command, good and broken."""
import csv
import hashlib
import json

import coordTransform
import pytest
from geographiclib.geodesic import Geodesic
from openpyxl import Workbook

from cli_runner import stationmap

# True WGS-84 positions of a small union list (near real township seats, as a union's would be).
TRUTH = [
    ("榕华街道环卫工人驿站", "榕城区", "揭阳市榕城区榕华街道临江北路88号", 23.54672, 116.37051, "24小时", "厕所、饮水、充电、微波炉"),
    ("渔湖邮政工会驿站", "榕城区", "揭阳市榕城区渔湖街道渔江路12号", 23.52361, 116.35122, "周一至周五 08:00-17:30 / 周末休息", "卫生间，饮用水,手机充电"),
    ("曲溪加油站爱心驿站", "揭东区", "揭阳市揭东区曲溪街道206国道旁", 23.57201, 116.43309, "08:00-18:00", "厕所;热饭;药箱"),
    ("棉湖镇工会驿站", "揭西县", "揭阳市揭西县棉湖镇新华路1号", 23.44150, 116.13911, "7:00-21:00", "饮水、休息、充电"),
    ("惠城镇银行网点驿站", "惠来县", "揭阳市惠来县惠城镇东门路", 23.03911, 116.29102, "周一至周六 8:30-17:00，周日休息", "空调、饮用水、厕所、应急药品"),
    ("流沙南街道智能化工会驿站", "普宁市", "揭阳市普宁市流沙南街道广达北路", 23.30452, 116.16811, "24小时", "微波炉、冰箱、AED、厕所、饮水、充电"),
]
HEADER = ["序号", "驿站名称", "所属县区", "详细地址", "经度", "纬度", "开放时间", "联系电话", "服务设施"]


def run(*args, data_dir, env=None):
    """`stationmap ARGS --data-dir DATA_DIR` in this process (see cli_runner.py)."""
    return stationmap(*args, "--data-dir", data_dir, env=env)


def digest(data_dir):
    return hashlib.sha256((data_dir / "stations.gpkg").read_bytes()).hexdigest()


def exported(data_dir, tmp_path):
    out = tmp_path / "out.geojson"
    assert run("export", "--format", "geojson", "-o", out, data_dir=data_dir).exit_code == 0
    return {f["properties"]["name"]: f for f in json.loads(out.read_text(encoding="utf-8"))["features"]}


def write_xlsx(path, rows, title=True):
    wb = Workbook()
    ws = wb.active
    ws.title = "驿站名单"
    if title:
        ws.append(["揭阳市户外劳动者服务站点（工会驿站）名单"])  # title row above the header, as unions do
    ws.append(HEADER)
    for r in rows:
        ws.append(r)
    wb.save(path)


def gcj_rows():
    rows = []
    for i, (name, district, addr, lat, lon, hours, amen) in enumerate(TRUTH, start=1):
        glon, glat = coordTransform.wgs84_to_gcj02(lon, lat)  # independent forward implementation
        rows.append([i, name, district, addr, round(glon, 7), round(glat, 7), hours, "0663-8221234", amen])
    return rows


@pytest.fixture
def data_dir(tmp_path):
    d = tmp_path / "registry"
    assert run("export", "-o", tmp_path / "init.geojson", data_dir=d).exit_code == 0  # starts with the sample
    return d


def test_gcj02_spreadsheet_imports_to_within_half_a_metre(tmp_path, data_dir):
    xlsx = tmp_path / "union_gcj02.xlsx"
    write_xlsx(xlsx, gcj_rows())
    result = run("import", xlsx, "--crs", "gcj02", data_dir=data_dir)
    assert result.exit_code == 0, result.stderr
    assert "add 6" in result.stdout and "remove 135" in result.stdout  # the union's list replaces the sample
    got = exported(data_dir, tmp_path)
    assert len(got) == len(TRUTH)
    for name, district, _, lat, lon, *_ in TRUTH:
        glon, glat = got[name]["geometry"]["coordinates"]
        assert Geodesic.WGS84.Inverse(lat, lon, glat, glon)["s12"] < 0.5, name
        assert got[name]["properties"]["district_name"] == district
        assert got[name]["properties"]["demo"] is False
    assert got["渔湖邮政工会驿站"]["properties"]["hours"] == "Mo-Fr 08:00-17:30; Sa,Su off"
    assert set(got["曲溪加油站爱心驿站"]["properties"]["amenities"]) == {"toilet", "microwave", "first_aid"}


def test_without_crs_the_same_file_lands_550_m_off(tmp_path, data_dir):
    """The datum matters: the GCJ-02 file read as WGS-84 puts every station half a kilometre away."""
    xlsx = tmp_path / "union_gcj02.xlsx"
    write_xlsx(xlsx, gcj_rows())
    assert run("import", xlsx, data_dir=data_dir).exit_code == 0
    got = exported(data_dir, tmp_path)
    name, _, _, lat, lon, *_ = TRUTH[0]
    glon, glat = got[name]["geometry"]["coordinates"]
    assert 500 < Geodesic.WGS84.Inverse(lat, lon, glat, glon)["s12"] < 620


def test_reimporting_the_same_file_changes_nothing(tmp_path, data_dir):
    xlsx = tmp_path / "union.xlsx"
    write_xlsx(xlsx, gcj_rows())
    assert run("import", xlsx, "--crs", "gcj02", data_dir=data_dir).exit_code == 0
    before = digest(data_dir)
    result = run("import", xlsx, "--crs", "gcj02", data_dir=data_dir)
    assert result.exit_code == 0 and "no change" in result.stdout
    assert digest(data_dir) == before


def test_bd09_gbk_csv_with_english_headers(tmp_path, data_dir):
    path = tmp_path / "baidu.csv"
    with open(path, "w", encoding="gb18030", newline="") as fh:  # Excel's default CSV in China
        w = csv.writer(fh)
        w.writerow(["No", "Name", "District", "Address", "Longitude", "Latitude", "Opening hours", "Phone", "Amenities"])
        for i, (name, district, addr, lat, lon, hours, amen) in enumerate(TRUTH, start=1):
            blon, blat = coordTransform.wgs84_to_bd09(lon, lat)
            w.writerow([i, name, district, addr, blon, blat, hours, "12351", amen])
    result = run("import", path, "--crs", "bd09", data_dir=data_dir)
    assert result.exit_code == 0, result.stderr
    got = exported(data_dir, tmp_path)
    for name, _, _, lat, lon, *_ in TRUTH:
        glon, glat = got[name]["geometry"]["coordinates"]
        assert Geodesic.WGS84.Inverse(lat, lon, glat, glon)["s12"] < 0.5, name


def test_geojson_import_and_merge_keeps_the_registry(tmp_path, data_dir):
    path = tmp_path / "new.geojson"
    name, district, addr, lat, lon, hours, amen = TRUTH[3]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
         "properties": {"驿站名称": name, "详细地址": addr, "开放时间": hours, "服务设施": amen}}]},
        ensure_ascii=False), encoding="utf-8")
    result = run("import", path, "--merge", data_dir=data_dir)
    assert result.exit_code == 0, result.stderr
    assert "add 1, update 0, remove 0, keep 135" in result.stdout
    assert len(exported(data_dir, tmp_path)) == 136


def test_rows_without_coordinates_are_geocoded_offline_and_marked(tmp_path, data_dir):
    rows = [[1, "流沙东临时驿站", "普宁市", "普宁市流沙东街道某路", "", "", "24小时", "", "饮水"]]
    xlsx = tmp_path / "noxy.xlsx"
    write_xlsx(xlsx, rows)
    result = run("import", xlsx, "--merge", data_dir=data_dir)
    assert result.exit_code == 0, result.stderr
    assert "approximate location" in result.stdout
    f = exported(data_dir, tmp_path)["流沙东临时驿站"]
    seat = {t["properties"]["name"]: t["geometry"]["coordinates"]
            for t in json.loads(open("geodata/townships.geojson", encoding="utf-8").read())["features"]}["流沙东街道"]
    assert f["geometry"]["coordinates"] == pytest.approx(seat, abs=1e-6)
    assert f["properties"]["township_name"] == "流沙东街道"
    assert "geocoded offline" in f["properties"]["location_source"]


def test_broken_spreadsheet_is_refused_row_by_row_and_nothing_changes(tmp_path, data_dir):
    good = gcj_rows()
    rows = [
        good[0],
        [2, "", "榕城区", "无名", 116.37, 23.55, "24小时", "", "厕所"],                     # row 4: no name
        [3, "上海驿站", "", "上海", 121.47, 31.23, "24小时", "", "厕所"],                    # row 5: outside
        [4, "颠倒驿站", "", "", 23.5501, 116.3728, "24小时", "", "厕所"],                    # row 6: swapped
        [5, good[0][1], "榕城区", "", good[0][4] + 0.0001, good[0][5], "24小时", "", ""],   # row 7: duplicate ~10 m
        [6, "按摩驿站", "", "", 116.36, 23.54, "24小时", "", "厕所、按摩椅"],                 # row 8: unknown amenity
        [7, "随缘驿站", "", "", 116.36, 23.53, "看心情", "", "厕所"],                        # row 9: unreadable hours
        [8, "错区驿站", "普宁市", "", 116.36, 23.52, "24小时", "", "厕所"],                   # row 10: district mismatch
    ]
    xlsx = tmp_path / "broken.xlsx"
    write_xlsx(xlsx, rows)
    before = digest(data_dir)
    for extra in ([], ["--dry-run"], ["--merge"]):
        result = run("import", xlsx, "--crs", "gcj02", *extra, data_dir=data_dir)
        assert result.exit_code == 1
        err = result.stderr
        assert "Traceback" not in err
        for row, reason in [(4, "no name"), (5, "outside Jieyang"), (6, "swapped"), (7, "same name as row 3, only 10 m away"),
                            (8, "unknown amenity '按摩椅'"), (9, "unreadable opening hours"), (10, "所属县区 says 普宁市")]:
            assert f"row {row}: " in err and reason in err.split(f"row {row}: ")[1].split("\n")[0], (row, err)
        assert "row 3:" not in err
        assert digest(data_dir) == before


def test_dry_run_reports_and_writes_nothing(tmp_path, data_dir):
    xlsx = tmp_path / "union.xlsx"
    write_xlsx(xlsx, gcj_rows())
    before = digest(data_dir)
    result = run("import", xlsx, "--crs", "gcj02", "--dry-run", data_dir=data_dir)
    assert result.exit_code == 0 and "dry run, nothing written: would add 6" in result.stdout
    assert digest(data_dir) == before


@pytest.mark.parametrize("content,suffix,message", [
    (b"not a workbook", ".xlsx", "not a readable .xlsx"),
    (b"{\"type\": \"Feature\"}", ".geojson", "not a GeoJSON FeatureCollection"),
    ("名称,备注\n甲,乙\n".encode(), ".csv", "no header row found"),
    (b"a,b", ".txt", "use a .csv, .xlsx or .geojson"),
])
def test_unreadable_files_get_a_clear_message(tmp_path, data_dir, content, suffix, message):
    path = tmp_path / f"bad{suffix}"
    path.write_bytes(content)
    before = digest(data_dir)
    result = run("import", path, data_dir=data_dir)
    assert result.exit_code == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ") and "\n" not in result.stderr.strip() and result.stdout == ""
    assert digest(data_dir) == before


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "geojson", "gpkg"])
def test_export_then_import_round_trips(tmp_path, data_dir, fmt):
    out = tmp_path / f"all.{fmt}"
    assert run("export", "--format", fmt, "-o", out, data_dir=data_dir).exit_code == 0
    if fmt == "gpkg":
        import pyogrio
        assert len(pyogrio.read_dataframe(out)) == 135
        return
    before = digest(data_dir)
    result = run("import", out, data_dir=data_dir)
    assert result.exit_code == 0 and "no change" in result.stdout, result.stdout + result.stderr
    assert digest(data_dir) == before


def test_export_layers(tmp_path, data_dir):
    wanted = {"townships": (87, {"code", "name", "district", "seat_source"}),
              "districts": (5, {"adcode", "name", "population_2020", "area_km2"})}
    for layer, (n, keys) in wanted.items():
        out = tmp_path / f"{layer}.geojson"
        assert run("export", "--layer", layer, "--format", "geojson", "-o", out, data_dir=data_dir).exit_code == 0
        feats = json.loads(out.read_text(encoding="utf-8"))["features"]
        assert len(feats) == n
        assert all(keys <= set(f["properties"]) for f in feats), layer


def test_exported_sample_lies_inside_what_each_station_claims(tmp_path, data_dir):
    from shapely.geometry import Point, shape
    geo = {n: json.loads(open(f"geodata/{n}.geojson", encoding="utf-8").read())["features"]
           for n in ("city", "districts", "township_areas")}
    city = shape(geo["city"][0]["geometry"])
    districts = {f["properties"]["adcode"]: shape(f["geometry"]) for f in geo["districts"]}
    cells = {f["properties"]["code"]: shape(f["geometry"]) for f in geo["township_areas"]}
    feats = list(exported(data_dir, tmp_path).values())
    assert len(feats) == 135
    assert sum(f["properties"]["kind"] == "smart" for f in feats) == 16
    for f in feats:
        p = Point(f["geometry"]["coordinates"])
        assert city.contains(p)
        assert districts[f["properties"]["district"]].contains(p)
        assert cells[f["properties"]["township"]].covers(p)
        assert f["properties"]["township"].startswith(f["properties"]["district"])


def test_exported_townships_have_seats_in_their_districts_and_sources(tmp_path, data_dir):
    from shapely.geometry import shape
    out = tmp_path / "t.geojson"
    assert run("export", "--layer", "townships", "--format", "geojson", "-o", out, data_dir=data_dir).exit_code == 0
    feats = json.loads(out.read_text(encoding="utf-8"))["features"]
    districts = {f["properties"]["adcode"]: shape(f["geometry"])
                 for f in json.loads(open("geodata/districts.geojson", encoding="utf-8").read())["features"]}
    assert len(feats) == 87
    for f in feats:
        assert districts[f["properties"]["district"]].contains(shape(f["geometry"]))
        assert f["properties"]["seat_source"] and len(f["properties"]["code"]) == 9 and f["properties"]["name"]


# -- bad input anywhere on the command line: one actionable line, exit 2 (1 for a refused import) -----
def test_malformed_geojson_features_are_refused_row_by_row(registry_dir, tmp_path):
    path = tmp_path / "odd.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        7,
        {"type": "Feature", "geometry": "here", "properties": {"name": "甲"}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": "116,23"}, "properties": {"name": "乙"}},
        {"type": "Feature", "geometry": None, "properties": ["name", "丙"]},
    ]}), encoding="utf-8")
    before = digest(registry_dir)
    result = run("import", path, data_dir=registry_dir)
    err = result.stderr
    assert result.exit_code == 1 and "Traceback" not in err and "the registry was not changed" in err
    for row in (1, 2, 3, 4):
        assert f"row {row}: " in err
    assert digest(registry_dir) == before


@pytest.mark.parametrize("make_args, words", [
    (lambda d, t: ["export", "--format", "csv", "-o", t / "no" / "x.csv"], ["no directory"]),
    (lambda d, t: ["export", "--format", "gpkg", "-o", t / "no" / "x.gpkg"], ["no directory"]),
    (lambda d, t: ["export", "--format", "gpkg", "-o", "-"], ["binary", "-o"]),
    (lambda d, t: ["gaps", "--reach-m", "5000", "--format", "csv", "-o", t / "no" / "g.csv"], ["no directory"]),
    (lambda d, t: ["audit", "--since", "last tuesday"], ["since", "2025-06-01"]),
    (lambda d, t: ["audit", "--csv", "-o", t / "no" / "a.csv"], ["no directory"]),
    (lambda d, t: ["usage", "--demand", t / "no" / "d.csv"], ["no directory"]),
    (lambda d, t: ["import", _file(t, "ok.csv", "驿站名称,经度,纬度\n甲,116.37,23.55\n"), "--sheet", "表1"], ["--sheet"]),
    (lambda d, t: ["coverage", "--demand", _file(t, "d.xlsx", "not a workbook")], ["d.xlsx", "not a readable .xlsx"]),
    (lambda d, t: ["coverage", "--demand", _file(t, "d.csv", "lat,lon,weight\n23.55,116.37,lots\n")], ["d.csv", "'lots'"]),
    (lambda d, t: ["suggest", "3", "--candidates", _file(t, "c.geojson", '{"type": "Feat')], ["c.geojson", "GeoJSON"]),
    (lambda d, t: ["suggest", "3", "--candidates", _file(t, "c.csv", "")], ["c.csv", "empty"]),
    (lambda d, t: ["suggest", "3", "--candidates", _file(t, "c2.csv", "lat,lon\nx,116.3\n")], ["c2.csv", "'x'"]),
    (lambda d, t: ["device", "token", _outdoor_id()], ["not a smart station"]),
    (lambda d, t: ["device", "token", "st-nowhere"], ["st-nowhere"]),
    # caught by click's own checks: the same single line
    (lambda d, t: ["user", "add", "bob", "--role", "boss"], ["--role", "'boss'", "admin"]),
    (lambda d, t: ["usage", "--by", "month"], ["--by", "'month'", "week"]),
    (lambda d, t: ["coverage", "--minutes", "soon"], ["--minutes", "'soon'"]),
])
def test_cli_bad_input_gives_one_line_and_exit_2(registry_dir, tmp_path, make_args, words):
    before = digest(registry_dir)
    result = run(*make_args(registry_dir, tmp_path), data_dir=registry_dir)
    err = result.stderr
    assert result.exit_code == 2, err
    assert result.stdout == ""
    assert err.startswith("error: ") and "\n" not in err.strip() and "Traceback" not in err
    for w in words:
        assert w in err
    assert digest(registry_dir) == before


def _outdoor_id():
    from stationmap.store import load_sample

    return next(s.id for s in load_sample() if s.kind == "outdoor")


def _file(directory, name, text):
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def test_cli_bad_data_directory(tmp_path):
    a_file = _file(tmp_path, "registry.txt", "not a directory")
    result = stationmap("nearest", "23.55", "116.37", env={"STATIONMAP_DATA_DIR": str(a_file)})
    code, err = result.exit_code, result.stderr
    assert code == 2 and "is a file" in err and "\n" not in err.strip() and result.stdout == ""
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "stations.gpkg").write_bytes(b"half a GeoPackage")
    result = stationmap("nearest", "23.55", "116.37", env={"STATIONMAP_DATA_DIR": str(broken)})
    code, err = result.exit_code, result.stderr
    assert code == 2 and "not a readable GeoPackage" in err and "\n" not in err.strip() and result.stdout == ""
    assert (broken / "stations.gpkg").read_bytes() == b"half a GeoPackage"  # left for the user to rescue


def test_reimporting_old_rows_maps_a_charging_post_to_e_bike_charging(tmp_path, data_dir):
    """Rows that say 充电桩 (once read as phone charging) come in as e-bike charging; 充电 stays phone charging."""
    xlsx = tmp_path / "riders.xlsx"
    rows = gcj_rows()
    rows[0][-1] = "厕所、充电桩、换电柜、电动车停放、无障碍通道"
    rows[1][-1] = "饮水、充电"
    write_xlsx(xlsx, rows)
    result = run("import", xlsx, "--crs", "gcj02", data_dir=data_dir)
    assert result.exit_code == 0, result.stderr
    got = exported(data_dir, tmp_path)
    assert set(got[TRUTH[0][0]]["properties"]["amenities"]) == {"toilet", "ebike_charging", "battery_swap",
                                                                 "ebike_parking", "step_free"}
    assert set(got[TRUTH[1][0]]["properties"]["amenities"]) == {"drinking_water", "phone_charging"}
