"""Recipe loading: YAML (safe and strict) -> deep-merge profiles -> --set overrides -> validate once.

All user-facing messages about a recipe are made here, in one shape:
    recipes/x.yaml: train.max_depth must be an int >= 0, got -1
"""

from __future__ import annotations

import copy
import hashlib
import json
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from mlscale.errors import RecipeError
from mlscale.recipe.engine_config import canonical, canonical_key
from mlscale.recipe.schema import Recipe
from mlscale.recipe.trust import unconfirmed
from mlscale.util.text import did_you_mean

MAX_RECIPE_BYTES = 1_000_000
MAX_YAML_DEPTH = 50  # a recipe is a few levels deep; a deeper document is a mistake or an attack
YAML_OPENERS = ("[", "{", '"', "'")  # a --set value starting so is YAML or a mistake, never plain text


class _Refused(yaml.YAMLError):
    """YAML that a recipe does not accept although YAML allows it; `line` is 1-based (0: unknown)."""

    def __init__(self, problem: str, mark: Any = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.line = mark.line + 1 if mark is not None else 0


class _DuplicateKey(yaml.constructor.ConstructorError):
    """A mapping key given twice: YAML would silently keep the last one."""


class _StrictComposer(Composer):
    """Refuses anchors (so aliases, and alias bombs, never expand) and nesting beyond MAX_YAML_DEPTH.

    An alias without an anchor is left to Composer, which says "found undefined alias".
    """

    def __init__(self) -> None:
        super().__init__()
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()  # type: ignore[attr-defined]
        if not isinstance(event, AliasEvent) and event.anchor is not None:
            raise _Refused(
                f"YAML anchors and aliases are not allowed (found &{event.anchor}); write the value out",
                event.start_mark,
            )
        if self._depth >= MAX_YAML_DEPTH:
            raise _Refused(
                f"YAML nested more than {MAX_YAML_DEPTH} levels deep is not allowed", event.start_mark
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)  # type: ignore[no-untyped-call]
        finally:
            self._depth -= 1


class _StrictConstructor(SafeConstructor):
    """safe_load's constructor, refusing duplicate keys, merge keys (<<) and keys that are not scalars."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _Refused(
                    "YAML merge keys (<<) are not allowed; write the keys out", key_node.start_mark
                )
            if not isinstance(key_node, yaml.ScalarNode):
                kind = "a list" if isinstance(key_node, yaml.SequenceNode) else "a mapping"
                raise _Refused(f"a YAML mapping key must be a plain value, got {kind}", key_node.start_mark)
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if key in seen:
                raise _DuplicateKey(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


class _PyStrictLoader(Reader, Scanner, Parser, _StrictComposer, _StrictConstructor, Resolver):
    """The pure-Python loader, when PyYAML was built without libyaml."""

    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)  # type: ignore[no-untyped-call]
        Scanner.__init__(self)  # type: ignore[no-untyped-call]
        Parser.__init__(self)  # type: ignore[no-untyped-call]
        _StrictComposer.__init__(self)
        _StrictConstructor.__init__(self)  # type: ignore[no-untyped-call]
        Resolver.__init__(self)  # type: ignore[no-untyped-call]


def _strict_loader() -> type[Any]:
    """libyaml scans and parses when PyYAML has it (about 3x faster on a large file); composing and
    constructing stay in Python so the refusals hold (libyaml's own composer would expand aliases)."""
    try:
        from yaml._yaml import CParser
    except ImportError:
        return _PyStrictLoader

    class _CStrictLoader(_StrictComposer, CParser, _StrictConstructor, Resolver):
        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            _StrictComposer.__init__(self)
            _StrictConstructor.__init__(self)  # type: ignore[no-untyped-call]
            Resolver.__init__(self)  # type: ignore[no-untyped-call]

    return _CStrictLoader


_StrictLoader = _strict_loader()


def _load_yaml(text: str) -> Any:
    """safe_load with the refusals of a recipe: no anchors/aliases, merge keys, duplicate or odd keys.

    Text libyaml cannot scan or parse is read again in Python, whose messages are clearer ("found
    character '\\t'") and which reaches the nesting refusal before libyaml's own 1000-level limit.
    """
    python_loader: type[Any] = _PyStrictLoader
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a safe constructor: no code execution
    except (yaml.scanner.ScannerError, yaml.parser.ParserError):
        if _StrictLoader is python_loader:
            raise
    return yaml.load(text, Loader=python_loader)


def read_yaml(path: str | Path, *, what: str = "recipe") -> dict[str, Any]:
    """Read one YAML mapping, turning every failure into a one-line RecipeError."""
    p = Path(path)
    if not p.is_file():
        raise RecipeError(f"{path}: {what} file not found")
    try:
        size = p.stat().st_size
        if size > MAX_RECIPE_BYTES:
            raise RecipeError(_too_big(path, what, size))
        with p.open(encoding="utf-8") as f:
            text = f.read(MAX_RECIPE_BYTES + 1)  # the file may have grown since stat
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(f"{path}: cannot read {what} ({exc.__class__.__name__}: {exc})") from exc
    if len(text) > MAX_RECIPE_BYTES:
        raise RecipeError(_too_big(path, what, len(text.encode())))
    try:
        raw = _load_yaml(text)
    except _Refused as exc:
        raise RecipeError(f"{path}:{exc.line}: {exc.problem}") from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        if mark is not None and exc.context_mark is not None and mark.line >= len(text.splitlines()):
            mark = exc.context_mark  # an unclosed bracket: point at where it opened, not past the end
        where = f":{mark.line + 1}" if mark is not None else ""
        raise RecipeError(f"{path}{where}: invalid YAML: {_yaml_problem(exc)}") from exc
    except yaml.YAMLError as exc:
        raise RecipeError(f"{path}: invalid YAML: {_yaml_problem(exc)}") from exc
    if raw is None:
        raise RecipeError(f"{path}: {what} is empty")
    if not isinstance(raw, dict):
        raise RecipeError(f"{path}: {what} must be a mapping at the top level, got {type(raw).__name__}")
    return raw


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's message as one sentence. It splits one in two ("expected a single document in the stream"
    / "but found another document"): the halves are joined with a comma when the second continues the
    first."""
    if isinstance(exc, yaml.MarkedYAMLError):
        parts = [p for p in (exc.context, exc.problem) if p]
        joiner = ", " if len(parts) == 2 and parts[1].startswith("but ") else " "
        if parts:
            return joiner.join(parts)
    return str(exc).splitlines()[0]


def _too_big(path: str | Path, what: str, size: int) -> str:
    return f"{path}: {what} is {size} bytes, more than the 1 MB ({MAX_RECIPE_BYTES} bytes) a {what} may be"


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Mappings merge key by key; anything else in `over` replaces what `base` had."""
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def recipe_source(recipe: str | Path | Recipe) -> str:
    """How messages name a recipe: its path, or `<recipe NAME>` for a Recipe built in Python."""
    return f"<recipe {recipe.name}>" if isinstance(recipe, Recipe) else str(recipe)


def with_arguments(
    overrides: Mapping[str, Any] | Iterable[str] | None, arguments: Mapping[str, Any]
) -> dict[str, Any]:
    """Overrides (a mapping, or KEY=VALUE texts as `--set` gives them) as one mapping, with a command's own
    arguments (e.g. `--input` as predict.input) applied last: an explicit argument wins over `--set`."""
    if isinstance(overrides, Mapping):
        merged = dict(overrides.items())
    else:
        merged = dict(parse_override(o) for o in overrides or [])
    merged.update(arguments)
    return merged


def parse_override(text: str) -> tuple[str, Any]:
    """'train.num_boost_round=50' -> ('train.num_boost_round', 50); the value is parsed as YAML."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise RecipeError(f"--set: expected KEY=VALUE with a dotted KEY like train.eta=0.1, got {text!r}")
    try:
        parsed = _load_yaml(value) if value.strip() else None
    except (_Refused, _DuplicateKey) as exc:
        raise RecipeError(f"--set {key}: {exc.problem}") from None
    except yaml.YAMLError as exc:
        start = value.lstrip()[:1]
        if start in YAML_OPENERS:  # meant as a list, a mapping or a quoted text: say what is wrong with it
            raise RecipeError(
                f"--set {key}: invalid YAML: {_yaml_problem(exc)} (to give a text starting with {start}, "
                "quote all of it)"
            ) from None
        parsed = value  # not YAML (a glob like *.csv): the text itself
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
    raw = _canonical(read_yaml(path), path)
    from_file = copy.deepcopy(raw)
    profile_raws = [_canonical(read_yaml(profile, what="profile"), profile) for profile in profiles]
    for profile_raw in profile_raws:
        raw = deep_merge(raw, profile_raw)
    pairs: list[tuple[str, Any]]
    if overrides is None:
        pairs = []
    elif isinstance(overrides, Mapping):
        pairs = list(overrides.items())
    else:
        pairs = [parse_override(o) for o in overrides]
    pairs = [(canonical_key(key), value) for key, value in pairs]
    if engine is not None:
        pairs.append(("engine.name", engine))
    for key, value in pairs:
        _check_override_path(key)
        apply_override(raw, key, value)
    recipe = validate(raw, source=str(path))
    recipe._unconfirmed = unconfirmed(from_file, profile_raws, (k for k, _ in pairs))
    return recipe


def _canonical(raw: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """A file's mapping with flat ray settings moved into engine.ray (see recipe.engine_config)."""
    try:
        return canonical(raw)
    except ValueError as exc:
        raise RecipeError(f"{path}: {exc}") from None


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
            hint = did_you_mean(part, fields)
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
        return f"unknown key {path}{did_you_mean(str(loc[-1]), parent)}"
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
        if isinstance(err.get("input"), bool):  # `scheduler: off`: YAML 1.1 made it a boolean
            got = f"{got.lower()} (YAML reads a bare on/off/yes/no as true/false)"
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
