"""`stationmap render`: a static site that works from plain files, with no Python and no CDN behind it."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from webserver import PHONE

SHOTS = Path(__file__).parent / "screenshots"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    data = tmp_path_factory.mktemp("render-data")
    run = subprocess.run([sys.executable, "-m", "stationmap.cli", "render", "-o", str(out), "--data-dir", str(data)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "index.html" in run.stdout
    return out


def test_site_files_and_no_remote_assets(site):
    for name in ("index.html", "embed.html", "stations.geojson", "districts.geojson", "static/stationmap.js",
                 "static/vendor/leaflet/leaflet.js", "static/vendor/leaflet/images/marker-icon.png"):
        assert (site / name).is_file(), name
    html = (site / "index.html").read_text(encoding="utf-8")
    srcs = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    assert srcs and all(u.startswith(("static/", "data:")) or u == "index.js" for u in srcs), srcs
    assert "<script>" not in html and "nonce" not in html  # the map script is a file beside the page
    assert '"api":null' in html  # nearest search runs in the browser (the data block)


def test_site_works_from_files_with_the_network_cut(chromium, site):
    ctx = chromium.new_context(viewport=PHONE, geolocation={"latitude": 23.548, "longitude": 116.372},
                               permissions=["geolocation"], locale="zh-CN")
    outside: list[str] = []
    ctx.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("file:", "data:"))
              else (outside.append(r.request.url), r.abort()))
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto((site / "index.html").as_uri())
    page.wait_for_selector("body.sm-ready")
    assert page.evaluate("StationMap.state.cluster.getLayers().length") == 135
    page.click(".sm-chip[data-amenity=microwave]")
    page.click("#sm-locate")
    page.wait_for_selector(".sm-item")
    assert page.locator(".sm-item").count() == 5
    assert "uri.amap.com/navigation" in page.locator(".sm-nav-amap").first.get_attribute("href")
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "static-site.png"))
    assert not errors
    assert all("autonavi.com" in u for u in outside)  # only tiles (Amap, the default basemap) were asked for
    ctx.close()


def test_render_needs_no_web_framework(tmp_path):
    """`stationmap render` draws the pages with the library alone: importing Flask or the web app fails here."""
    code = """
import sys
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("flask", "werkzeug", "web"):
            raise ImportError(f"{name} is not allowed in the static export's code path")
sys.meta_path.insert(0, Refuse())
from stationmap.cli import main
sys.argv = ["stationmap", "render", "-o", sys.argv[1], "--data-dir", sys.argv[2]]
main()
"""
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path / "site"), str(tmp_path / "data")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    html = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert 'src="index.js"' in html and '"api":null' in html


def test_data_files_are_what_the_api_serves(live_server, tmp_path):
    """The export asks the API layer in process for its data files: each is byte-equal to the live answer."""
    import requests

    from stationmap.maps.render import DATA_FILES, render_site

    render_site(tmp_path, {"data_dir": live_server.app.config["STATIONMAP"]["data_dir"]})
    assert set(DATA_FILES) >= {"stations.geojson", "districts.geojson"}
    for name, target in DATA_FILES.items():
        served = requests.get(live_server.url + target, timeout=60)
        assert served.status_code == 200 and served.headers["Content-Type"] == "application/geo+json"
        assert (tmp_path / name).read_bytes() == served.content, name
