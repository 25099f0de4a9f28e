"""Build geodata/sample_stations.geojson: the demo registry (119 outdoor + 16 smart stations).

SAMPLE DATA, not the union's list: placed by rule with a fixed seed, every station flagged demo
and named （示例）. Rules: one outdoor station near every township seat (87); the other 32 outdoor
stations in proportion to district population per township, tripled for urban subdistricts (街道);
the 16 smart stations in the urban cores where delivery riders and couriers gather; one smart
station in 榕城区 carries the 2024 广东最美工会驿站 honour. All points are on land inside the
(approximate) township cell of the seat they were placed around. Phone: 12351, the ACFTU workers' service hotline.
Run after build_townships.py: python geodata/build_sample.py
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
from pyproj import Transformer
from shapely.geometry import Point

from stationmap.geo import geography
from stationmap.model import make_station

OUT = (Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent) / "sample_stations.geojson"
SEED = 20241
N_OUTDOOR, N_SMART = 119, 16
# Smart stations per urban core: (township code of the core, count).
SMART_CORES = (("445202001", 3), ("445202002", 2), ("445202006", 2), ("445281002", 2), ("445281003", 1),
               ("445281004", 1), ("445281005", 1), ("445203001", 2), ("445224100", 1), ("445222001", 1))
HOST_TYPES = ("中国邮政营业所", "中国工商银行网点", "中国建设银行网点", "中国农业银行网点", "农村商业银行网点",
              "中国石化加油站", "中国石油加油站", "环卫工作站", "社区党群服务中心", "供电营业厅")
HOURS_OUTDOOR = ("08:00-18:00", "24小时", "周一至周五 08:00-17:30 / 周末休息", "07:00-21:00",
                 "周一至周六 08:00-18:00，周日休息", "08:30-12:00、14:30-17:30")
BASE_AMENITIES = ("drinking_water", "toilet", "phone_charging", "seating")
EXTRA_AMENITIES = (("microwave", 0.6), ("air_conditioning", 0.7), ("first_aid", 0.8), ("reading", 0.4),
                   ("wifi", 0.5), ("fridge", 0.3), ("umbrella", 0.5), ("tool_kit", 0.3), ("shelter", 0.6))
# Riders' needs, drawn from a stream of their own so that adding them moved no station and changed no
# other field: (amenity, share of outdoor stations); smart stations in the urban cores have all four.
RIDER_AMENITIES = (("ebike_parking", 0.6), ("ebike_charging", 0.35), ("step_free", 0.3), ("battery_swap", 0.1))
RIDER_STREAM = 1
SMART_FEATURES = ("self_service_24h", "qr_sign_in", "people_counter", "environment_control", "emergency_alarm", "info_screen")
TO_M = Transformer.from_crs("EPSG:4326", geography.METRIC_CRS, always_xy=True)
TO_DEG = Transformer.from_crs(geography.METRIC_CRS, "EPSG:4326", always_xy=True)


def near(rng, seat, district_geom, rmin: float, rmax: float) -> tuple[float, float]:
    """A random point rmin..rmax metres from the seat, inside its township cell (the seat itself as last resort)."""
    x0, y0 = TO_M.transform(*seat)
    for _ in range(200):
        r, a = rng.uniform(rmin, rmax), rng.uniform(0, 2 * math.pi)
        lon, lat = TO_DEG.transform(x0 + r * math.cos(a), y0 + r * math.sin(a))
        if district_geom.contains(Point(lon, lat)):
            return lon, lat
    return seat


def allocate(weights: dict[str, float], n: int) -> dict[str, int]:
    """Largest-remainder split of n in proportion to weights."""
    total = sum(weights.values())
    raw = {k: n * w / total for k, w in weights.items()}
    out = {k: int(v) for k, v in raw.items()}
    for k in sorted(raw, key=lambda k: raw[k] - out[k], reverse=True)[: n - sum(out.values())]:
        out[k] += 1
    return out


def main() -> None:
    rng = np.random.default_rng(SEED)
    rider_rng = np.random.default_rng([SEED, RIDER_STREAM])
    towns = geography.townships()
    dist = geography.districts()
    per_district = towns.groupby("district").size()
    weights = {code: dist.loc[t["district"], "population_2020"] / per_district[t["district"]]
               * (3 if t["name"].endswith("街道") else 1) for code, t in towns.iterrows()}
    extra = allocate(weights, N_OUTDOOR - len(towns))
    plan = [(code, "outdoor", i) for code in towns.index for i in range(1 + extra[code])]
    plan += [(code, "smart", i) for code, n in SMART_CORES for i in range(n)]
    assert len(plan) == N_OUTDOOR + N_SMART
    features = []
    for code, kind, i in plan:
        t = towns.loc[code]
        seat = (t.geometry.x, t.geometry.y)
        geom = geography.township_areas().geometry[code]
        lon, lat = near(rng, seat, geom, 80, 500) if (kind, i) == ("outdoor", 0) else near(rng, seat, geom, 300, 1800)
        host_type = HOST_TYPES[int(rng.integers(len(HOST_TYPES)))]
        label = "智能化工会驿站" if kind == "smart" else "工会驿站"
        name = f"{t['name']}{host_type if kind == 'outdoor' else ''}{label}{'' if i == 0 else i + 1}（示例）"
        amenities = list(BASE_AMENITIES) + [a for a, p in EXTRA_AMENITIES if rng.random() < p]
        if kind == "smart":
            amenities = list(BASE_AMENITIES) + [a for a, _ in EXTRA_AMENITIES] + ["aed"]
        rider_draws = rider_rng.random(len(RIDER_AMENITIES))
        amenities += [a for (a, p), x in zip(RIDER_AMENITIES, rider_draws) if kind == "smart" or x < p]
        props = {
            "name": name, "kind": kind, "status": "open",
            "address": f"揭阳市{dist.loc[t['district'], 'name']}{t['name']}（示例地址）",
            "hours": "24小时" if kind == "smart" else HOURS_OUTDOOR[int(rng.integers(len(HOURS_OUTDOOR)))],
            "amenities": sorted(set(amenities)),
            "host": f"{t['name']}{host_type}（示例）" if kind == "outdoor" else f"{t['name']}工会（示例）",
            "phone": "12351",
            "honours": ["广东最美工会驿站 2024"] if (code, kind, i) == ("445202001", "smart", 0) else [],
            "year_opened": 2024 if kind == "smart" else int(rng.integers(2019, 2024)),
            "demo": True,
            "features": list(SMART_FEATURES) if kind == "smart" else [],
            "location_source": "sample: placed by geodata/build_sample.py",
        }
        s = make_station({**props, "lat": round(lat, 6), "lon": round(lon, 6)})
        rec = s.to_record()
        props["id"] = s.id
        props["hours"] = rec["hours"]
        features.append({"type": "Feature", "properties": props,
                         "geometry": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]}})
    fc = {"type": "FeatureCollection", "name": "sample_stations",
          "description": "SAMPLE DATA (示例数据) for stationmap, not the union's registry", "features": features}
    OUT.write_text(json.dumps(fc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    ids = {f["properties"]["id"] for f in features}
    assert len(ids) == len(features), "duplicate sample ids"
    print(f"wrote {OUT}: {len(features)} stations")


if __name__ == "__main__":
    main()
