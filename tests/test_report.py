"""The HTML report of a small run: `snakemake --report` builds one self-contained file that headless
Chromium renders, with every figure, table and review notebook on show and no error text.

One tiny run (tests/workflow_runner.py: small simulated studies, 2 chains x 150 draws) is built
once for the module in a scratch directory; the screenshots stay in pytest's tmp dir.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import numpy as np
import pytest
from PIL import Image
from workflow_runner import run_workflow, tiny_config

RUN = "report"
CATEGORIES = ["Study 1: homework use", "Study 2: action recommendations", "Diagnostics"]
FIGURES = [
    "study1/odds_ratios",
    "study1/predicted_probability",
    "study1/therapist_effects",
    "study1/posterior_predictive",
    "study2/session_distributions",
    "study2/review_vs_change",
    "study2/severity_slopes",
    "study2/bayes_vs_gee",
    "study2/naive_vs_corrected",
    "diagnostics/rank_homework",
    "diagnostics/rank_phq9_change",
    "diagnostics/rank_gad7_change",
]
TABLES = [
    "table1_study1",
    "table1_study2",
    "table2_homework_odds_ratios",
    "table3_outcome_models",
    "table_study2_replication",
    "table_diagnostics",
]
NOTEBOOKS = ["01_study1_review", "02_study2_review"]
ERROR_TEXT = re.compile(r"Traceback|Exception|WorkflowError|Error:|NaN \[|nan \[")
# Only the workflow's own threads: one per job, so two jobs share the two cores.
ONE_THREAD = ["--set-threads", "fit_model=1", "study2_measurement_error=1"]


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A tiny run with every figure, table and notebook, and its report."""
    workdir = tmp_path_factory.mktemp("report_run")
    config = tiny_config(run=RUN)
    run = run_workflow(workdir, config, targets=["presentation"], cores=2, extra=ONE_THREAD)
    assert run.returncode == 0, run.describe()
    report = run.results / "report.html"
    made = run_workflow(workdir, config, targets=["presentation"], cores=1, extra=["--report", str(report)])
    assert made.returncode == 0 and report.exists(), made.describe()
    return run, report


@pytest.fixture(scope="module")
def chromium():
    """Debian's headless Chromium; installed with apt-get when missing and running as root."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.geteuid() != 0:
        pytest.skip("Chromium is not installed and the tests do not run as root: apt-get install chromium")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
    proc = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=600)
        proc = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900)
    found = shutil.which("chromium")
    if not found:
        pytest.skip(f"could not install Chromium with apt-get: {proc.stderr[-500:]}")
    return found


def browse(chromium: str, page: Path, profile: Path, *mode: str) -> subprocess.CompletedProcess:
    """Open `page` in headless Chromium with no network and a throwaway profile."""
    args = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1400,1000",
        "--virtual-time-budget=30000",
        *mode,
        page.as_uri(),
    ]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


# The report is a React app: a result shows only when its entry is opened. This script opens the
# landing page, every category, then every image and HTML result through the app's own view
# manager, and writes what the page showed into <pre id="report-check"> for --dump-dom.
CHECK_SCRIPT = """
<script>
(async () => {
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const appText = () => document.getElementById("app").innerText;
  const check = { landing: "", categories: {}, shown: {} };
  await sleep(500);
  check.landing = appText();
  for (const category of Object.keys(categories)) {
    app.showCategory(category);
    await sleep(300);
    check.categories[category] = appText();
  }
  for (const [path, entry] of Object.entries(results)) {
    const kind = entry.mime_type.startsWith("image/") ? "img" : entry.mime_type === "text/html" ? "html" : null;
    if (kind === null) continue;
    app.setView({ content: kind, contentPath: entry.data_uri, resultPath: path });
    let state = { shown: false };
    for (let i = 0; i < 100 && !state.shown; i++) {
      await sleep(50);
      const tag = kind === "img" ? "img" : "iframe";
      const element = [...document.querySelectorAll(tag)].find((el) => el.getAttribute("src") === entry.data_uri);
      if (element && kind === "img" && element.complete && element.naturalWidth > 0) {
        state = { shown: true, width: element.naturalWidth, height: element.naturalHeight };
      } else if (element && kind === "html") {
        state = { shown: true };
      }
    }
    check.shown[path] = state;
  }
  const out = document.createElement("pre");
  out.id = "report-check";
  out.textContent = JSON.stringify(check);
  document.body.appendChild(out);
})();
</script>
"""

SHOW_SCRIPT = """
<script>
setTimeout(() => {
  const path = Object.keys(results).find((p) => p.endsWith(%s));
  app.setView({ content: "img", contentPath: results[path].data_uri, resultPath: path });
}, 500);
</script>
"""


def with_script(report: Path, script: str, name: str) -> Path:
    """A copy of the report with `script` before its closing body tag (the last one: the report's
    JavaScript libraries hold the string "</body>" too)."""
    head, _, tail = report.read_text(encoding="utf-8").rpartition("</body>")
    page = report.with_name(name)
    page.write_text(f"{head}{script}</body>{tail}", encoding="utf-8")
    return page


def embedded_results(report_text: str) -> dict:
    """The `results` object the report embeds: path -> name, mime type, data URI, ..."""
    match = re.search(r'<script id="results">\s*var results = (.*?);\s*</script>', report_text, re.S)
    assert match, "the report embeds no results"
    return json.loads(match.group(1))


def decoded(data_uri: str) -> bytes:
    return base64.b64decode(data_uri.split(",", 1)[1])


def assert_not_blank(png: Path, size: tuple[int, int] | None = None) -> None:
    with Image.open(png) as image:
        if size:
            assert image.size == size
        pixels = np.asarray(image.convert("L"))
    assert pixels.std() > 10, f"{png} is blank"


# --------------------------------------------------------------------------------- tests


def test_run_builds_every_figure_table_and_notebook(built):
    run, _ = built
    for figure in FIGURES:
        for ext in ("png", "pdf"):
            assert (run.results / "figures" / f"{figure}.{ext}").stat().st_size > 0
    for table in TABLES:
        for ext in ("csv", "md", "tex", "html"):
            assert (run.results / "tables" / f"{table}.{ext}").stat().st_size > 0
    for notebook in NOTEBOOKS:
        executed = nbformat.read(run.results / "notebooks" / f"{notebook}.ipynb", as_version=4)
        injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
        assert injected and f'run = "{RUN}"' in injected[0].source
        errors = [o for c in executed.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors
        page = (run.results / "notebooks" / f"{notebook}.html").read_text(encoding="utf-8")
        assert "<img" in page and not ERROR_TEXT.search(page)


def test_report_is_self_contained(built):
    _, report = built
    text = report.read_text(encoding="utf-8")
    assert not re.search(r'<(script|link|img|iframe)[^>]+(src|href)="https?://', text)
    results = embedded_results(text)
    for path, entry in results.items():
        assert entry["data_uri"].startswith("data:"), path
        if entry["mime_type"] == "text/html":
            page = decoded(entry["data_uri"]).decode("utf-8")
            assert not re.search(r'<(script|link|img)[^>]+(src|href)="https?://', page), path
            assert not ERROR_TEXT.search(page), path


def test_report_embeds_every_figure_table_and_notebook(built):
    run, report = built
    results = embedded_results(report.read_text(encoding="utf-8"))
    expected = [f"figures/{f}.png" for f in FIGURES] + [f"tables/{t}.html" for t in TABLES]
    expected += [f"notebooks/{n}.html" for n in NOTEBOOKS]
    for name in expected:
        path = f"results/{RUN}/{name}"
        assert path in results, f"{path} is not in the report"
        assert decoded(results[path]["data_uri"]) == (run.results / name).read_bytes(), path


def test_report_renders_in_chromium_with_every_figure_shown(built, chromium, tmp_path):
    run, report = built
    screenshot = tmp_path / "report.png"
    browse(chromium, report, tmp_path / "profile-landing", f"--screenshot={screenshot}")
    assert_not_blank(screenshot, (1400, 1000))

    page = with_script(report, CHECK_SCRIPT, "report_check.html")
    dom = browse(chromium, page, tmp_path / "profile-check", "--dump-dom").stdout
    match = re.search(r'<pre id="report-check">(.*?)</pre>', dom, re.S)
    assert match, "the report's app did not finish rendering"
    check = json.loads(html.unescape(match.group(1)))

    for category in CATEGORIES:
        assert category in check["landing"], f"category {category!r} missing from the report"
        assert category in check["categories"]
    for text in [check["landing"], *check["categories"].values()]:
        assert not ERROR_TEXT.search(text), text[:2000]
    for figure in FIGURES:
        path = f"results/{RUN}/figures/{figure}.png"
        state = check["shown"].get(path, {})
        assert state.get("shown"), f"{path} did not display in the report"
        with Image.open(run.results / "figures" / f"{figure}.png") as image:
            assert (state["width"], state["height"]) == image.size
    for name in [f"tables/{t}.html" for t in TABLES] + [f"notebooks/{n}.html" for n in NOTEBOOKS]:
        assert check["shown"].get(f"results/{RUN}/{name}", {}).get("shown"), f"{name} did not display"

    figure_page = with_script(report, SHOW_SCRIPT % json.dumps("figures/study1/odds_ratios.png"), "report_figure.html")
    figure_shot = tmp_path / "report_figure.png"
    browse(chromium, figure_page, tmp_path / "profile-figure", f"--screenshot={figure_shot}")
    assert_not_blank(figure_shot, (1400, 1000))
