"""Draw the app icons (web/static/icons/icon-192.png, icon-512.png) from icon.svg, the one drawing.

The manifest needs PNGs (192 and 512 px); they are rasterised by the headless Chromium the tests use
(Debian's /usr/bin/chromium through Playwright), so the build needs no image library. The PNGs are
committed; run this again after changing icon.svg: `.venv/bin/python web/build_icons.py`.
"""
from __future__ import annotations

import base64
from pathlib import Path

ICONS = Path(__file__).with_name("static") / "icons"
SIZES = (192, 512)
CHROMIUM = "/usr/bin/chromium"


def build(sizes: tuple[int, ...] = SIZES) -> list[Path]:
    """Render icon.svg at each size to icon-<size>.png; returns the files written."""
    from playwright.sync_api import sync_playwright

    svg = base64.b64encode((ICONS / "icon.svg").read_bytes()).decode()
    out = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        for n in sizes:
            page = browser.new_page(viewport={"width": n, "height": n}, device_scale_factor=1)
            page.set_content(f'<body style="margin:0"><img src="data:image/svg+xml;base64,{svg}" '
                             f'width="{n}" height="{n}" style="display:block"></body>')
            page.wait_for_function("() => document.images[0].complete")
            path = ICONS / f"icon-{n}.png"
            page.screenshot(path=str(path), clip={"x": 0, "y": 0, "width": n, "height": n})
            page.close()
            out.append(path)
        browser.close()
    return out


if __name__ == "__main__":
    for p in build():
        print(p)
