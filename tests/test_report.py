"""The run page: tables and pictures in one self-contained HTML file that a browser renders."""

import base64
import shutil
import subprocess

import pytest

from sdt_neuro.report import REPORT_NAME, table_html, write_report


def _png(path, colour=(255, 0, 0)):
    from PIL import Image

    Image.new("RGB", (40, 30), colour).save(path)
    return path


def test_page_holds_the_table_and_embeds_existing_pictures(tmp_path):
    rows = [{"backend": "ANN", "DA average": 0.94551, "samples / s": 6890.9}, {"backend": "Lava <fixed>"}]
    picture = _png(tmp_path / "a.png")
    table = table_html(rows, ["backend", "DA average", "samples / s"])
    page = write_report(tmp_path, "Run & result", [("Rows", table)],
                        [(picture, "a picture"), (tmp_path / "missing.png", "never written")], ["a note"])
    text = page.read_text()
    assert page.name == REPORT_NAME and text.startswith("<!DOCTYPE html>")
    assert "<td>0.9455</td>" in text and "<td>6890.9</td>" in text and "Lava &lt;fixed&gt;" in text  # escaped
    assert "Run &amp; result" in text and "a note" in text and "never written" not in text
    assert base64.b64encode(picture.read_bytes()).decode() in text  # the page stands alone


def test_a_headless_browser_renders_the_page(tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        pytest.skip("no headless Chromium on this machine (Debian: apt-get install chromium)")
    from PIL import Image

    page = write_report(tmp_path, "Render me", [("Rows", table_html([{"a": 1.0}], ["a"]))],
                        [(_png(tmp_path / "blue.png", (0, 0, 255)), "blue")])
    shot = tmp_path / "shot.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", "--window-size=800,600", f"--screenshot={shot}",
                    page.as_uri()], capture_output=True, timeout=120, check=False)
    pixels = Image.open(shot).convert("RGB").getcolors(1 << 20)
    assert any(colour == (0, 0, 255) and count > 500 for count, colour in pixels)  # the embedded picture shows
