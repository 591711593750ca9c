"""report.html: written and logged by every run, rebuilt by `mlscale report`, generic sections rendered."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import numpy as np
import pytest
from conftest import cli_in_process

from mlscale.errors import ReportError
from mlscale.report.collect import generic_sections, metrics_table
from mlscale.report.page import ReportData
from mlscale.report.render import CSP, render, write_html
from mlscale.report.section import ReportImage, ReportSection, ReportTable

ROOT = Path(__file__).resolve().parents[2]
BUILT_IN = ["recipe", "data", "metrics", "timings", "versions"]


def _png() -> bytes:
    from io import BytesIO

    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 1))
    fig.subplots().plot([0, 1], [1, 0])
    buf = BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _section_ids(html: str) -> list[str]:
    return re.findall(r'<section id="section-([\w.-]+)"', html)


def _fabricated(root: Path) -> Path:
    folder = root / "report" / "fairness"
    folder.mkdir(parents=True)
    (folder / "gap.png").write_bytes(_png())
    section = ReportSection(
        title="Fairness <check>",
        order=45,
        notes=["gap by group"],
        tables=[
            ReportTable(title="Gap", columns=["group", "gap"], rows=[["a", np.float64(0.25)], ["b", None]])
        ],
        images=[ReportImage(file="gap.png", caption="gap per group")],
    )
    (folder / "section.json").write_text(section.to_json())
    return root / "report"


def test_a_section_survives_json_and_numpy_values_become_plain() -> None:
    section = ReportSection(
        title="t",
        order=40,
        notes=["n"],
        tables=[ReportTable(title="x", columns=["a", "b"], rows=[[np.int64(3), float("nan")]])],
        images=[ReportImage(file="a.png", caption="c")],
    )
    back = ReportSection.from_json(section.to_json())
    assert back.tables[0].rows == [[3, None]]
    assert back == ReportSection.from_json(back.to_json())
    assert back.images == [ReportImage(file="a.png", caption="c")]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"order": 1}', "KeyError"),
        ('{"title": "x", "images": [{"file": "../etc/passwd"}]}', "plain file name"),
        ("[1]", "expected an object"),
        ('{"title": "x", "tables": [{"columns": ["a"]}]}', "rows"),
    ],
)
def test_a_malformed_section_names_the_file(text: str, problem: str) -> None:
    with pytest.raises(ReportError, match=rf"report/x/section.json: not a report section .*{problem}"):
        ReportSection.from_json(text, where="report/x/section.json")


def test_a_generic_section_is_rendered_in_its_order_with_its_image_embedded(tmp_path) -> None:
    sections = generic_sections(_fabricated(tmp_path))
    assert [s.key for s in sections] == ["fairness"]
    assert sections[0].images[0].data_uri.startswith("data:image/png;base64,iVBOR")
    around = [
        ReportSection(key="late", title="Late", order=60),
        ReportSection(key="early", title="Early", order=30),
    ]
    html = render(ReportData(title="t", facts=[("run", "r")], sections=[*around, *sections]))
    assert _section_ids(html) == ["early", "fairness", "late"]
    assert "Fairness &lt;check&gt;" in html  # escaped
    assert '<td class="num">0.25</td>' in html
    assert 'alt="gap per group"' in html
    assert f'content="{CSP}"' in html
    assert "<script" not in html


def test_a_section_image_missing_from_the_run_is_an_error(tmp_path) -> None:
    root = _fabricated(tmp_path)
    (root / "fairness" / "gap.png").unlink()
    with pytest.raises(ReportError, match=r"report/fairness: image 'gap\.png' is not in the run"):
        generic_sections(root)


def test_metrics_table_puts_the_models_side_by_side() -> None:
    table = metrics_table(
        {"test_auc": 0.9, "valid_auc": 0.95, "baseline_test_auc": 0.88, "reference_test_auc": 0.91,
         "constant_test_auc": 0.5, "rounds": 10.0, "time_train_s": 1.0}
    )  # fmt: skip
    assert table.columns == ["metric", "constant (train prior)", "untuned", "tuned",
                             "reference (HistGradientBoosting)"]  # fmt: skip
    assert table.rows == [["valid_auc", None, None, 0.95, None], ["test_auc", 0.5, 0.88, 0.9, 0.91]]
    assert metrics_table({"test_rmse": 2.0}).columns == ["metric", "model"]


def test_the_page_is_written_atomically_and_readable(tmp_path) -> None:
    target = tmp_path / "out" / "report.html"
    write_html(ReportData(title="t", facts=[], sections=[]), target)
    assert target.read_text().startswith("<!DOCTYPE html>")
    assert target.stat().st_mode & 0o044  # others may read it, as a plain open() would make it
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]  # no temp file left


def test_writing_the_page_leaves_the_umask_alone(tmp_path, monkeypatch) -> None:
    """os.umask reads the mask only by setting it: for that moment every file any thread creates would be
    world-writable. The page's mode comes from the file system instead, as a plain open() gives it."""
    real = os.umask
    calls: list[int] = []
    monkeypatch.setattr(os, "umask", lambda mask: calls.append(mask) or real(mask))
    target = tmp_path / "report.html"
    write_html(ReportData(title="t", facts=[], sections=[]), target)
    assert calls == []
    mask = real(0o022)
    real(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask


CASES = {
    # recipe, overrides, the task's primary metric, whether it tunes
    "binary": ("breast_cancer.yaml", ["--set", "tune.num_samples=4"], "test_auc", True),
    "multiclass": ("wine.yaml", ["--set", "tune.num_samples=3"], "test_accuracy", True),
    "regression": ("diabetes.yaml", [], "test_rmse", False),
}


@pytest.mark.parametrize("task", sorted(CASES))
def test_a_run_writes_and_logs_its_report_and_mlscale_report_rebuilds_it(
    task, workdir, capsys, cli_state
) -> None:
    from mlflow.tracking import MlflowClient

    recipe, sets, primary, tuned = CASES[task]
    code, out, err = cli_in_process(["run", str(ROOT / "recipes" / recipe), "-q", *sets], capsys)
    assert code == 0, err
    name = recipe.removesuffix(".yaml")
    page = workdir / "output" / name / "report.html"
    assert f"output/{name}/report.html" in out
    html = page.read_text()
    expected = [
        "recipe",
        "data",
        "metrics",
        "evaluation",
        "explanations",
        *(["tuning"] if tuned else []),
        "timings",
        "versions",
    ]
    assert _section_ids(html) == expected
    assert "<script" not in html and 'http-equiv="Content-Security-Policy"' in html
    assert len(re.findall(r'<img src="data:image/png;base64,', html)) >= (6 if tuned else 3)
    assert re.search(rf"<td>{primary}</td><td class=\"num\">[0-9.]+</td>", html)  # constant baseline
    assert "reference (HistGradientBoosting)" in html and ("untuned" in html) == tuned
    assert "Rows per split" in html and "missing share" in html and "Learning curves" in html
    assert ("Parameter importance" in html) == tuned
    assert "time_" not in re.findall(r"Seconds per phase.*?</table>", html, re.S)[0]

    client = MlflowClient(f"sqlite:///{workdir}/mlflow.db")
    run = client.search_runs([client.get_experiment_by_name(name).experiment_id], "tags.`recipe.name` != ''")
    parent = next(r for r in run if "mlscale.trial_id" not in r.data.tags)
    logged = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"report.html", "report", "recipe.yaml", "plots"} <= logged
    assert parent.data.metrics["time_report_s"] > 0
    assert f"constant_{primary}" in parent.data.metrics

    rebuilt = workdir / "again.html"
    link = f"http://127.0.0.1:5000/#/experiments/{parent.info.experiment_id}/runs/{parent.info.run_id}"
    code, out, err = cli_in_process(["report", link, "--out", str(rebuilt)], capsys)
    assert code == 0, err
    again = rebuilt.read_text()
    assert _section_ids(again) == expected
    table = re.compile(r"Scores by split.*?</table>", re.S)
    assert table.findall(again) == table.findall(html)  # one code path: the same numbers

    from mlscale.report.build import rebuild  # the API, as at the end of mlscale.run: no MLflow progress bars

    rebuild(parent.info.run_id, tracking_uri=f"sqlite:///{workdir}/mlflow.db", out=workdir / "api.html")
    assert "Downloading artifacts" not in capsys.readouterr().err


def test_mlscale_report_refuses_what_is_not_an_mlscale_run(workdir, capsys, cli_state) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{workdir}/mlflow.db")
    run = client.create_run(client.create_experiment("other"))
    code, _, err = cli_in_process(["report", run.info.run_id], capsys)
    assert code == 2 and "is not an mlscale run" in err
    code, _, err = cli_in_process(["report", "nope"], capsys)
    assert code == 2 and "'nope' is not a run id, a runs:/ URI or an MLflow run link" in err
    code, _, err = cli_in_process(["report", "0" * 32], capsys)
    assert code == 2 and f"run {'0' * 32} not found" in err


def test_compare_html_writes_the_same_kind_of_page(workdir, capsys, cli_state) -> None:
    sets = ["--set", "tune=null", "--set", "predict=null", "-q"]
    code, _, err = cli_in_process(["run", str(ROOT / "recipes/diabetes.yaml"), *sets], capsys)
    assert code == 0, err
    assert (workdir / "output" / "report.html").is_file()  # no predict section: output/report.html
    code, out, err = cli_in_process(["compare", "--html", "cmp.html", "--out", "cmp"], capsys)
    assert code == 0, err
    html = (workdir / "cmp.html").read_text()
    assert "cmp.html" in out
    assert _section_ids(html) == ["table"]
    assert "<th>phase</th>" in html and html.count('<img src="data:image/png;base64,') == 1
