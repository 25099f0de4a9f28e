"""Hostile station names and addresses, opened in headless Chromium on every page that shows them.

A district editor controls the names and addresses of their stations. Payloads for HTML, JavaScript,
template literals and quotes must run nowhere (the page flag `window.__xss` stays unset, no dialog
opens, no request goes to an injected URL), every page still draws every station, and the text the
editor typed is shown as text. The pages' Content-Security-Policy allows no inline script but the
one the page rendered under its nonce.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import requests
from cli_runner import stationmap
from webserver import PHONE, start

from stationmap.model import with_changes
from stationmap.ops.accounts import open_accounts
from stationmap.store import open_store

PASSWORD = "a long test password"
PAYLOADS = (
    '<img src=x onerror="window.__xss=1">驿站',
    "驿站${window.__xss=2}",
    "驿站`);window.__xss=3;(`",
    "</script><script>window.__xss=4</script>",
    "\"'><svg onload=window.__xss=5>",
    "驿站\u2028{{7*7}}\\`${'x'}",
    "驿站<!--<script>window.__xss=7</script>",
)
HOSTILE_ADDRESS = '<script>window.__xss=8</script>"\'`${window.__xss=9}'


@pytest.fixture(scope="module")
def hostile_dir(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A sample registry whose first stations carry the payloads as names and addresses; an admin account."""
    d = tmp_path_factory.mktemp("hostile")
    store = open_store(d)
    stations = store.all()
    renamed = {s.id: p for s, p in zip(stations, PAYLOADS)}
    store.update(lambda old: [with_changes(s, name=renamed[s.id], address=HOSTILE_ADDRESS) if s.id in renamed else s
                              for s in old])
    open_accounts(d).add_user("root", "admin", password=PASSWORD)
    assert {s.name for s in open_store(d).all()} >= set(PAYLOADS)
    return d, renamed


@pytest.fixture(scope="module")
def hostile_server(hostile_dir):
    server = start({"data_dir": str(hostile_dir[0]), "rate_limit_public": "100000/minute", "report_client_limit": 1000})
    yield server
    server.stop()


@pytest.fixture
def watched(chromium):
    """A phone-sized page that records script errors, dialogs and requests to injected URLs."""
    ctx = chromium.new_context(viewport=PHONE, locale="zh-CN", timezone_id="Asia/Shanghai",
                               service_workers="block")  # as in webserver.loopback_page
    page = ctx.new_page()
    page.problems = []
    page.on("pageerror", lambda e: page.problems.append(f"script error: {e}"))
    page.on("console", lambda m: page.problems.append(f"CSP: {m.text}") if "Content Security Policy" in m.text
            else None)
    page.on("dialog", lambda d: (page.problems.append(f"dialog: {d.message}"), d.dismiss()))
    page.on("request", lambda r: page.problems.append(f"injected request {r.url}") if r.url.endswith("/x") else None)
    ctx.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("http://127.0.0.1", "file:", "data:"))
              else r.abort())
    yield page
    ctx.close()


def assert_nothing_ran(page) -> None:
    assert page.evaluate("window.__xss") is None
    assert not page.problems, page.problems


def check_station_map(page, renamed: dict[str, str], total: int) -> None:
    """The worker map and the embed: every station is a marker; each hostile popup shows the name as text."""
    page.wait_for_selector("body.sm-ready")
    assert page.evaluate("StationMap.state.cluster.getLayers().length") == total
    for sid, name in renamed.items():
        page.wait_for_function("""id => { const S = StationMap.state, m = S.markers[id];
                                    if (S.map.hasLayer(m)) return true;
                                    S.map.setView(m.getLatLng(), 18, { animate: false }); return false; }""",
                               arg=sid, polling="raf")
        page.evaluate("id => { StationMap.state.markers[id].openPopup(); }", sid)  # returns nothing: a marker would be serialised
        popup = page.wait_for_selector(f'.sm-popup[data-id="{sid}"]')
        assert popup.eval_on_selector("h3", "e => e.textContent") == name
        assert HOSTILE_ADDRESS in popup.inner_text()
    assert_nothing_ran(page)


def test_worker_map_and_nearest_list(hostile_server, hostile_dir, watched):
    d, renamed = hostile_dir
    watched.goto(hostile_server.url + "/map")
    check_station_map(watched, renamed, 135)
    first = open_store(d).get(next(iter(renamed)))
    watched.evaluate("([lat, lon]) => StationMap.setUser(lat, lon)", [first.lat, first.lon])
    watched.wait_for_selector(f'.sm-item[data-id="{first.id}"]')
    assert renamed[first.id] in watched.inner_text("#sm-list")
    assert_nothing_ran(watched)


@pytest.mark.parametrize("basemap", ["osm", "amap"])
def test_embed(hostile_server, hostile_dir, watched, basemap):
    watched.goto(hostile_server.url + f"/embed?basemap={basemap}")
    check_station_map(watched, hostile_dir[1], 135)


def test_planner(hostile_server, hostile_dir, watched):
    watched.goto(hostile_server.url + "/planner?reach_m=3000&n=0")
    watched.wait_for_function("() => window.SMPlanner && SMPlanner.count > 0", timeout=120_000)
    assert watched.evaluate("SMPlanner.count") == 135
    assert watched.locator(".sm-plan-station").count() == 135
    names = watched.evaluate("""() => SMPlanner.markers.map(m => { m.openTooltip();
        return m.getTooltip().getElement().textContent; })""")
    assert set(hostile_dir[1].values()) <= set(names)
    assert_nothing_ran(watched)


def test_station_pages(hostile_server, hostile_dir, watched):
    """Each station's own page: the name as text in the heading, the share card, the map's marker and the
    share link; a hostile report sent from the page's form is only text on the way."""
    for sid, name in hostile_dir[1].items():
        watched.goto(hostile_server.url + f"/s/{sid}")
        watched.wait_for_selector("body.sm-ready")
        assert watched.eval_on_selector("h1", "e => e.textContent") == name
        for tag in ('meta[property="og:title"]', 'meta[itemprop="name"]'):
            assert watched.get_attribute(tag, "content") == name
        assert watched.inner_text("#sm-st-address") == HOSTILE_ADDRESS
        assert watched.evaluate("StationPage.data.name") == name
        assert watched.evaluate("StationPage.marker.options.title") == name
        watched.check('input[name="kind"][value="other"]')
        watched.fill("#sm-rk-text", name)
        watched.click("#sm-rk-send")
        watched.wait_for_function("() => StationPage.sent && StationPage.sent.received")
        assert name not in watched.inner_text("#sm-rk-msg")  # a receipt, not an echo
    assert_nothing_ran(watched)


def test_admin(hostile_server, hostile_dir, watched):
    for sid, name in hostile_dir[1].items():  # workers' reports carry the payloads too
        r = requests.post(hostile_server.url + f"/api/stations/{sid}/reports", json={"kind": "other", "text": name},
                          timeout=30)
        assert r.status_code == 201, r.text
    watched.set_viewport_size({"width": 1100, "height": 900})
    watched.goto(hostile_server.url + "/admin")
    watched.fill("#login input[name=name]", "root")
    watched.fill("#login input[name=password]", PASSWORD)
    watched.click("#login button[type=submit]")
    watched.wait_for_selector("#stations tr")
    watched.wait_for_function("document.querySelectorAll('#stations tr').length === 135")
    table = watched.inner_text("#stations")
    assert all(name.split("\u2028")[0] in table for name in hostile_dir[1].values())
    for sid in hostile_dir[1]:  # each station's page and its QR codes, to download for the door
        links = watched.eval_on_selector_all(f'#stations tr a[href*="{sid}"]', "els => els.map(e => e.getAttribute('href'))")
        assert links == [f"/s/{sid}", f"/api/stations/{sid}/qr.svg", f"/api/stations/{sid}/qr.png"]
    watched.click('button[data-tab="reports"]')
    watched.wait_for_function(f"document.querySelectorAll('#reports tr').length >= {len(hostile_dir[1])}")
    texts = watched.eval_on_selector_all("#reports .sm-admin-text", "els => els.map(e => e.textContent)")
    assert set(hostile_dir[1].values()) <= set(texts)
    assert_nothing_ran(watched)


def test_static_export(hostile_dir, watched, tmp_path):
    run = stationmap("render", "-o", tmp_path, "--data-dir", hostile_dir[0])
    assert run.exit_code == 0, run.output
    for page in ("index", "embed"):
        assert "<script>" not in (tmp_path / f"{page}.html").read_text(encoding="utf-8")
        watched.goto((tmp_path / f"{page}.html").as_uri())
        check_station_map(watched, hostile_dir[1], 135)


@pytest.mark.parametrize("path", ["/map", "/embed", "/planner?reach_m=3000&n=0", "/admin"])
def test_no_inline_script_without_the_nonce(hostile_server, path):
    """Only the nonce'd map script may run inline; the nonce is new on every response."""
    first, second = (requests.get(hostile_server.url + path, timeout=120) for _ in range(2))
    for resp in (first, second):
        csp = resp.headers["Content-Security-Policy"]
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    nonces = [r.headers["Content-Security-Policy"].split("'nonce-")[1].split("'")[0]
              for r in (first, second) if "'nonce-" in r.headers["Content-Security-Policy"]]
    assert len(set(nonces)) == len(nonces)
    for resp, nonce in zip((first, second), nonces):
        assert f'nonce="{nonce}"' in resp.text, "the page's scripts carry this response's nonce, not a kept one"
    inline = first.text.count("<script>") + first.text.count("<script nonce=")
    assert inline == len(nonces[:1]), "every inline script carries the nonce"
    assert first.text.count("<style>") == 0 and ' style="' not in first.text, "styles only from files or the nonce"


def test_station_page_has_no_inline_script(hostile_server, hostile_dir):
    """A station's page runs only our script files: no inline script or style at all, hence no nonce."""
    sid = next(iter(hostile_dir[1]))
    resp = requests.get(hostile_server.url + f"/s/{sid}", timeout=60)
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp and "'nonce-" not in csp
    assert resp.text.count("<script>") == 0 and "<script nonce=" not in resp.text
    assert "<style" not in resp.text and ' style="' not in resp.text
