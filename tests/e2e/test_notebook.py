"""examples/quickstart.ipynb executed headlessly (nbclient + ipykernel), top to bottom as a user runs it.

The notebook is executed once for the module: local run, the same on a private Ray, the comparison, the plot
and the Ray Client cell against the session's 2-node cluster (token auth on). Everything it writes goes to a
temp dir (MLflow sqlite store and artifacts, predictions, plots, tune state).
"""

from __future__ import annotations

import base64
import importlib.util
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "examples" / "quickstart.ipynb"
AUC_TOLERANCE = 0.03  # the parity tolerance of the ray-vs-local tests
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _generator():
    spec = importlib.util.spec_from_file_location("make_quickstart", ROOT / "examples" / "make_quickstart.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_notebook_is_stored_without_outputs_and_matches_its_generator():
    import nbformat

    assert NOTEBOOK.read_text() == _generator().render(), "run: python examples/make_quickstart.py"
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


@dataclass
class Executed:
    nb: object
    work: Path
    seconds: float

    def cell(self, cell_id: str):
        return next(c for c in self.nb.cells if c.get("id") == cell_id)  # type: ignore[attr-defined]

    def runs(self) -> dict[str, dict[str, str | float]]:
        """The notebook's parent runs by run name: {"quickstart-local": {"engine": ..., "test_auc": ...}}."""
        from mlflow import MlflowClient

        client = MlflowClient(f"sqlite:///{self.work / 'mlflow.db'}")
        experiment = client.get_experiment_by_name("breast_cancer")
        assert experiment is not None, "the notebook logged no run"
        return {
            r.data.tags["mlflow.runName"]: {**r.data.tags, **r.data.metrics}
            for r in client.search_runs([experiment.experiment_id])
            if "mlflow.parentRunId" not in r.data.tags
        }


def _kernel_name(tmp: Path, mp: pytest.MonkeyPatch) -> str:
    """`python3` when its kernelspec runs this interpreter; else a kernelspec of our own in a temp dir."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        argv0 = KernelSpecManager().get_kernel_spec("python3").argv[0]
    except NoSuchKernel:
        argv0 = ""
    # jupyter_client starts "python" / "python3" / "python3.X" as sys.executable
    if argv0 in {"python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info[:2])}:
        return "python3"
    if argv0 == sys.executable:
        return "python3"
    from ipykernel.kernelspec import install

    install(kernel_name="mlscale-test", prefix=str(tmp / "jupyter"))
    mp.setenv("JUPYTER_PATH", str(tmp / "jupyter" / "share" / "jupyter"))
    return "mlscale-test"


@pytest.fixture(scope="module")
def executed(ray_head, tmp_path_factory) -> Executed:
    """The notebook run once; the kernel inherits os.environ (token auth from `ray_auth_env` included)."""
    import nbformat
    from nbclient import NotebookClient

    tmp = tmp_path_factory.mktemp("notebook")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.setenv("MLSCALE_REPO", str(ROOT))
        mp.setenv("MLSCALE_NOTEBOOK_WORKDIR", str(tmp / "work"))
        mp.setenv("MLSCALE_HOME", str(tmp / "home"))  # tune state
        mp.setenv("MLSCALE_RAY_CLIENT_ADDRESS", ray_head.client)
        client = NotebookClient(
            nb,
            kernel_name=_kernel_name(tmp, mp),
            timeout=600,
            allow_errors=True,  # every cell runs; each test reports the errors of the cells it checks
            resources={"metadata": {"path": str(tmp)}},  # the kernel's cwd: not the checkout
        )
        started = time.perf_counter()
        client.execute()
    seconds = time.perf_counter() - started
    print(f"quickstart.ipynb executed in {seconds:.1f} s")
    return Executed(nb, tmp / "work", seconds)


def _errors(cell) -> str:
    return "\n".join(
        f"{o.ename}: {o.evalue}\n" + _ANSI.sub("", "\n".join(o.traceback))[-3000:]
        for o in cell.outputs
        if o.output_type == "error"
    )


def _text(cell) -> str:
    parts = []
    for o in cell.outputs:
        if o.output_type == "stream":
            parts.append(o.text)
        elif o.output_type in ("execute_result", "display_data"):
            parts += [o.data.get("text/plain", ""), o.data.get("text/html", "")]
    return "\n".join(parts)


@pytest.mark.ray
def test_every_cell_runs_without_errors(executed):
    for cell in executed.nb.cells:
        if cell.cell_type == "code" and cell.id != "ray-client":  # that one: its own test below
            assert cell.execution_count is not None, cell.id
            assert not _errors(cell), f"cell {cell.id}:\n{_errors(cell)}"
    assert "MLSCALE_RAY_CLIENT_ADDRESS is not set" not in _text(executed.cell("ray-client"))


@pytest.mark.ray
def test_comparison_shows_both_engines_at_parity(executed):
    shown = _text(executed.cell("compare"))
    for word in ("local", "ray", "ray - local", "ray / local", "test_auc", "time_train_s", "time_startup_s"):
        assert word in shown, word
    runs = executed.runs()
    assert runs["quickstart-local"]["engine"] == "local"
    assert runs["quickstart-ray"]["engine"] == "ray" and runs["quickstart-ray"]["cluster.nodes"] == "1"
    assert runs["quickstart-dask"]["engine"] == "dask"
    assert "dask - local" in shown and "dask / local" in shown
    local = float(runs["quickstart-local"]["test_auc"])
    assert local >= 0.9
    for engine in ("ray", "dask"):
        other = float(runs[f"quickstart-{engine}"]["test_auc"])
        assert abs(local - other) <= AUC_TOLERANCE, (engine, local, other)
        assert f"{engine} {other:.4f}, gap {abs(local - other):.4f}" in shown
    assert (executed.work / "ray" / "predictions.parquet").is_file()
    assert (executed.work / "dask" / "predictions.parquet").is_file()
    assert (executed.work / "mlruns").is_dir()  # MLflow's artifacts stay in the scratch folder


@pytest.mark.ray
def test_plot_cell_draws_the_timings_and_shows_a_run_plot(executed):
    cell = executed.cell("plot")
    assert not _errors(cell), _errors(cell)
    pngs = [
        base64.b64decode(o.data["image/png"])
        for o in cell.outputs
        if o.output_type in ("display_data", "execute_result") and "image/png" in o.data
    ]
    assert len(pngs) == 2, [o.output_type for o in cell.outputs]  # the bars, then roc_pr.png of the ray run
    assert all(p.startswith(b"\x89PNG\r\n\x1a\n") and len(p) > 5000 for p in pngs)
    assert "roc_pr.png" in _text(cell)


@pytest.mark.ray
def test_ray_client_cell_runs_on_the_two_node_cluster(executed):
    cell = executed.cell("ray-client")
    assert not _errors(cell), _errors(cell)
    assert "via Ray Client: 2 node(s)" in _text(cell)
    runs = executed.runs()
    run = runs["quickstart-ray-client"]
    assert run["engine"] == "ray" and run["cluster.nodes"] == "2"
    assert abs(float(run["test_auc"]) - float(runs["quickstart-local"]["test_auc"])) <= AUC_TOLERANCE
