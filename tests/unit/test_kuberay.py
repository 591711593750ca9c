"""KubeRay manifests: the rendered RayJob and the files in configs/kuberay/ have the fields KubeRay requires.

Field names and types follow the ray.io/v1 API (KubeRay rayjob_types.go / raycluster_types.go): rayStartParams is
map[string]string, workerGroupSpecs need groupName/minReplicas/maxReplicas/template, runtimeEnvYAML is a string,
token auth is spec.authOptions.mode=token with rayVersion >= 2.52. No cluster is needed (nothing is started).
"""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlscale.deploy.kuberay import (
    k8s_name,
    render_raycluster,
    render_rayjob,
    render_rayjob_file,
    requirements,
    strip_credentials,
)
from mlscale.errors import RecipeError
from mlscale.recipe import load_recipe
from mlscale.recipe.load import validate

REPO = Path(__file__).resolve().parents[2]
BREAST = REPO / "recipes" / "breast_cancer.yaml"
KUBERAY = REPO / "configs" / "kuberay"
RAY = metadata.version("ray")
DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
REGENERATE = (
    'regenerate: .venv/bin/python -c "from mlscale.deploy import kuberay as k; '
    "open('configs/kuberay/rayjob.yaml', 'w').write(k.render_rayjob_file('recipes/breast_cancer.yaml')); "
    "open('configs/kuberay/raycluster.yaml', 'w').write(k.render_raycluster())\""
)


def _docs(text: str) -> dict[str, dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(text) if d is not None]
    by_kind = {d["kind"]: d for d in docs}
    assert len(by_kind) == len(docs), "one object of each kind"
    return by_kind


def _image_ray_version(image: str) -> str:
    match = re.fullmatch(r"rayproject/ray:(\d+\.\d+\.\d+)-py311(-gpu)?", image)
    assert match, image
    return match.group(1)


def _check_pod_template(template: dict[str, Any], *, stock_image: bool = True) -> list[dict[str, Any]]:
    containers = template["spec"]["containers"]
    assert isinstance(containers, list) and containers
    for c in containers:
        assert DNS1123_LABEL.match(c["name"]) and isinstance(c["image"], str) and c["image"]
        if stock_image:
            assert _image_ray_version(c["image"]) == RAY
        resources = c["resources"]
        assert resources["requests"] == resources["limits"], "requests = limits (Guaranteed QoS)"
        assert all(isinstance(v, str) for v in resources["limits"].values())
    return containers


def _check_cluster_spec(
    spec: dict[str, Any], *, workers: int, cpus: int, gpus: int = 0, stock_image: bool = True
) -> None:
    """What KubeRay requires of a RayClusterSpec, plus what mlscale promises (token auth, sizing)."""
    assert spec["rayVersion"] == RAY
    assert spec["authOptions"] == {"mode": "token"}
    head = spec["headGroupSpec"]
    assert isinstance(head["rayStartParams"], dict)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in head["rayStartParams"].items())
    assert head["rayStartParams"]["num-cpus"] == "0", "the head takes no Ray work"
    (head_container,) = _check_pod_template(head["template"], stock_image=stock_image)
    ports = {p["name"]: p["containerPort"] for p in head_container["ports"]}
    assert ports == {"gcs-server": 6379, "dashboard": 8265, "client": 10001}
    envs = head_container.get("env", []) + head_container.get("envFrom", [])
    assert not any("RAY_AUTH_TOKEN" in str(e) for e in envs), "the operator injects the token, never us"

    (group,) = spec["workerGroupSpecs"]
    assert DNS1123_LABEL.match(group["groupName"])
    for key in ("replicas", "minReplicas", "maxReplicas"):
        assert type(group[key]) is int and group[key] == workers, key
    params = group["rayStartParams"]
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in params.items())
    assert params["num-cpus"] == str(cpus)
    (worker,) = _check_pod_template(group["template"], stock_image=stock_image)
    limits = worker["resources"]["limits"]
    assert limits["cpu"] == str(cpus)
    assert re.fullmatch(r"\d+Gi", limits["memory"])
    if gpus:
        assert limits["nvidia.com/gpu"] == str(gpus) and params["num-gpus"] == str(gpus)
        assert worker["image"].endswith("-gpu") or not stock_image
    else:
        assert "nvidia.com/gpu" not in limits and "num-gpus" not in params


def _check_rayjob(
    text: str, *, workers: int, cpus: int, gpus: int = 0, stock_image: bool = True
) -> tuple[dict[str, Any], dict[str, Any]]:
    docs = _docs(text)
    assert set(docs) == {"ConfigMap", "RayJob"}
    cm, job = docs["ConfigMap"], docs["RayJob"]
    assert (cm["apiVersion"], job["apiVersion"]) == ("v1", "ray.io/v1")
    name = job["metadata"]["name"]
    assert DNS1035.match(name) and len(name) <= 47, name  # KubeRay: MaxRayJobNameLength, DNS-1035
    assert DNS1123_SUBDOMAIN.match(cm["metadata"]["name"]) and len(cm["metadata"]["name"]) <= 253
    spec = job["spec"]
    assert spec["submissionMode"] == "K8sJobMode"
    assert spec["shutdownAfterJobFinishes"] is True and type(spec["ttlSecondsAfterFinished"]) is int
    _check_cluster_spec(
        spec["rayClusterSpec"], workers=workers, cpus=cpus, gpus=gpus, stock_image=stock_image
    )

    # The entrypoint runs mlscale on the recipe the head mounts from the ConfigMap.
    assert spec["entrypoint"] == "mlscale run --trust-recipe /recipes/recipe.yaml"
    head_pod = spec["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]
    (mount,) = head_pod["containers"][0]["volumeMounts"]
    (volume,) = [v for v in head_pod["volumes"] if v["name"] == mount["name"]]
    assert mount["mountPath"] == "/recipes" and mount["readOnly"] is True
    assert volume["configMap"]["name"] == cm["metadata"]["name"]
    recipe = validate(yaml.safe_load(cm["data"]["recipe.yaml"]))
    assert (recipe.engine.name, recipe.engine.ray.address) == ("ray", "auto")
    assert recipe.engine.workers == workers
    return cm, job


def test_breast_cancer_rayjob_has_the_fields_kuberay_requires():
    recipe = load_recipe(BREAST)
    text = render_rayjob(recipe, source="recipes/breast_cancer.yaml")
    cm, job = _check_rayjob(text, workers=1, cpus=2)
    assert job["metadata"]["name"] == "breast-cancer" and "namespace" not in job["metadata"]
    in_cluster = validate(yaml.safe_load(cm["data"]["recipe.yaml"]))
    assert in_cluster.model_dump(exclude={"engine"}) == recipe.model_dump(exclude={"engine"})
    runtime_env = yaml.safe_load(job["spec"]["runtimeEnvYAML"])
    assert isinstance(job["spec"]["runtimeEnvYAML"], str) and set(runtime_env) == {"pip"}
    names = {re.split(r"[<>=!~\[ ]", r)[0] for r in runtime_env["pip"]}
    assert {"xgboost", "mlflow", "scikit-learn", "pandas", "pyarrow", "optuna"} <= names
    assert "ray" not in names, "the image's ray is the cluster's ray: pip must not bring another"
    assert runtime_env["pip"] == requirements()
    assert "MLFLOW_TRACKING_URI" in text and "Dockerfile" in text  # the header says what is still needed


def test_gpu_recipe_sizes_workers_from_the_engine_settings():
    recipe = load_recipe(
        BREAST,
        overrides={"engine.workers": 3, "engine.cpus_per_worker": 2, "engine.gpus_per_worker": 1},
    )
    text = render_rayjob(recipe, source="x.yaml", namespace="ml-team")
    _, job = _check_rayjob(text, workers=3, cpus=2, gpus=1)
    assert all(d["metadata"]["namespace"] == "ml-team" for d in _docs(text).values())
    assert job["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["image"] == (
        f"rayproject/ray:{RAY}-py311-gpu"
    )


def test_fractional_resources_round_up_to_whole_cpus_and_gpus():
    recipe = load_recipe(
        BREAST,
        overrides={"engine.workers": 2, "engine.cpus_per_worker": 1.5, "engine.gpus_per_worker": 0.5},
    )
    _check_rayjob(render_rayjob(recipe), workers=2, cpus=2, gpus=1)


def test_custom_image_is_the_whole_environment():
    recipe = load_recipe(BREAST)
    text = render_rayjob(recipe, image="registry.example.com/mlscale:0.1.0")
    _, job = _check_rayjob(text, workers=1, cpus=2, stock_image=False)
    assert "runtimeEnvYAML" not in job["spec"]
    images = {
        c["image"]
        for group in [
            job["spec"]["rayClusterSpec"]["headGroupSpec"],
            *job["spec"]["rayClusterSpec"]["workerGroupSpecs"],
        ]
        for c in group["template"]["spec"]["containers"]
    }
    assert images == {"registry.example.com/mlscale:0.1.0"}
    with_package = render_rayjob(
        recipe, package="mlscale @ https://example.com/mlscale-0.1.0-py3-none-any.whl"
    )
    pip = yaml.safe_load(_docs(with_package)["RayJob"]["spec"]["runtimeEnvYAML"])["pip"]
    assert (
        pip[-1].startswith("mlscale @ https://") and "Dockerfile" not in with_package.split("apiVersion")[0]
    )


def test_credentials_never_reach_the_manifest():
    recipe = load_recipe(BREAST, overrides={"mlflow.tracking_uri": "http://user:pass@host:5000"})
    text = render_rayjob(recipe)
    assert "pass" not in text and "user:" not in text
    cm, _ = _check_rayjob(text, workers=1, cpus=2)
    assert yaml.safe_load(cm["data"]["recipe.yaml"])["mlflow"]["tracking_uri"] == "http://host:5000"
    assert "Credentials were removed from 1 URI" in text
    assert "lost with" not in text, "an http server is durable: no warning about the pod's sqlite"
    assert strip_credentials({"a": ["s3://k:secret@b/x", 1]}) == ({"a": ["s3://b/x", 1]}, 1)
    odd = load_recipe(BREAST, overrides={"mlflow.tracking_uri": "https://alice:Zq9-x7@mlflow.example.com"})
    assert "Zq9-x7" not in render_rayjob(odd) and "alice" not in render_rayjob(odd)


@pytest.mark.parametrize(
    ("recipe_name", "expected"),
    [
        ("breast_cancer", "breast-cancer"),
        ("Wine.v2", "wine-v2"),
        ("2024_churn", "mlscale-2024-churn"),
        ("x" * 80, None),
        ("a__b..c--d_", "a-b-c-d"),
    ],
)
def test_names_are_dns_labels_kuberay_accepts(recipe_name, expected):
    name = k8s_name(recipe_name)
    assert DNS1035.match(name) and len(name) <= 47
    if expected:
        assert name == expected
    assert k8s_name("x" * 80) != k8s_name("x" * 81), "cut names keep a hash of the full name"


def test_bad_names_images_and_namespaces_are_refused():
    recipe = load_recipe(BREAST)
    for kwargs in ({"name": "Bad_Name"}, {"name": "a" * 48}, {"namespace": "Team A"}, {"image": "a b"}):
        with pytest.raises(RecipeError, match="kuberay"):
            render_rayjob(recipe, **kwargs)
    assert _docs(render_rayjob(recipe, name="nightly"))["RayJob"]["metadata"]["name"] == "nightly"


def test_checked_in_rayjob_is_what_render_produces_for_breast_cancer(monkeypatch):
    monkeypatch.chdir(REPO)  # the header names the recipe by its relative path
    text = (KUBERAY / "rayjob.yaml").read_text()
    _check_rayjob(text, workers=1, cpus=2)
    assert text == render_rayjob_file("recipes/breast_cancer.yaml"), REGENERATE


def test_checked_in_raycluster_has_the_required_structure_and_the_installed_ray():
    text = (KUBERAY / "raycluster.yaml").read_text()
    docs = _docs(text)
    assert set(docs) == {"RayCluster"}
    cluster = docs["RayCluster"]
    assert cluster["apiVersion"] == "ray.io/v1"
    assert DNS1035.match(cluster["metadata"]["name"]) and len(cluster["metadata"]["name"]) <= 53
    _check_cluster_spec(cluster["spec"], workers=2, cpus=2)
    assert text == render_raycluster(), REGENERATE


def test_dockerfile_builds_on_the_pinned_ray_image():
    text = (KUBERAY / "Dockerfile").read_text()
    (tag,) = re.findall(r"^ARG RAY_TAG=(\S+)$", text, flags=re.M)
    assert tag == f"{RAY}-py311"
    assert "FROM rayproject/ray:${RAY_TAG}" in text


def test_raycluster_renders_gpu_workers():
    cluster = _docs(render_raycluster(name="gpu-pool", workers=4, cpus_per_worker=8, gpus_per_worker=2))
    _check_cluster_spec(cluster["RayCluster"]["spec"], workers=4, cpus=8, gpus=2)
    with pytest.raises(RecipeError):
        render_raycluster(workers=0)


def test_rendering_imports_neither_ray_nor_mlflow():
    code = (
        "import sys; from mlscale.deploy.kuberay import render_rayjob_file; "
        f"render_rayjob_file({str(BREAST)!r}); "
        "bad = [m for m in ('ray', 'mlflow', 'xgboost') if m in sys.modules]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


@pytest.mark.parametrize(
    "package",
    [
        "mlscale @ https://user:s3cr3t@pypi.example.com/mlscale-0.1.0-py3-none-any.whl",
        "mlscale @ git+https://s3cr3t@github.com/org/mlscale.git",
        "mlscale @ https://bucket.s3.amazonaws.com/mlscale.whl?X-Amz-Signature=s3cr3t&X-Amz-Expires=60",
    ],
)
def test_a_package_url_with_credentials_is_refused(package, tmp_path, capsys):
    """The runtimeEnvYAML is readable by anyone who can read the RayJob: no credentials go there."""
    import os

    from mlscale.cli import main

    recipe = load_recipe(BREAST)
    with pytest.raises(RecipeError) as info:
        render_rayjob(recipe, package=package)
    message = str(info.value)
    assert "s3cr3t" not in message and len(message.splitlines()) == 1
    assert message.startswith("kuberay: package 'mlscale @ ") and "***" in message
    assert message.endswith(
        "holds credentials, which the RayJob manifest would show to anyone who can read it; "
        "give a URL without them, or an image with mlscale installed (--image)"
    )
    environ = dict(os.environ)
    try:
        with pytest.raises(SystemExit) as exited:
            main(["kuberay", str(BREAST), "--package", package, "--out", str(tmp_path / "job.yaml")])
    finally:
        os.environ.clear()
        os.environ.update(environ)
    out, err = capsys.readouterr()
    assert (exited.value.code, out, err) == (2, "", f"error: {message}\n")
    assert not (tmp_path / "job.yaml").exists()
