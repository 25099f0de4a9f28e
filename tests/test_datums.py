"""stationmap.geo.datums against independent references: coordTransform's forward formula and geographiclib."""
import coordTransform
import numpy as np
import pytest
from geographiclib.geodesic import Geodesic

from stationmap.errors import InvalidInput
from stationmap.geo import datums

G = Geodesic.WGS84
# A grid over Jieyang's extent (115.6-116.63E, 22.89-23.78N).
GRID = [(lat, lon) for lat in np.linspace(22.89, 23.78, 9) for lon in np.linspace(115.6, 116.63, 9)]


def metres(a, b):
    return G.Inverse(a[0], a[1], b[0], b[1])["s12"]


@pytest.mark.parametrize("lat,lon", GRID[::7])
def test_forward_gcj02_matches_an_independent_implementation(lat, lon):
    ref_lon, ref_lat = coordTransform.wgs84_to_gcj02(lon, lat)
    assert metres(datums.from_wgs84(lat, lon, "gcj02"), (ref_lat, ref_lon)) < 0.001


@pytest.mark.parametrize("lat,lon", GRID[::7])
def test_forward_bd09_matches_an_independent_implementation(lat, lon):
    ref_lon, ref_lat = coordTransform.wgs84_to_bd09(lon, lat)
    assert metres(datums.from_wgs84(lat, lon, "bd09"), (ref_lat, ref_lon)) < 0.001


def test_gcj02_shift_in_jieyang_is_about_550_m():
    shifts = [metres((lat, lon), datums.from_wgs84(lat, lon, "gcj02")) for lat, lon in GRID]
    assert 500 < min(shifts) and max(shifts) < 620


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_inverse_is_exact_to_well_under_half_a_metre(crs):
    # Forward with the independent implementation, back with ours, measured on the ellipsoid.
    fwd = coordTransform.wgs84_to_gcj02 if crs == "gcj02" else coordTransform.wgs84_to_bd09
    errors = []
    for lat, lon in GRID:
        x, y = fwd(lon, lat)
        errors.append(metres((lat, lon), datums.to_wgs84(y, x, crs)))
    assert max(errors) < 0.05


def test_one_step_inverse_would_not_be_good_enough():
    """Why the iterative inverse: the common one-step formula is metres off here."""
    errors = []
    for lat, lon in GRID:
        x, y = coordTransform.wgs84_to_gcj02(lon, lat)
        bx, by = coordTransform.gcj02_to_wgs84(x, y)  # one-step inverse
        errors.append(metres((lat, lon), (by, bx)))
    assert max(errors) > 0.5


def test_geometry_conversion_moves_every_vertex():
    from shapely.geometry import LineString
    line = LineString([(116.37, 23.55), (116.17, 23.31)])
    back = datums.geometry_to_wgs84(datums.geometry_from_wgs84(line, "gcj02"), "gcj02")
    for (x0, y0), (x1, y1) in zip(line.coords, back.coords):
        assert metres((y0, x0), (y1, x1)) < 0.05


@pytest.mark.parametrize("name,expected", [("WGS84", "wgs84"), ("gcj-02", "gcj02"), ("BD09", "bd09"), ("amap", "gcj02")])
def test_datum_names(name, expected):
    assert datums.check_crs(name) == expected


def test_unknown_datum_is_refused_with_the_allowed_names():
    with pytest.raises(InvalidInput, match="wgs84, gcj02, bd09"):
        datums.to_wgs84(23.5, 116.3, "cgcs2001")


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
@pytest.mark.parametrize("lat,lon", [(-90, -180), (90, 180), (0, 0), (51.5, -0.1)])
def test_points_outside_china_are_refused_in_chinese_datums(crs, lat, lon):
    """The inverse transforms do not converge far from China (a math error, once a 500 from /api/nearest)."""
    with pytest.raises(InvalidInput, match="not in China"):
        datums.to_wgs84(lat, lon, crs)
    assert datums.to_wgs84(lat, lon, "wgs84") == (lat, lon)
