"""Independent references the tests check the library against (written plainly, not the library's code)."""
from __future__ import annotations

from shapely.geometry import Point

from stationmap.geo import geography


def township_by_polygons(lat: float, lon: float) -> tuple[str, str]:
    """(district, township) of a WGS-84 point by plain polygon tests in degrees, nearest cell as fallback."""
    p = Point(lon, lat)
    d = geography.districts()
    hits = d[d.geometry.covers(p)]
    code = hits.index[0] if not hits.empty else d.index[int(d.geometry.distance(p).argmin())]
    cells = geography.township_areas()
    cells = cells[cells["district"] == code]
    inside = cells[cells.geometry.covers(p)]
    return code, inside.index[0] if not inside.empty else cells.index[int(cells.geometry.distance(p).argmin())]
