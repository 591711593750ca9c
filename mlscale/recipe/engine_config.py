"""The `engine` section: what every engine reads, plus one settings section per engine.

    engine:
      name: ray          # which engine runs the recipe
      workers: 2         # common to every engine (local runs in one process and ignores it)
      ray:               # read by engine ray only; other engines ignore it, so one recipe runs on all
        address: auto
        trainer: actors

A new built-in engine adds its own settings model and field here, beside `ray`, without touching the
others; the keys of its settings that lead somewhere (a scheduler address, a storage URI) are declared in
the model's `endpoints`, and the trust rule (`mlscale.recipe.trust`) guards them with no change of its own. An installed or registered engine (`mlscale.engine_names`) gets its section as a plain mapping in
`EngineConfig.plugins[name]` and validates it itself. The ray settings may also be written flat
(`engine.address`, `--set engine.trainer=actors`), the spelling of recipes written before the sections;
`canonical` moves them into `engine.ray`, and giving one key both ways is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from mlscale.recipe.endpoint import Guard, parse_uri
from mlscale.recipe.section import Section
from mlscale.util.scoped import also_restore


class EngineSettings(Section):
    """An engine's own section (`engine.<name>`), and what the core asks of that engine, declared as class
    attributes so that no code outside the engines compares engine names:

    - `endpoints` (from Section): keys that lead somewhere, guarded by the trust rule and listed by
      `validate` and `plan`;
    - `address_field`: the key holding the cluster address (`plan --address` sets it; `plan` contacts the
      cluster when it is set), None for an engine that runs in this process;
    - `distributed`: whether `engine.workers` training processes share the data (the memory estimate);
    - `work_unit`: what one unit of its scoring work is called ("where it ran" in the report);
    - `packages`: its own software, version-gated like xgboost: name -> (lowest tested, first untested),
      and `install`, the command that installs it;
    - `loggers`: its libraries' loggers, quieted with mlscale's others unless -v and restored after every
      call (`mlscale.util.scoped`), and `quiet_environment`, variables that quiet them (set unless -v).
    """

    address_field: ClassVar[str | None] = None
    distributed: ClassVar[bool] = False
    work_unit: ClassVar[str] = "task"
    packages: ClassVar[Mapping[str, tuple[str, str]]] = {}
    install: ClassVar[str] = ""
    loggers: ClassVar[tuple[str, ...]] = ()
    quiet_environment: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        also_restore(cls.loggers)

    @property
    def cluster_address(self) -> str | None:
        """The cluster address this section names, or None (a private cluster, or no cluster at all)."""
        return getattr(self, self.address_field) if self.address_field else None

    def check_recipe(self, recipe: Any) -> None:
        """Refuse (ValueError, one line) what this engine cannot run of a validated recipe."""

    def without_address(self) -> EngineSettings:
        """A copy that starts a private cluster instead of joining one."""
        return self.model_copy(update={self.address_field: None}) if self.address_field else self

    @classmethod
    def version_problem(cls, versions: Mapping[str, str | None]) -> str | None:
        """One line on an installed combination of its packages known not to work, or None."""
        return None


class LocalSettings(EngineSettings):
    """Engine local has no settings of its own: xgboost and Optuna in this process."""


class RayNodeGroup(Section):
    """A node group the cluster's autoscaler may add nodes of (`engine.ray.node_groups`)."""

    name: str = "workers"
    cpus: float = Field(gt=0)  # Ray CPUs of each node (the pod's num-cpus)
    max: int = Field(ge=0)  # the group's maximum size (KubeRay: maxReplicas)


class RaySettings(EngineSettings):
    """Settings of engine ray (`engine.ray`)."""

    address_field: ClassVar[str | None] = "address"
    distributed: ClassVar[bool] = True
    work_unit: ClassVar[str] = "Ray task"
    packages: ClassVar[Mapping[str, tuple[str, str]]] = {"ray": ("2.51", "2.61")}
    install: ClassVar[str] = "pip install 'ray[tune,data,train]'"
    loggers: ClassVar[tuple[str, ...]] = ("ray", "ray.data", "ray.tune", "ray.train")
    quiet_environment: ClassVar[Mapping[str, str]] = {"RAY_DEDUP_LOGS": "1"}

    # where the run connects and where Ray Train writes checkpoints: guarded by mlscale.recipe.trust
    endpoints: ClassVar[Mapping[str, Guard]] = {
        "address": Guard("cluster"),
        "storage_path": Guard("uri"),
    }
    address: str | None = None  # None: start a local Ray; auto / host:port / ray://host:port
    max_failures: int = Field(0, ge=0)
    report_every: int = Field(25, ge=1)  # boosting rounds between Ray Train checkpoints
    storage_path: str | None = None  # shared storage for Ray Train checkpoints on multi-node runs
    dashboard: bool = False
    trainer: Literal["auto", "actors", "ray_train"] = "auto"
    # How ray workers get their train rows: shipped by the driver through the object store, or read from
    # the csv/parquet source by each worker with Ray Data. auto: ray_data on a multi-node cluster.
    train_data: Literal["auto", "object_store", "ray_data"] = "auto"
    # On an autoscaling cluster: how long a run waits for the nodes it asked the autoscaler for (and the
    # actors trainer for its workers' reservation), in seconds.
    scale_timeout_s: float = Field(600, gt=0)
    # The autoscaler's node groups, for an autoscaler that does not publish them in the GCS (Ray 2.60's
    # does not; `mlscale kuberay --autoscale` writes its worker group here). Published ones win.
    node_groups: list[RayNodeGroup] = Field(default_factory=list)

    def check_recipe(self, recipe: Any) -> None:
        data = recipe.data
        if self.train_data == "ray_data" and (data.source not in ("csv", "parquet") or data.preprocess):
            raise ValueError(
                "engine.ray.train_data ray_data needs a csv or parquet data source without data.preprocess, "
                f"got source {data.source}" + (" with a preprocess hook" if data.preprocess else "")
            )


DASK_SCHEMES = ("tcp", "tls")


class DaskAdapt(Section):
    """The private LocalCluster's adaptive range (`engine.dask.adapt`), Dask's own
    `cluster.adapt(minimum=, maximum=, interval=, wait_count=, target_duration=)`: workers come when tasks
    wait and go when they idle."""

    minimum: int = Field(0, ge=0)  # workers kept when idle (0: none)
    maximum: int = Field(ge=1)  # the most workers it starts; this machine's CPUs are shared among them
    interval_s: float = Field(1.0, gt=0)  # seconds between two looks of the adaptive loop at the scheduler
    wait_count: int = Field(3, ge=1)  # looks in a row a worker is found idle before it is retired
    target_duration_s: float = Field(5.0, gt=0)  # how long the waiting work should take: lower adds sooner

    @model_validator(mode="after")
    def _range(self) -> DaskAdapt:
        if self.minimum > self.maximum:
            raise ValueError(f"minimum must be <= maximum, got {self.minimum} > {self.maximum}")
        return self


class DaskSettings(EngineSettings):
    """Settings of engine dask (`engine.dask`): a private LocalCluster, or a running scheduler joined by
    its address."""

    address_field: ClassVar[str | None] = "address"
    distributed: ClassVar[bool] = True
    work_unit: ClassVar[str] = "Dask task"
    packages: ClassVar[Mapping[str, tuple[str, str]]] = {
        "dask": ("2026.8", "2027"),
        "distributed": ("2026.8", "2027"),
    }
    install: ClassVar[str] = "pip install 'dask[dataframe]' distributed (the same version of both)"
    loggers: ClassVar[tuple[str, ...]] = (
        "distributed",
        "distributed.worker",
        "distributed.scheduler",
        "distributed.nanny",
        "distributed.core",
        "distributed.comm",
        "distributed.shuffle",
        "dask",
        "[xgboost.dask]",
    )
    quiet_environment: ClassVar[Mapping[str, str]] = {"DASK_LOGGING__DISTRIBUTED": "error"}

    # where the run connects: guarded by mlscale.recipe.trust
    endpoints: ClassVar[Mapping[str, Guard]] = {"address": Guard("uri")}
    address: str | None = None  # None: a private LocalCluster on 127.0.0.1; tcp://host:port joins a scheduler
    connect_timeout: float = Field(10, gt=0)  # seconds a scheduler has to answer
    # seconds a collective step of training waits for the other workers before the run fails
    collective_timeout: int = Field(300, ge=1)
    dashboard: bool = False  # the private cluster's dashboard, on 127.0.0.1
    # The private cluster between these bounds (None: engine.workers workers, always up).
    adapt: DaskAdapt | None = None
    # On an adaptive cluster: how long training waits for the workers it needs, in seconds.
    scale_timeout_s: float = Field(600, gt=0)

    @model_validator(mode="after")
    def _adapt_owns_its_cluster(self) -> DaskSettings:
        if self.adapt is not None and self.address is not None:
            raise ValueError(
                "adapt scales the private LocalCluster only, and address joins a running scheduler whose "
                "workers are scaled where that cluster was started (its own cluster.adapt, or "
                "dask-kubernetes' autoscaler); give one of them"
            )
        return self

    @field_validator("address")
    @classmethod
    def _scheduler_address(cls, value: str | None) -> str | None:
        if value is not None:
            scheduler_endpoint(value)
        return value

    def check_recipe(self, recipe: Any) -> None:
        if recipe.train.external_memory == "on":
            raise ValueError(
                "train.external_memory: on is not supported by engine dask (xgboost's Dask interface builds "
                "in-memory matrices); use engine ray with trainer actors, or engine local"
            )

    @classmethod
    def version_problem(cls, versions: Mapping[str, str | None]) -> str | None:
        dask, distributed = versions.get("dask"), versions.get("distributed")
        if dask and distributed and dask != distributed:
            return (
                f"dask {dask} and distributed {distributed} differ: engine dask needs the same version of both "
                f"(pip install 'dask[dataframe]=={distributed}')"
            )
        return None


def scheduler_endpoint(value: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a Dask scheduler address `tcp://host:port` (or tls://); ValueError else."""
    endpoint = parse_uri(value)
    expected = "expected tcp://host:port or tls://host:port"
    if endpoint.scheme not in DASK_SCHEMES:
        raise ValueError(f"the address is not a Dask scheduler address; {expected}")
    parts = endpoint.parts
    if "@" in parts.netloc or parts.path or parts.query or parts.fragment or value.endswith(("?", "#")):
        raise ValueError(f"the address has something besides host:port; {expected}")
    if not endpoint.host or endpoint.port is None:
        raise ValueError(f"the address needs a host and a port; {expected}")
    return endpoint.scheme, endpoint.host, endpoint.port


FLAT_RAY_KEYS = tuple(RaySettings.model_fields)
"""Keys of engine.ray that may also be written directly under engine."""


def canonical_key(dotted: str) -> str:
    """A `--set` key as the schema spells it: engine.address -> engine.ray.address (a flat ray setting),
    engine.dask.x -> engine.plugins.dask.x (the section of an installed or registered engine)."""
    from mlscale.engine_names import BUILTIN, known

    parts = dotted.split(".")
    if len(parts) < 2 or parts[0] != "engine":
        return dotted
    if parts[1] in FLAT_RAY_KEYS:
        return ".".join(["engine", "ray", *parts[1:]])
    if parts[1] in known() and parts[1] not in BUILTIN:
        return ".".join(["engine", "plugins", *parts[1:]])
    return dotted


def canonical(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A raw recipe (or profile) mapping with flat ray settings moved into engine.ray (a copy)."""
    out = dict(raw)
    engine = out.get("engine")
    if isinstance(engine, Mapping):
        out["engine"] = canonical_engine(engine)
    return out


def canonical_engine(engine: Mapping[str, Any]) -> dict[str, Any]:
    flat = {k: v for k, v in engine.items() if k in FLAT_RAY_KEYS}
    if not flat:
        return dict(engine)
    section = engine.get("ray")
    if section is not None and not isinstance(section, Mapping):
        return dict(engine)  # left to validation: "engine.ray must be a mapping"
    nested = dict(section or {})
    both = sorted(set(flat) & set(nested))
    if both:
        raise ValueError(f"engine.{both[0]} and engine.ray.{both[0]} are the same setting: give one of them")
    rest = {k: v for k, v in engine.items() if k not in FLAT_RAY_KEYS}
    return {**rest, "ray": {**nested, **flat}}


class EngineConfig(Section):
    name: str = "local"
    workers: int = Field(1, ge=1)
    cpus_per_worker: float | None = Field(None, gt=0)  # None: sized from the machine / cluster
    gpus_per_worker: float = Field(0, ge=0)
    local: LocalSettings = LocalSettings()
    ray: RaySettings = RaySettings()
    dask: DaskSettings = DaskSettings()
    # sections of installed or registered engines, by engine name, validated by those engines
    plugins: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _sections(cls, raw: Any) -> Any:
        if not isinstance(raw, Mapping):
            return raw
        from mlscale.engine_names import BUILTIN, known

        out = canonical_engine(raw)
        installed = set(known()) - set(BUILTIN)  # one entry-point scan, not one per key
        plugins = {k: out.pop(k) for k in list(out) if k in installed}
        for name, section in plugins.items():
            if not isinstance(section, Mapping):
                raise ValueError(f"engine.{name} must be a mapping (the settings of engine {name})")
        if plugins:
            merged = {k: dict(v) for k, v in dict(out.get("plugins") or {}).items()}
            for name, section in plugins.items():
                merged[name] = {**dict(section), **merged.get(name, {})}  # `--set engine.<name>.x` wins
            out["plugins"] = merged
        return out

    def with_ray(self, **changes: Any) -> EngineConfig:
        """A copy with some ray settings changed (model_copy on the engine section would not reach them)."""
        return self.model_copy(update={"ray": self.ray.model_copy(update=changes)})

    @classmethod
    def settings_of(cls, name: str) -> type[EngineSettings]:
        """The settings model of a built-in engine by name; EngineSettings for any other engine."""
        field = cls.model_fields.get(name)
        kind = field.annotation if field is not None else None
        return kind if isinstance(kind, type) and issubclass(kind, EngineSettings) else EngineSettings

    @classmethod
    def builtin_settings(cls) -> list[type[EngineSettings]]:
        from mlscale.engine_names import BUILTIN

        return [cls.settings_of(name) for name in BUILTIN]

    @property
    def settings(self) -> EngineSettings:
        """The section of the engine that runs the recipe (an installed engine's plain mapping: the
        defaults of EngineSettings, an engine in this process)."""
        section = getattr(self, self.name, None)
        return section if isinstance(section, EngineSettings) else EngineSettings()

    def without_address(self) -> EngineConfig:
        """A copy whose engine starts its own private cluster instead of joining one."""
        if self.settings.address_field is None:
            return self
        return self.model_copy(update={self.name: self.settings.without_address()})

    @field_validator("name")
    @classmethod
    def _known_engine(cls, value: str) -> str:
        from mlscale.engine_names import known

        names = list(known())
        if value not in names:
            raise ValueError(f"unknown engine {value!r}, expected one of {', '.join(names)}")
        return value
