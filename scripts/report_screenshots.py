"""Screenshots of report.html files in headless Chromium, for a person to check that every
figure and table is readable at the page's width.

    python scripts/report_screenshots.py SUMMARY_DIR/report.html [...] -o shots/ [--width 1200]

Writes ``<name>.png`` (the whole page) per report; prints the paths and the page heights.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def chromium() -> str:
    """The headless browser's executable (``FileNotFoundError`` when none is installed)."""
    for name in CHROMIUM_CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    raise FileNotFoundError(f"no headless browser found (tried {', '.join(CHROMIUM_CANDIDATES)})")


def page_height(html: Path, width: int) -> int:
    """The page's height in CSS pixels at ``width`` (from the DOM, via --dump-dom)."""
    probe = html.with_name(html.stem + ".probe.html")
    script = ("<script>window.onload=()=>{document.title='H='+document.documentElement"
              ".scrollHeight}</script>")
    probe.write_text(html.read_text().replace("</body>", script + "</body>"))
    try:
        out = subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu",
                              f"--window-size={width},800", "--virtual-time-budget=3000",
                              "--dump-dom", probe.as_uri()], capture_output=True, text=True,
                             timeout=120).stdout
    finally:
        probe.unlink(missing_ok=True)
    marker = out.find("<title>H=")
    return int(out[marker + 9:out.index("<", marker + 9)]) if marker >= 0 else 4000


def screenshot(html: Path, png: Path, width: int = 1200, height: int | None = None) -> Path:
    """A full-page screenshot of ``html`` at ``width`` CSS pixels."""
    height = height or page_height(html, width)
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu",
                        "--hide-scrollbars", f"--user-data-dir={profile}",
                        f"--window-size={width},{height}", f"--screenshot={png}",
                        html.resolve().as_uri()], capture_output=True, timeout=120, check=True)
    return png


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reports", nargs="+", type=Path)
    parser.add_argument("-o", "--output", type=Path, default=Path("shots"))
    parser.add_argument("--width", type=int, default=1200)
    args = parser.parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    for report in args.reports:
        name = report.parent.parent.name if report.parent.name == "summary" else report.stem
        png = screenshot(report, args.output / f"{name}.png", args.width)
        print(f"{png} ({args.width} px wide)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
