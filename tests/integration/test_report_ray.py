"""report.html of a run on engine ray (the session's 2-node cluster): same sections, the cluster's shape."""

from __future__ import annotations

import re
from pathlib import Path

import mlscale

ROOT = Path(__file__).resolve().parents[2]


def test_a_ray_run_writes_its_report_with_the_cluster_shape(ray_cluster, workdir) -> None:
    result = mlscale.run(
        ROOT / "recipes/wine.yaml",
        overrides={"engine.name": "ray", "engine.address": ray_cluster, "engine.workers": 2,
                   "tune.num_samples": 3},
    )  # fmt: skip
    assert result.report == Path("output/wine/report.html")
    html = result.report.read_text()
    sections = re.findall(r'<section id="section-([\w.-]+)"', html)
    assert sections == [
        "recipe",
        "data",
        "metrics",
        "evaluation",
        "explanations",
        "tuning",
        "timings",
        "versions",
    ]
    assert "<dt>engine</dt><dd>ray</dd>" in html
    assert f"<td>cluster.shape</td><td>{result.cluster.tags()['cluster.shape']}</td>" in html
    assert "<td>train.placement</td>" in html  # which worker trained on which node
    assert html.count('<img src="data:image/png;base64,') >= 6
