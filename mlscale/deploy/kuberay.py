"""KubeRay manifests: a RayJob that runs one recipe, and a RayCluster to work on interactively.

Pure rendering: imports neither ray nor mlflow (the Ray version comes from the installed package's metadata).

KubeRay fields used, checked against the ray.io/v1 API (KubeRay ray-operator/apis/ray/v1/rayjob_types.go and
raycluster_types.go; https://docs.ray.io/en/latest/cluster/kubernetes/references/api.html):
- RayJob spec: entrypoint, runtimeEnvYAML (a YAML *string*), submissionMode (K8sJobMode: a submitter pod runs
  `ray job submit`; the driver runs on the head), shutdownAfterJobFinishes, ttlSecondsAfterFinished,
  rayClusterSpec.
- RayClusterSpec: rayVersion, authOptions, headGroupSpec {rayStartParams, template}, workerGroupSpecs[]
  {groupName, replicas, minReplicas, maxReplicas, rayStartParams, template}; rayStartParams is a
  map[string]string, so every value is a string.
- Token authentication: `authOptions: {mode: token}` (KubeRay >= 1.5.1, Ray >= 2.52; KubeRay sample
  ray-operator/config/samples/ray-cluster.auth.yaml, PR ray-project/kuberay#4200 and #4201). The operator then
  creates a Secret holding a random token (key `auth_token`, named after the RayCluster) and sets RAY_AUTH_MODE
  and RAY_AUTH_TOKEN in every Ray container, the RayJob submitter included (kuberay#4235); see
  https://docs.ray.io/en/latest/cluster/kubernetes/user-guides/kuberay-auth.html. No token is ever rendered.
- Names: RayJob <= 47 characters, RayCluster <= 53, both DNS-1035 labels (KubeRay utils/validation.go,
  MaxRayJobNameLength = MaxRayClusterNameLength - 6 because the RayJob's cluster gets a 6-character suffix).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from mlscale._version import __version__
from mlscale.deploy.autoscaling import Autoscaling, autoscaled
from mlscale.deploy.autoscaling import note as autoscaling_note
from mlscale.errors import RecipeError, VersionError
from mlscale.recipe.load import validate
from mlscale.recipe.resolve import resolve_recipe
from mlscale.recipe.schema import Recipe
from mlscale.recipe.trust import require_confirmed
from mlscale.util.masking import has_credentials, mask_text, strip_credentials

PYTHON_TAG = (
    "py311"  # the tested Python (docs/guide.md, "Tested versions"); Ray Client needs the same minor locally
)
MIN_RAY_FOR_TOKEN_AUTH = (2, 52, 0)  # authOptions token mode is refused by KubeRay for older rayVersion
MAX_RAYJOB_NAME = 47
MAX_RAYCLUSTER_NAME = 53
RECIPE_DIR = "/recipes"  # where the head pod mounts the recipe ConfigMap
MLFLOW_SECRET = "mlscale-mlflow"  # optional Secret with MLFLOW_TRACKING_URI (+ USERNAME/PASSWORD), head only
HEAD_CPUS = 2  # the head runs GCS, the dashboard and the driver; Ray schedules no work there (num-cpus 0)
HEAD_MEMORY_GIB = 8
DEFAULT_WORKER_CPUS = 2  # engine.cpus_per_worker null: one worker per pod using all of the pod's CPUs
MEMORY_GIB_PER_CPU = 4
TTL_SECONDS_AFTER_FINISHED = 600  # keep the finished cluster 10 minutes for `kubectl logs`, then delete it

_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def ray_version() -> str:
    """The installed Ray's version, read from package metadata (ray is not imported)."""
    try:
        version = metadata.version("ray")
    except metadata.PackageNotFoundError:
        raise VersionError(
            "kuberay: ray is not installed, so there is no Ray version to pin the image to"
        ) from None
    parts = tuple(int(p) for p in re.findall(r"\d+", version)[:3])
    if parts < MIN_RAY_FOR_TOKEN_AUTH:
        need = ".".join(map(str, MIN_RAY_FOR_TOKEN_AUTH))
        raise VersionError(f"kuberay: token authentication needs ray >= {need}, installed {version}")
    return version


def default_image(*, gpu: bool = False) -> str:
    """rayproject/ray:<installed ray>-py311, or its -gpu (CUDA) variant."""
    return f"rayproject/ray:{ray_version()}-{PYTHON_TAG}{'-gpu' if gpu else ''}"


def k8s_name(text: str, max_len: int = MAX_RAYJOB_NAME) -> str:
    """A DNS-1035 label (lowercase letters, digits, '-', starting with a letter) of at most max_len."""
    slug = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9]+", "-", text.lower())).strip("-")
    if not slug or not slug[0].isalpha():
        slug = f"mlscale-{slug}".rstrip("-")
    if len(slug) > max_len:  # keep names unique when cutting: a short hash of the full text
        digest = hashlib.sha256(text.encode()).hexdigest()[:6]
        slug = f"{slug[: max_len - 7].rstrip('-')}-{digest}"
    return slug


def requirements(*, include_ray: bool = False) -> list[str]:
    """mlscale's own runtime requirements (no extras), from the installed package's metadata.

    ray is left out by default: the image already holds the Ray the cluster runs, and a pip runtime env must
    not install a second one.
    """
    try:
        reqs = metadata.requires("mlscale") or []
    except metadata.PackageNotFoundError:
        return []
    out = []
    for req in reqs:
        spec, _, marker = req.partition(";")
        if "extra" in marker:
            continue
        name = re.split(r"[\s\[<>=!~;(]", spec.strip(), maxsplit=1)[0].lower()
        if name == "ray" and not include_ray:
            continue
        out.append(spec.strip())
    return out


def render_rayjob(
    recipe: Recipe,
    *,
    source: str | None = None,
    image: str | None = None,
    namespace: str | None = None,
    name: str | None = None,
    package: str | None = None,
    trust_recipe: bool = False,
    autoscaling: Autoscaling | None = None,
) -> str:
    """YAML text (two documents: a ConfigMap with the merged recipe, then a RayJob) that runs `recipe`.

    recipe: the final, merged recipe (load_recipe with profiles and --set already applied).
    source: the recipe's path, only echoed in the header comment.
    image: the image of every Ray pod. None: rayproject/ray:<installed ray>-py311 (-gpu when the recipe asks
        for GPUs) plus a pip runtime env with mlscale's requirements. Given: the image is the whole
        environment (build configs/kuberay/Dockerfile), so no pip runtime env is rendered.
    namespace: metadata.namespace of both objects (None: kubectl's current namespace).
    name: the RayJob's name (None: derived from recipe.name); the ConfigMap is <name>-recipe.
    package: a pip requirement that installs mlscale itself in the runtime env (a wheel URL,
        `mlscale @ git+https://...`), for when the image lacks mlscale.
    trust_recipe: confirm what only the recipe file names (mlscale.recipe.trust): checked here, so the job
        runs the rendered recipe with --trust-recipe, as `mlscale submit` does.
    autoscaling: KubeRay's autoscaler on, the workers between its bounds, named by the recipe it runs.
    """
    require_confirmed(recipe, source or recipe.name, trust=trust_recipe)
    version = ray_version()
    engine = recipe.engine
    gpus = math.ceil(engine.gpus_per_worker)
    cpus = math.ceil(engine.cpus_per_worker or DEFAULT_WORKER_CPUS)
    stock_image = image is None
    image = default_image(gpu=gpus > 0) if image is None else _check_image(image)
    job_name = _check_name(name, MAX_RAYJOB_NAME, "RayJob") if name is not None else k8s_name(recipe.name)
    namespace = _check_namespace(namespace)
    config_map = f"{job_name}-recipe"

    groups = autoscaling.node_groups(engine.workers, cpus) if autoscaling else None
    cluster_recipe, removed = _cluster_recipe(recipe, source or recipe.name, node_groups=groups)
    recipe_text = yaml.safe_dump(cluster_recipe.model_dump(mode="json"), sort_keys=False)

    pip = (requirements() if stock_image else []) + ([_check_package(package)] if package else [])
    runtime_env = yaml.safe_dump({"pip": pip}, sort_keys=False) if pip else None

    labels = {"app.kubernetes.io/name": "mlscale", "app.kubernetes.io/instance": job_name}
    cm: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(config_map, namespace, labels),
        "data": {"recipe.yaml": recipe_text},
    }
    cluster = _cluster_spec(
        version=version,
        image=image,
        workers=engine.workers,
        cpus=cpus,
        gpus=gpus,
        recipe_config_map=config_map,
    )
    cluster = autoscaled(cluster, autoscaling, engine.workers) if autoscaling else cluster
    job = {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": _metadata(job_name, namespace, labels),
        "spec": _job_spec(runtime_env, cluster),
    }
    notes = _rayjob_notes(
        recipe,
        cluster_recipe,
        source=source,
        version=version,
        image=image,
        stock_image=stock_image,
        package=package,
        cpus=cpus,
        gpus=gpus,
        removed=removed,
    )
    notes[5:5] = [autoscaling_note(autoscaling, engine.workers, cpus)] if autoscaling else []
    return _dump([cm, job], notes)


def _job_spec(runtime_env: str | None, cluster: dict[str, Any]) -> dict[str, Any]:
    """The RayJob's spec: the entrypoint runs the mounted recipe, confirmed at render time."""
    spec: dict[str, Any] = {
        "entrypoint": f"mlscale run --trust-recipe {RECIPE_DIR}/recipe.yaml",
        "submissionMode": "K8sJobMode",
        "shutdownAfterJobFinishes": True,
        "ttlSecondsAfterFinished": TTL_SECONDS_AFTER_FINISHED,
    }
    if runtime_env:
        spec["runtimeEnvYAML"] = runtime_env
    spec["rayClusterSpec"] = cluster
    return spec


def _cluster_recipe(
    recipe: Recipe, source: str, *, node_groups: list[dict[str, Any]] | None = None
) -> tuple[Recipe, int]:
    """The recipe the head pod runs, engine ray joining its own cluster, credentials removed (and how many);
    `node_groups`: the autoscaler's worker group, unless the recipe names its own."""
    raw = recipe.model_dump(mode="json")
    raw["engine"]["name"] = "ray"
    # the driver runs on the head pod: join the cluster it is part of
    raw["engine"].setdefault("ray", {})["address"] = "auto"
    if node_groups and not raw["engine"]["ray"].get("node_groups"):
        raw["engine"]["ray"]["node_groups"] = node_groups
    raw, removed = strip_credentials(raw)
    return validate(raw, source=source), removed  # still a valid recipe after the changes


def _rayjob_notes(
    recipe: Recipe,
    cluster_recipe: Recipe,
    *,
    source: str | None,
    version: str,
    image: str,
    stock_image: bool,
    package: str | None,
    cpus: int,
    gpus: int,
    removed: int,
) -> list[str]:
    """The header comment of a rendered RayJob: what it runs, and what it needs from the cluster."""
    engine = recipe.engine
    notes = [
        f"RayJob for recipe {recipe.name!r}"
        + (f" ({source})" if source else "")
        + f", rendered by mlscale {__version__} for Ray {version}.",
        "Needs KubeRay >= 1.5.1 (token auth via authOptions). Apply: kubectl apply -f <this file>;",
        "see configs/kuberay/README.md for the token, logs and port-forwarding.",
        f"The ConfigMap holds the merged recipe with engine.name=ray, engine.ray.address=auto; the head mounts it at"
        f" {RECIPE_DIR}.",
        "Its endpoints, hook and output path were confirmed when rendered: the job runs it with --trust-recipe.",
        f"Workers: {engine.workers} pod(s) x {cpus} CPU{f' x {gpus} GPU' if gpus else ''}; the head takes no Ray"
        " work (num-cpus 0).",
    ]
    if not stock_image:
        notes.append(f"Image {image}: must hold mlscale and its requirements (configs/kuberay/Dockerfile).")
    elif not package:
        notes.append(
            "mlscale itself is not in this image: build configs/kuberay/Dockerfile and render with that image,"
        )
        notes.append("or give package= (a pip requirement for mlscale), else the entrypoint is not found.")
    uri = cluster_recipe.mlflow.tracking_uri
    if _pod_local(uri):
        notes.append(
            f"MLflow: the recipe's tracking URI ({uri or 'default sqlite'}) lives in the head pod and is lost with"
        )
        notes.append(
            f"it: put MLFLOW_TRACKING_URI=http(s)://... in Secret {MLFLOW_SECRET} (read by the head only)."
        )
    if removed:
        notes.append(
            f"Credentials were removed from {removed} URI(s) of the recipe: put MLFLOW_TRACKING_USERNAME /"
        )
        notes.append(f"MLFLOW_TRACKING_PASSWORD (or the full URI) in Secret {MLFLOW_SECRET} instead.")
    if cluster_recipe.data.path or (cluster_recipe.predict and cluster_recipe.predict.input):
        notes.append(
            "data.path / predict.input must exist in the head pod (mount a volume, or use the image)."
        )
    if cluster_recipe.predict:
        notes.append(
            f"predict.output ({cluster_recipe.predict.output}) is written in the head pod: mount a volume to"
            " keep it."
        )
    if engine.ray.max_failures > 0 and not engine.ray.storage_path:
        notes.append(
            "engine.ray.max_failures > 0 on several pods needs engine.ray.storage_path on shared storage."
        )
    return notes


def render_rayjob_file(
    path: str | Path,
    *,
    profiles: Iterable[str | Path] = (),
    overrides: Mapping[str, Any] | Iterable[str] | None = None,
    image: str | None = None,
    namespace: str | None = None,
    name: str | None = None,
    package: str | None = None,
    trust_recipe: bool = False,
    autoscaling: Autoscaling | None = None,
) -> str:
    """resolve_recipe (profiles, --set overrides) then render_rayjob, with the path as the source."""
    resolved = resolve_recipe(path, profiles=profiles, overrides=overrides)
    return render_rayjob(
        resolved.recipe,
        source=resolved.source,
        image=image,
        namespace=namespace,
        name=name,
        package=package,
        trust_recipe=trust_recipe,
        autoscaling=autoscaling,
    )


def render_raycluster(
    *,
    name: str = "mlscale",
    workers: int = 2,
    cpus_per_worker: int = DEFAULT_WORKER_CPUS,
    gpus_per_worker: int = 0,
    image: str | None = None,
    namespace: str | None = None,
    autoscaling: Autoscaling | None = None,
) -> str:
    """YAML text of a long-lived RayCluster (token auth on) for `mlscale run --engine ray` from outside;
    with `autoscaling`, its worker group grows and shrinks between the bounds (`workers`: the maximum
    unless the bounds say otherwise)."""
    if workers < 1 or cpus_per_worker < 1 or gpus_per_worker < 0:
        raise RecipeError("kuberay: workers and cpus_per_worker must be >= 1, gpus_per_worker >= 0")
    version = ray_version()
    name = _check_name(name, MAX_RAYCLUSTER_NAME, "RayCluster")
    namespace = _check_namespace(namespace)
    image = _check_image(image) if image is not None else default_image(gpu=gpus_per_worker > 0)
    spec = _cluster_spec(
        version=version, image=image, workers=workers, cpus=cpus_per_worker, gpus=gpus_per_worker
    )
    cluster = {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": _metadata(name, namespace, {"app.kubernetes.io/name": "mlscale"}),
        "spec": spec if autoscaling is None else autoscaled(spec, autoscaling, workers),
    }
    notes = [
        f"RayCluster for mlscale, rendered by mlscale {__version__} for Ray {version}"
        f" ({workers} worker pod(s) x {cpus_per_worker} CPU).",
        "Needs KubeRay >= 1.5.1 (token auth via authOptions); see configs/kuberay/README.md.",
        "The image needs mlscale's requirements (xgboost, mlflow, ...): build configs/kuberay/Dockerfile and",
        "replace the image, or submit jobs with a pip runtime env. Ray Client needs Python 3.11 and this Ray.",
    ]
    if autoscaling is not None:
        notes.insert(1, autoscaling_note(autoscaling, workers, cpus_per_worker, recipes=True))
    return _dump([cluster], notes)


# -- building blocks ---------------------------------------------------------------------------------------
def _cluster_spec(
    *, version: str, image: str, workers: int, cpus: int, gpus: int, recipe_config_map: str | None = None
) -> dict[str, Any]:
    head_container: dict[str, Any] = {
        "name": "ray-head",
        "image": image,
        "ports": [
            {"containerPort": 6379, "name": "gcs-server"},
            {"containerPort": 8265, "name": "dashboard"},
            {"containerPort": 10001, "name": "client"},
        ],
        "resources": _resources(HEAD_CPUS, HEAD_MEMORY_GIB, 0),
        # MLflow settings for the driver (it runs on the head); optional, never rendered here.
        "envFrom": [{"secretRef": {"name": MLFLOW_SECRET, "optional": True}}],
    }
    head_pod: dict[str, Any] = {"containers": [head_container]}
    if recipe_config_map:
        head_container["volumeMounts"] = [{"name": "recipe", "mountPath": RECIPE_DIR, "readOnly": True}]
        head_pod["volumes"] = [{"name": "recipe", "configMap": {"name": recipe_config_map}}]
    worker_params = {"num-cpus": str(cpus)}
    if gpus:
        worker_params["num-gpus"] = str(gpus)
    return {
        "rayVersion": version,
        "authOptions": {"mode": "token"},
        "headGroupSpec": {
            # KubeRay requires string values. num-cpus 0: no tasks or actors on the head.
            # The dashboard listens on the pod network for the job submitter; the token guards it.
            "rayStartParams": {"num-cpus": "0", "dashboard-host": "0.0.0.0"},
            "template": {"spec": head_pod},
        },
        "workerGroupSpecs": [
            {
                "groupName": "workers",
                "replicas": workers,
                "minReplicas": workers,
                "maxReplicas": workers,
                "rayStartParams": worker_params,
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "ray-worker",
                                "image": image,
                                "resources": _resources(
                                    cpus, max(MEMORY_GIB_PER_CPU, MEMORY_GIB_PER_CPU * cpus), gpus
                                ),
                            }
                        ]
                    }
                },
            }
        ],
    }


def _resources(cpus: int, memory_gib: int, gpus: int) -> dict[str, dict[str, str]]:
    """requests == limits (Guaranteed QoS, as KubeRay recommends); GPUs as nvidia.com/gpu."""
    amounts = {"cpu": str(cpus), "memory": f"{memory_gib}Gi"}
    if gpus:
        amounts["nvidia.com/gpu"] = str(gpus)
    return {"requests": dict(amounts), "limits": dict(amounts)}


def _metadata(name: str, namespace: str | None, labels: Mapping[str, str]) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    meta["labels"] = dict(labels)
    return meta


def _pod_local(uri: str | None) -> bool:
    """True for tracking stores on the head pod's own disk (gone with the pod): sqlite, file, a bare path."""
    if not uri:
        return True
    if uri.startswith("databricks"):
        return False
    return uri.startswith(("sqlite:", "file:")) or "://" not in uri


def _check_name(name: str, max_len: int, kind: str) -> str:
    if len(name) > max_len or not _DNS1035.match(name):
        raise RecipeError(
            f"kuberay: {kind} name {name!r} must be at most {max_len} lowercase letters, digits or '-', "
            "starting with a letter and ending with a letter or digit"
        )
    return name


def _check_namespace(namespace: str | None) -> str | None:
    if namespace is not None and (len(namespace) > 63 or not _DNS1123_LABEL.match(namespace)):
        raise RecipeError(f"kuberay: namespace {namespace!r} is not a valid Kubernetes namespace name")
    return namespace


def _check_package(package: str) -> str:
    if has_credentials(package):
        raise RecipeError(
            f"kuberay: package {mask_text(package)!r} holds credentials, which the RayJob manifest would show "
            "to anyone who can read it; give a URL without them, or an image with mlscale installed (--image)"
        )
    return package


def _check_image(image: str) -> str:
    if not image.strip() or any(c.isspace() for c in image):
        raise RecipeError(f"kuberay: image {image!r} is not a valid image reference")
    return image


class _Dumper(yaml.SafeDumper):
    """Block style, and multi-line strings (the recipe, runtimeEnvYAML) as readable | literals."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _dump(docs: list[dict[str, Any]], notes: list[str]) -> str:
    header = "".join(f"# {part}\n" for line in notes for part in line.splitlines())
    body = "---\n".join(
        yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=110) for doc in docs
    )
    return header + body
