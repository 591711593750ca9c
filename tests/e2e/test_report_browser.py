"""report.html in a real browser: headless Chromium (OS package) with the network cut off.

`make test` installs Chromium where it runs as root with apt-get; elsewhere these tests are skipped with
the reason, unless MLSCALE_REQUIRE_BROWSER=1, where a missing browser fails them.
The screenshot is kept in test-artifacts/ (ignored by git) and its path printed.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from chromium import find_chromium, view
from conftest import cli_in_process

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
SECTIONS = [
    "recipe",
    "data",
    "metrics",
    "evaluation",
    "fairness",
    "explanations",
    "tuning",
    "timings",
    "versions",
]


@pytest.fixture(scope="module")
def chromium() -> str:
    found = find_chromium()
    if found is None:
        reason = "no Chromium here (make test installs it as root with apt-get: chromium-headless-shell)"
        if os.environ.get("MLSCALE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"MLSCALE_REQUIRE_BROWSER=1 but {reason}")
        print(f"skipping the browser tests: {reason}")
        pytest.skip(reason)
    return found


def _log_fabricated_section(tracking_db: Path, run_id: str) -> None:
    """What another phase (or tool) adds without the report's code: report/<name>/section.json + image."""
    from io import BytesIO

    from matplotlib.figure import Figure
    from mlflow.tracking import MlflowClient

    from mlscale.report.section import ReportImage, ReportSection, ReportTable

    fig = Figure(figsize=(3, 2))
    fig.subplots().bar(["a", "b"], [0.1, 0.3])
    buf = BytesIO()
    fig.savefig(buf, format="png")
    client = MlflowClient(f"sqlite:///{tracking_db}")
    folder = tracking_db.parent / "fabricated" / "fairness"
    folder.mkdir(parents=True)
    (folder / "gap.png").write_bytes(buf.getvalue())
    section = ReportSection(title="Fairness", order=45, notes=["a fabricated section"],
                            tables=[ReportTable(title="Gap", columns=["group", "gap"], rows=[["a", 0.1]])],
                            images=[ReportImage(file="gap.png", caption="gap per group")])  # fmt: skip
    (folder / "section.json").write_text(section.to_json())
    client.log_artifacts(run_id, str(folder), "report/fairness")


def test_the_report_loads_offline_with_every_image_decoded(chromium, workdir, capsys, cli_state) -> None:
    recipe = ROOT / "recipes/breast_cancer.yaml"
    code, _, err = cli_in_process(["run", str(recipe), "-q", "--set", "tune.num_samples=4"], capsys)
    assert code == 0, err
    page = workdir / "output/breast_cancer/report.html"
    run_id = view(page, binary=chromium).link.rsplit("/", 1)[-1]  # the run's own page, as written
    _log_fabricated_section(workdir / "mlflow.db", run_id)
    code, out, err = cli_in_process(["report", run_id, "--out", "rebuilt.html"], capsys)
    assert out.strip() == "rebuilt.html"
    assert code == 0, err

    seen = view(workdir / "rebuilt.html", binary=chromium)
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    shot.write_bytes(seen.screenshot)
    shutil.copy(workdir / "rebuilt.html", ARTIFACTS / "report.html")
    with capsys.disabled():
        print(f"\nreport screenshot: {shot} ({len(seen.screenshot):,} bytes)")

    assert seen.requests == [] and seen.resources == []  # nothing asked of any network
    assert seen.scripts == 0
    assert len(seen.images) >= 8
    assert all(i["complete"] and i["width"] > 0 and i["height"] > 0 for i in seen.images), seen.images
    assert {i["scheme"] for i in seen.images} == {"data"}
    assert [s["id"].removeprefix("section-") for s in seen.sections] == SECTIONS
    assert [s["order"] for s in seen.sections] == sorted(s["order"] for s in seen.sections)
    assert all(s["tables"] >= 1 and s["text"] > 50 for s in seen.sections if s["id"] != "section-recipe")
    assert seen.link is not None and seen.link.endswith(f"/runs/{run_id}")
    assert seen.title == "mlscale run: breast_cancer"
    assert seen.screenshot.startswith(b"\x89PNG") and len(seen.screenshot) > 50_000


def test_the_browser_check_sees_a_request_and_a_broken_image(chromium, tmp_path) -> None:
    """The checks above can fail: a remote image is requested (and blocked), a bad data: URI decodes to 0."""
    page = tmp_path / "bad.html"
    page.write_text(
        '<html><body><img src="http://example.invalid/x.png"><img src="data:image/png;base64,AAAA">'
        "<section id='section-x'><h2>x</h2></section></body></html>"
    )
    seen = view(page, binary=chromium)
    assert seen.requests == ["http://example.invalid/x.png"]
    assert [i["width"] for i in seen.images] == [0, 0]
