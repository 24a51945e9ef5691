"""A headless-Chromium screenshot of optuna-dashboard showing a study's trial (its note and
artifacts) and the study page (metric names), served on 127.0.0.1.

    python scripts/dashboard_screenshot.py STORAGE_URL ARTIFACT_DIR -o shots/ [--port 18713]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("storage")
    parser.add_argument("artifact_dir")
    parser.add_argument("-o", "--output", type=Path, default=Path("shots"))
    parser.add_argument("--port", type=int, default=18713)
    parser.add_argument("--study-id", type=int, default=1)
    args = parser.parse_args(argv)
    dashboard = [sys.executable, "-c", "import sys; from optuna_dashboard._cli import main; "
                 "sys.argv[0] = 'optuna-dashboard'; main()"]
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or "chromium"
    args.output.mkdir(parents=True, exist_ok=True)
    server = subprocess.Popen([*dashboard, args.storage, "--host", "127.0.0.1", "--port",
                               str(args.port), "--artifact-dir", args.artifact_dir],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{args.port}"
        for _ in range(60):
            try:
                urllib.request.urlopen(f"{base}/api/studies", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        for page in ("", "/trials"):
            png = args.output / f"dashboard_study{page.replace('/', '_')}.png"
            subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                            "--hide-scrollbars", "--window-size=1400,1600",
                            "--virtual-time-budget=8000", f"--screenshot={png}",
                            f"{base}/dashboard/studies/{args.study_id}{page}"],
                           capture_output=True, timeout=120, check=True)
            print(png)
    finally:
        server.terminate()
        server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
