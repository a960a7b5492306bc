"""The main job as a new user runs it: wall time, DA of every backend, and its page in a browser.

    python benchmarks/main_job.py --data-root /work/shared/datasets      # full MNIST
    python benchmarks/main_job.py --offline                              # the bundled sample

Runs ``python examples/mnist_lava.py --out OUT`` in a fresh process (with ``SDT_DATA_ROOT`` set,
or with ``SDT_OFFLINE=1`` and no data root), times it, checks every row of its table against the
target (DA >= 0.94 in <= 150 s; offline >= 0.85 in <= 30 s), then opens ``OUT/index.html`` in
headless Chromium (``--browser``, default ``chromium``) and checks the screenshot shows a page
(many distinct colours, not a blank or error page). Writes ``main_job[_offline].json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BROWSER_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync")


def render(page: Path, png: Path, browser: str) -> dict:
    """Screenshot ``page`` with a headless browser; how many distinct colours the picture holds."""
    exe = shutil.which(browser)
    if exe is None:
        return {"rendered": False, "reason": f"{browser} not found"}
    profile = png.parent / "browser-profile"
    cmd = [exe, *BROWSER_FLAGS, f"--user-data-dir={profile}", "--window-size=1200,2600", f"--screenshot={png}",
           page.resolve().as_uri()]
    subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    shutil.rmtree(profile, ignore_errors=True)
    if not png.is_file():
        return {"rendered": False, "reason": "no screenshot written"}
    from PIL import Image

    pixels = np.asarray(Image.open(png).convert("RGB")).reshape(-1, 3)
    colours = len(np.unique(pixels[:: max(1, len(pixels) // 200000)], axis=0))
    return {"rendered": colours > 1000, "distinct_colours": colours, "screenshot": str(png)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", default=os.environ.get("SDT_DATA_ROOT"))
    ap.add_argument("--offline", action="store_true", help="no data root, SDT_OFFLINE=1: the bundled sample")
    ap.add_argument("--out", default="/tmp/sdt-main-job")
    ap.add_argument("--browser", default="chromium")
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    args = ap.parse_args()
    env = dict(os.environ)
    if args.offline:
        env.pop("SDT_DATA_ROOT", None)
        env["SDT_OFFLINE"] = "1"
        target_da, target_s = 0.85, 30.0
    else:
        if not args.data_root:
            sys.exit("give --data-root (or set SDT_DATA_ROOT), or --offline")
        env["SDT_DATA_ROOT"] = args.data_root
        target_da, target_s = 0.94, 150.0
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "mnist_lava.py"), "--out", str(out)], env=env,
                          cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"the main job failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    results = json.loads((out / "results.json").read_text())
    rows = {name: row["da_average"] for name, row in results["rows"].items()}
    page = render(out / "index.html", out / "page.png", args.browser)
    record = {
        "command": "python examples/mnist_lava.py" + (" (SDT_OFFLINE=1, no data root)" if args.offline else ""),
        "wall_seconds": wall, "target_seconds": target_s, "target_da_average": target_da,
        "da_average": rows, "samples": results["samples"], "steps": results["steps"], "data": results["data"],
        "preset": results["preset"], "epochs": results["epochs"], "da_against_steps": results["da_against_steps"],
        "met": wall <= target_s and min(rows.values()) >= target_da, "page": page,
        "pictures": sorted(p.name for p in out.glob("*.png")), "load_before": load_before,
        "load_after": os.getloadavg()[0], "cpu_count": os.cpu_count(),
    }
    name = "main_job_offline.json" if args.offline else "main_job.json"
    Path(args.results).mkdir(parents=True, exist_ok=True)
    (Path(args.results) / name).write_text(json.dumps(record, indent=2))
    print(proc.stdout[-1500:])
    print(f"wall {wall:.1f} s (target {target_s:.0f}); DA average per row: "
          + ", ".join(f"{k} {v:.4f}" for k, v in rows.items()) + f" (target {target_da}); page rendered: "
          f"{page.get('rendered')} ({page.get('distinct_colours', page.get('reason'))}); met: {record['met']}")


if __name__ == "__main__":
    main()
