"""Where engine dask's training time goes at 1M rows: the rows scattered to the private cluster's worker,
xgboost.dask.train on them, and the engine's own train call on the same data, twice.

    .venv/bin/python benchmarks/dask_train_phases.py
"""

import time
from pathlib import Path
from mlscale.recipe import load_recipe, EngineConfig
from mlscale.data import prepare
from mlscale.engines.dask import DaskEngine
from mlscale.engines.dask import trainer, train_data
from mlscale.modeling.training import xgb_params
import xgboost as xgb
import xgboost.dask as dxgb

def main():
    recipe = load_recipe(str(Path(__file__).resolve().parents[1] / "recipes/synthetic_higgs.yaml"), overrides={"data.synthetic.n_rows": 1_000_000, "train.num_boost_round": 100})
    data = prepare(recipe, source="bench")
    eng = DaskEngine(EngineConfig(name="dask")); eng.start()
    client = eng.client
    layout = eng._layout()
    print("layout", layout)
    addresses = layout.addresses
    for rep in range(2):
        with client.as_current():
            t = time.perf_counter(); frames = train_data.worker_frames(client, data, addresses); 
            import distributed; distributed.wait([p for pair in frames.parts for p in pair]); t_scatter = time.perf_counter() - t
            feats = list(data.x_train.columns)
            t = time.perf_counter()
            dtrain = dxgb.DaskQuantileDMatrix(client, frames.train[feats], frames.train[train_data.LABEL], enable_categorical=True, max_bin=256)
            dvalid = dxgb.DaskQuantileDMatrix(client, frames.valid[feats], frames.valid[train_data.LABEL], enable_categorical=True, ref=dtrain)
            t_dm = time.perf_counter() - t
            params = xgb_params(recipe.train, data.schema, nthread=layout.threads)
            t = time.perf_counter()
            dxgb.train(client, params, dtrain, num_boost_round=100, evals=[(dvalid, "valid")], verbose_eval=False, coll_cfg=trainer.collective_config(client, 300))
            t_train = time.perf_counter() - t
        t = time.perf_counter(); eng.train(data, recipe.train); t_engine = time.perf_counter() - t
        print(f"scatter {t_scatter:.2f} s, DaskQuantileDMatrix {t_dm:.2f} s (lazy: built in train), dxgb.train {t_train:.2f} s, engine.train {t_engine:.2f} s")
    eng.stop()

if __name__ == "__main__":
    main()
