"""The pytest warning policy (pyproject.toml): mlscale's own deprecations fail, third-party ones do not,
and the third-party ones listed there are ignored."""

from __future__ import annotations

import warnings

import pytest

NOLOAD = "The ``noload`` loader strategy is deprecated and will be removed in a future release."


def _warn(module: str, category: type[Warning], message: str = "old API") -> None:
    """A warning attributed to `module`, as when that module calls warnings.warn."""
    code = compile(f"import warnings\nwarnings.warn({message!r}, {category.__name__})", "<policy>", "exec")
    exec(code, {"__name__": module})


@pytest.mark.parametrize("category", [DeprecationWarning, FutureWarning])
def test_a_deprecation_attributed_to_mlscale_fails(category):
    with pytest.raises(category, match="old API"):
        _warn("mlscale.anything", category)


def test_a_third_party_deprecation_is_only_a_warning():
    with pytest.warns(DeprecationWarning, match="old API"):
        _warn("somepackage.module", DeprecationWarning)


def test_the_listed_mlflow_sqlalchemy_warning_is_ignored():
    with warnings.catch_warnings(record=True) as seen:  # keeps the filters, records what they let through
        _warn("mlflow.store.tracking.sqlalchemy_store", DeprecationWarning, NOLOAD)
        _warn("mlflow.store.tracking.sqlalchemy_store", DeprecationWarning, "another deprecation")
    assert [str(w.message) for w in seen] == ["another deprecation"]


@pytest.mark.parametrize("field", ["use_push_based_shuffle", "use_polars", "use_arrow_tensor_v2"])
def test_ray_datas_own_deprecated_fields_are_ignored(field):
    with warnings.catch_warnings(record=True) as seen:
        _warn("ray.data.context", DeprecationWarning, f"`{field}` is deprecated, configure something else")
    assert seen == []
