"""Recipe loading: YAML (safe_load) -> deep-merge profiles -> --set overrides -> validate once.

All user-facing messages about a recipe are made here, in one shape:
    recipes/x.yaml: train.max_depth must be an int >= 0, got -1
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from mlscale.errors import RecipeError
from mlscale.recipe.schema import Recipe


class _StrictLoader(yaml.SafeLoader):
    """safe_load that refuses duplicate keys instead of silently keeping the last one."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: str | Path, *, what: str = "recipe") -> dict[str, Any]:
    """Read one YAML mapping, turning every failure into a one-line RecipeError."""
    p = Path(path)
    if not p.is_file():
        raise RecipeError(f"{path}: {what} file not found")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(f"{path}: cannot read {what} ({exc.__class__.__name__}: {exc})") from exc
    try:
        raw = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass: no code execution
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        if mark is not None and exc.context_mark is not None and mark.line >= len(text.splitlines()):
            mark = exc.context_mark  # an unclosed bracket: point at where it opened, not past the end
        where = f":{mark.line + 1}" if mark is not None else ""
        # PyYAML splits one sentence in two ("expected a single document in the stream" / "but found
        # another document"): join the halves with a comma when the second one continues the first.
        parts = [p for p in (exc.context, exc.problem) if p]
        joiner = ", " if len(parts) == 2 and parts[1].startswith("but ") else " "
        problem = joiner.join(parts) or str(exc).splitlines()[0]
        raise RecipeError(f"{path}{where}: invalid YAML: {problem}") from exc
    except yaml.YAMLError as exc:
        raise RecipeError(f"{path}: invalid YAML: {str(exc).splitlines()[0]}") from exc
    if raw is None:
        raise RecipeError(f"{path}: {what} is empty")
    if not isinstance(raw, dict):
        raise RecipeError(f"{path}: {what} must be a mapping at the top level, got {type(raw).__name__}")
    return raw


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Mappings merge key by key; anything else in `over` replaces what `base` had."""
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_override(text: str) -> tuple[str, Any]:
    """'train.num_boost_round=50' -> ('train.num_boost_round', 50); the value is parsed as YAML."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise RecipeError(f"--set: expected KEY=VALUE with a dotted KEY like train.eta=0.1, got {text!r}")
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        parsed = value
    return key, parsed


def apply_override(raw: dict[str, Any], key: str, value: Any) -> None:
    node: dict[str, Any] = raw
    parts = key.split(".")
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            where = ".".join(parts[: i + 1])
            raise RecipeError(f"--set {key}: {where} is a {type(child).__name__}, not a section")
        node = child
    node[parts[-1]] = value


def load_recipe(
    path: str | Path,
    *,
    profiles: Iterable[str | Path] = (),
    overrides: Mapping[str, Any] | Iterable[str] | None = None,
    engine: str | None = None,
) -> Recipe:
    """Load, merge and validate a recipe. Raises RecipeError with a one-line message."""
    raw = read_yaml(path)
    for profile in profiles:
        raw = deep_merge(raw, read_yaml(profile, what="profile"))
    pairs: list[tuple[str, Any]]
    if overrides is None:
        pairs = []
    elif isinstance(overrides, Mapping):
        pairs = list(overrides.items())
    else:
        pairs = [parse_override(o) for o in overrides]
    if engine is not None:
        pairs.append(("engine.name", engine))
    for key, value in pairs:
        _check_override_path(key)
        apply_override(raw, key, value)
    return validate(raw, source=str(path))


def validate(raw: Mapping[str, Any], *, source: str = "<recipe>") -> Recipe:
    try:
        return Recipe.model_validate(dict(raw))
    except ValidationError as exc:
        raise RecipeError(f"{source}: {format_validation_error(exc)}") from None


def _check_override_path(key: str) -> None:
    """Reject --set on a path the schema does not have, with a suggestion, before merging."""
    model: Any = Recipe
    parts = key.split(".")
    for i, part in enumerate(parts):
        fields = _model_fields(model)
        if fields is None:  # free-form mapping (train.params, tune.space): anything goes below
            return
        if part not in fields:
            where = ".".join(parts[:i]) or "the recipe"
            hint = _did_you_mean(part, fields)
            raise RecipeError(f"--set {key}: {where} has no key {part!r}{hint}")
        model = fields[part]


def _model_fields(annotation: Any) -> dict[str, Any] | None:
    """Field name -> annotation for a pydantic model (through Optional), else None."""
    for candidate in _unwrap(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return {name: f.annotation for name, f in candidate.model_fields.items()}
    return None


def _unwrap(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return [a for arg in typing.get_args(annotation) for a in _unwrap(arg)]
    return [annotation]


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _annotation_at(loc: tuple[Any, ...]) -> Any:
    """The annotation of the field at `loc`, walking models, dicts and lists; None if unknown."""
    annotation: Any = Recipe
    for part in loc:
        fields = _model_fields(annotation)
        if fields is not None and isinstance(part, str) and part in fields:
            annotation = fields[part]
            continue
        inner = [a for a in _unwrap(annotation) if typing.get_origin(a) in (dict, list)]
        if not inner:
            return None
        args = typing.get_args(inner[0])
        annotation = args[-1] if args else None
    return annotation


def _kind_word(annotation: Any) -> str:
    kinds = {a for a in _unwrap(annotation) if a is not type(None)}
    if kinds == {int}:
        return "an int"
    if kinds <= {int, float} and kinds:
        return "a number"
    return "a value"


def format_validation_error(exc: ValidationError) -> str:
    """The first error of a pydantic ValidationError, as 'dotted.path message, got value'."""
    errors = exc.errors(include_url=False)
    # A misspelt key shows up twice (unknown + required): the unknown one says what to fix.
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    path = ".".join(str(p) for p in loc)
    kind = err["type"]
    ctx = err.get("ctx") or {}
    got = _show(err.get("input"))
    annotation = _annotation_at(loc)
    if kind == "extra_forbidden":
        parent = _model_fields(_annotation_at(loc[:-1])) or {}
        return f"unknown key {path}{_did_you_mean(str(loc[-1]), parent)}"
    if kind == "missing":
        return f"{path} is required"
    bounds = {
        "greater_than_equal": (">=", "ge"),
        "greater_than": (">", "gt"),
        "less_than_equal": ("<=", "le"),
        "less_than": ("<", "lt"),
    }
    if kind in bounds:
        op, key = bounds[kind]
        return f"{path} must be {_kind_word(annotation)} {op} {ctx.get(key)}, got {got}"
    simple = {
        "int_type": "must be an int",
        "int_parsing": "must be an int",
        "int_from_float": "must be an int",
        "float_type": "must be a number",
        "float_parsing": "must be a number",
        "bool_type": "must be true or false",
        "bool_parsing": "must be true or false",
        "string_type": "must be a string",
        "list_type": "must be a list",
        "dict_type": "must be a mapping",
        "model_type": "must be a mapping",
        "model_attributes_type": "must be a mapping",
        "finite_number": "must be a finite number",
    }
    if kind in simple:
        return f"{path} {simple[kind]}, got {got}"
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "")
        return f"{path} must be one of {expected}, got {got}"
    if kind == "string_pattern_mismatch":
        return f"{path} must be letters, digits, '_', '.' or '-' (starting with a letter or digit), got {got}"
    message = str(ctx.get("error", err["msg"])) if kind == "value_error" else err["msg"]
    message = message.removeprefix("Value error, ")
    return f"{path}: {message}" if path else message


def _show(value: Any) -> str:
    if isinstance(value, (dict, list)):
        text = json.dumps(value, default=str)
        return text if len(text) <= 60 else text[:57] + "..."
    if isinstance(value, str):
        return repr(value)
    return str(value)


def recipe_hash(recipe: Recipe) -> str:
    """A short, stable hash of the resolved recipe, to group runs of the same job."""
    payload = json.dumps(recipe.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def recipe_yaml(recipe: Recipe) -> str:
    return yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False)
