"""`mlscale kuberay --autoscale`: KubeRay's in-tree autoscaler, golden-tested, and every rendered manifest valid
against the KubeRay CRD's own schema (ray.io/v1, vendored trimmed in tests/data/kuberay_crd)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from conftest import cli_in_process

from mlscale.deploy.autoscaling import Autoscaling
from mlscale.deploy.kuberay import render_raycluster, render_rayjob_file
from mlscale.errors import RecipeError
from mlscale.recipe.load import validate

REPO = Path(__file__).resolve().parents[2]
KUBERAY = REPO / "configs" / "kuberay"
CRD = REPO / "tests" / "data" / "kuberay_crd"
REGENERATE = (
    'regenerate: .venv/bin/python -c "from mlscale.deploy import kuberay as k; '
    "from mlscale.deploy.autoscaling import Autoscaling as A; "
    "open('configs/kuberay/rayjob-autoscaling.yaml', 'w').write(k.render_rayjob_file("
    "'recipes/breast_cancer.yaml', overrides=['engine.workers=2'], autoscaling=A(max_workers=4))); "
    "open('configs/kuberay/raycluster-autoscaling.yaml', 'w').write(k.render_raycluster(autoscaling=A()))\""
)


def _schema(kind: str) -> dict[str, Any]:
    return json.loads((CRD / f"ray.io_{kind.lower()}s.v1.json").read_text())


def _unknown_keys(doc: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Keys the schema does not declare (Kubernetes drops them silently, so jsonschema alone would pass)."""
    if isinstance(doc, list):
        return [
            k
            for i, item in enumerate(doc)
            for k in _unknown_keys(item, schema.get("items", {}), f"{path}[{i}]")
        ]
    if not isinstance(doc, dict) or schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    props, extra = schema.get("properties", {}), schema.get("additionalProperties")
    found = []
    for key, value in doc.items():
        if key in props:
            found += _unknown_keys(value, props[key], f"{path}.{key}")
        elif isinstance(extra, dict):
            found += _unknown_keys(value, extra, f"{path}.{key}")
        elif path in ("", ".metadata"):
            continue  # apiVersion / kind / metadata: the API server's, not the CRD's
        else:
            found.append(f"{path}.{key}")
    return found


def _valid(text: str) -> dict[str, dict[str, Any]]:
    """The manifest's objects by kind, each KubeRay object checked against its CRD."""
    docs = {d["kind"]: d for d in yaml.safe_load_all(text) if d is not None}
    for kind, doc in docs.items():
        if kind == "ConfigMap":
            continue
        schema = _schema(kind)
        jsonschema.Draft4Validator(schema).validate(doc)
        assert _unknown_keys(doc, schema) == [], kind
    return docs


@pytest.mark.parametrize(
    "name", ["rayjob.yaml", "raycluster.yaml", "rayjob-autoscaling.yaml", "raycluster-autoscaling.yaml"]
)
def test_every_checked_in_manifest_is_valid_against_the_kuberay_crd(name):
    _valid((KUBERAY / name).read_text())


def test_the_crd_check_catches_a_misspelt_field_and_a_bad_upscaling_mode():
    job = _valid((KUBERAY / "rayjob-autoscaling.yaml").read_text())["RayJob"]
    spec = job["spec"]["rayClusterSpec"]
    spec["autoscalerOptions"]["idleTimeout"] = 60
    assert _unknown_keys(job, _schema("RayJob")) == [".spec.rayClusterSpec.autoscalerOptions.idleTimeout"]
    del spec["autoscalerOptions"]["idleTimeout"]
    spec["autoscalerOptions"]["upscalingMode"] = "Fast"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(_schema("RayJob")).validate(job)


def test_checked_in_autoscaling_manifests_are_what_render_produces(monkeypatch):
    monkeypatch.chdir(REPO)
    job = render_rayjob_file(
        "recipes/breast_cancer.yaml", overrides=["engine.workers=2"], autoscaling=Autoscaling(max_workers=4)
    )
    assert (KUBERAY / "rayjob-autoscaling.yaml").read_text() == job, REGENERATE
    assert (KUBERAY / "raycluster-autoscaling.yaml").read_text() == render_raycluster(
        autoscaling=Autoscaling()
    ), REGENERATE


def test_autoscaling_rayjob_scales_its_workers_from_zero_and_its_recipe_names_the_group():
    docs = _valid(
        render_rayjob_file(
            REPO / "recipes/breast_cancer.yaml",
            overrides=["engine.workers=2"],
            autoscaling=Autoscaling(max_workers=4, idle_timeout_s=30, upscaling_mode="Conservative"),
        )
    )
    spec = docs["RayJob"]["spec"]["rayClusterSpec"]
    assert spec["enableInTreeAutoscaling"] is True
    assert spec["autoscalerOptions"] == {"upscalingMode": "Conservative", "idleTimeoutSeconds": 30}
    (group,) = spec["workerGroupSpecs"]
    assert (group["replicas"], group["minReplicas"], group["maxReplicas"]) == (0, 0, 4)
    recipe = validate(yaml.safe_load(docs["ConfigMap"]["data"]["recipe.yaml"]))
    assert [(g.name, g.cpus, g.max) for g in recipe.engine.ray.node_groups] == [("workers", 2, 4)]


def test_without_autoscale_the_group_is_fixed_and_no_autoscaler_runs():
    spec = _valid(render_rayjob_file(REPO / "recipes/breast_cancer.yaml"))["RayJob"]["spec"]["rayClusterSpec"]
    assert "enableInTreeAutoscaling" not in spec and "autoscalerOptions" not in spec
    (group,) = spec["workerGroupSpecs"]
    assert group["replicas"] == group["minReplicas"] == group["maxReplicas"] == 1


@pytest.mark.parametrize(
    ("scaling", "message"),
    [
        (Autoscaling(max_workers=1), "engine.workers=2 needs 2 worker pods, more than --max-workers 1"),
        (Autoscaling(min_workers=3, max_workers=2), "0 <= min <= max"),
        (Autoscaling(idle_timeout_s=-1), "--idle-timeout -1 must be >= 0"),
    ],
)
def test_bounds_that_cannot_hold_the_recipe_are_refused_in_one_line(scaling, message):
    with pytest.raises(RecipeError) as refused:
        render_rayjob_file(
            REPO / "recipes/breast_cancer.yaml", overrides=["engine.workers=2"], autoscaling=scaling
        )
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_cli_autoscale_options(capsys, cli_state):
    recipe = str(REPO / "recipes/breast_cancer.yaml")
    code, out, _ = cli_in_process(
        [
            "kuberay",
            recipe,
            "--set",
            "engine.workers=2",
            "--autoscale",
            "--max-workers",
            "3",
            "--idle-timeout",
            "120",
        ],
        capsys,
    )
    assert code == 0
    spec = _valid(out)["RayJob"]["spec"]["rayClusterSpec"]
    assert spec["autoscalerOptions"]["idleTimeoutSeconds"] == 120
    assert spec["workerGroupSpecs"][0]["maxReplicas"] == 3
    code, _, err = cli_in_process(["kuberay", recipe, "--max-workers", "3"], capsys)
    assert code == 2 and "--max-workers needs --autoscale" in err
