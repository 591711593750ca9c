"""Where engine dask's training time goes at 1M rows, on a private LocalCluster: the rows scattered to the
training workers, `xgboost.dask.train` on them, and the engine's own `train` call on the same data, twice.

    .venv/bin/python benchmarks/dask_train_phases.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    import distributed
    import xgboost.dask as dxgb

    from mlscale.data import prepare
    from mlscale.engines.dask import DaskEngine, train_data, trainer
    from mlscale.modeling.training import xgb_params
    from mlscale.recipe import EngineConfig, load_recipe

    recipe = load_recipe(
        ROOT / "recipes/synthetic_higgs.yaml",
        overrides={"data.synthetic.n_rows": 1_000_000, "train.num_boost_round": 100},
    )
    data = prepare(recipe, source="bench")
    engine = DaskEngine(EngineConfig(name="dask"))
    engine.start()
    try:
        client, layout = engine.client, engine._layout()
        print("layout:", layout.describe())
        features = list(data.x_train.columns)
        params = xgb_params(recipe.train, data.schema, nthread=layout.threads)
        for _ in range(2):
            with client.as_current():
                started = time.perf_counter()
                frames = train_data.worker_frames(client, data, layout.addresses)
                distributed.wait([p for pair in frames.parts for p in pair])
                scatter = time.perf_counter() - started
                started = time.perf_counter()
                label = train_data.LABEL
                dtrain = dxgb.DaskQuantileDMatrix(
                    client, frames.train[features], frames.train[label], enable_categorical=True
                )
                dvalid = dxgb.DaskQuantileDMatrix(
                    client, frames.valid[features], frames.valid[label], enable_categorical=True, ref=dtrain
                )
                dxgb.train(
                    client,
                    params,
                    dtrain,
                    num_boost_round=100,
                    evals=[(dvalid, "valid")],
                    verbose_eval=False,
                    coll_cfg=trainer.collective_config(client, 300),
                )
                fit = time.perf_counter() - started
            started = time.perf_counter()
            engine.train(data, recipe.train)
            whole = time.perf_counter() - started
            print(
                f"rows to the workers {scatter:.2f} s, xgboost.dask.train {fit:.2f} s, engine.train {whole:.2f} s"
            )
    finally:
        engine.stop()


if __name__ == "__main__":
    main()
