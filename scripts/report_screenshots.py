"""Screenshots of report.html files in headless Chromium, for a person to check that every
figure and table is readable at the page's width.

    python scripts/report_screenshots.py SUMMARY_DIR/report.html [...] -o shots/ [--width 1280]

Writes ``<name>.png`` (the whole page) per report; prints the paths and the page heights, and
exits 1 when a table is wider than the page (a column would be cut off).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from html import unescape
from pathlib import Path
from typing import Any

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")
#: headless, and no network of its own (first-run, component updates, sync)
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")


def chromium() -> str:
    """The headless browser's executable (``FileNotFoundError`` when none is installed)."""
    for name in CHROMIUM_CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    raise FileNotFoundError(f"no headless browser found (tried {', '.join(CHROMIUM_CANDIDATES)})")


#: measures the laid-out page: its size and every table wider than the box it sits in
_PROBE = """<script>window.onload=()=>{const d=document.documentElement;
const wide=[...document.querySelectorAll('table')].map((t,i)=>[i,t.scrollWidth,
t.parentElement.clientWidth]).filter(([i,w,box])=>w>box);
const out=[...document.body.querySelectorAll('*')].filter(e=>e.clientWidth>0&&(e.scrollWidth>
e.clientWidth+1||e.getBoundingClientRect().right>d.clientWidth+1)).slice(0,5).map(e=>
e.tagName.toLowerCase()+': '+e.textContent.slice(0,60));
document.title='M='+JSON.stringify({width:d.scrollWidth,height:d.scrollHeight,wide:wide,
outside:out})}</script>"""


def measure(html: Path, width: int) -> dict[str, Any]:
    """The laid-out page at ``width`` CSS pixels, from the DOM (via --dump-dom): its
    ``width`` and ``height``; ``wide``: ``[table index, table width, box width]`` of every
    table wider than its box (a hidden or cut-off column); ``outside``: the first elements
    whose content overflows them or that reach past the window's right edge."""
    html = html.resolve()  # a file URI needs an absolute path
    probe = html.with_name(html.stem + ".probe.html")
    probe.write_text(html.read_text().replace("</body>", _PROBE + "</body>"))
    try:
        out = subprocess.run([chromium(), *FLAGS, f"--window-size={width},800",
                              "--virtual-time-budget=3000", "--dump-dom", probe.as_uri()],
                             capture_output=True, text=True, timeout=120).stdout
    finally:
        probe.unlink(missing_ok=True)
    marker = out.find("<title>M=")
    if marker < 0:
        return {"width": width, "height": 4000, "wide": [], "outside": []}
    return dict(json.loads(unescape(out[marker + 9:out.index("</title>", marker)])))


def page_height(html: Path, width: int) -> int:
    """The page's height in CSS pixels at ``width``."""
    return int(measure(html, width)["height"])


def screenshot(html: Path, png: Path, width: int = 1280, height: int | None = None) -> Path:
    """A full-page screenshot of ``html`` at ``width`` CSS pixels."""
    html, png = html.resolve(), png.resolve()  # Chromium gets file URIs and absolute paths
    height = height or page_height(html, width)
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([chromium(), *FLAGS, "--hide-scrollbars", f"--user-data-dir={profile}",
                        f"--window-size={width},{height}", f"--screenshot={png}",
                        html.as_uri()], capture_output=True, timeout=120, check=True)
    return png


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reports", nargs="+", type=Path)
    parser.add_argument("-o", "--output", type=Path, default=Path("shots"))
    parser.add_argument("--width", type=int, default=1280)
    args = parser.parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    status = 0
    for report in args.reports:
        name = report.parent.parent.name if report.parent.name == "summary" else report.stem
        png = screenshot(report, args.output / f"{name}.png", args.width)
        page = measure(report, args.width)
        print(f"{png} ({args.width} x {page['height']} px)")
        for index, table, box in page["wide"]:
            print(f"  table {index} is {table} px wide in a {box} px box: columns are cut off")
            status = 1
        for element in page["outside"]:
            print(f"  wider than the page: {element}")
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
