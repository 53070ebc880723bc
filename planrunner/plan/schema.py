"""The plan JSON Schema (Draft 2020-12) and its errors as one clear line each.

The schema ships inside the package (`planrunner/schemas/plan.schema.json`, read by
`planrunner.package_text`), so
an installed planrunner prints and uses the same file that editors and
`check-jsonschema --schemafile schemas/plan.schema.json` read.

Every error of `iter_errors` is kept (never stop at the first) and rewritten:
- an unknown key names itself, at the key, with a difflib hint:
  `unknown key 'prcie' (did you mean 'price'?)`;
- a missing key: `missing required key 'side'`;
- a schema node may carry `x-message` (an annotation keyword, ignored by other tools):
  its text, with `{value}` replaced by the offending value, replaces jsonschema's message
  for every failure of that node other than unknown/missing keys. This is how
  "exactly one action" (`oneOf` over `required`) gives one line instead of six;
- any other `oneOf`/`anyOf` is reduced with jsonschema's `best_match`.

Most files are valid, and importing jsonschema costs ~100 ms (cold) while its `$ref`
resolution is most of the warm time. So `check` first asks `_fast_valid`, a yes/no check
compiled once from the schema into plain closures (the keywords this schema uses, with
jsonschema's Draft 2020-12 semantics); only when it says no does jsonschema run to find
and word the errors. A schema keyword the fast check does not know turns it off (every
file then goes through jsonschema) rather than being ignored.
"""

from __future__ import annotations

import json
import numbers
import re
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any

from planrunner import package_text
from planrunner.errors import Problem
from planrunner.plan.load import Loaded, child_path

SCHEMA_FILE = "schemas/plan.schema.json"


@cache
def schema_text() -> str:
    return package_text(SCHEMA_FILE)


@cache
def schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(schema_text())
    return data


@cache
def validator_class() -> Any:
    """Draft 2020-12, except that an integral float (`6.0`) is not an integer."""
    from jsonschema.validators import Draft202012Validator, extend  # lazy: ~100 ms

    strict = Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda checker, x: _is_integer(x)
    )
    return extend(Draft202012Validator, type_checker=strict)


@cache
def _validator() -> Any:
    return validator_class()(schema())


# ---- the yes/no fast path ----------------------------------------------------------------

Check = Callable[[Any], bool]

# Annotations: no effect on validity.
_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "$defs", "title", "description", "x-message", "default"}
)


def _is_number(x: Any) -> bool:
    return isinstance(x, numbers.Number) and not isinstance(x, bool)


def _is_integer(x: Any) -> bool:
    """An int written as one: `6.0` is not a quantity (JSON Schema would say it is, but a
    plan's integers go to the broker as written, and `6.0` is a mistake)."""
    return isinstance(x, int) and not isinstance(x, bool)


# jsonschema's Draft 2020-12 type checker, except that an integral float is not an integer.
_TYPES: dict[str, Check] = {
    "object": lambda x: isinstance(x, dict),
    "array": lambda x: isinstance(x, list),
    "string": lambda x: isinstance(x, str),
    "boolean": lambda x: isinstance(x, bool),
    "null": lambda x: x is None,
    "number": _is_number,
    "integer": _is_integer,
}


def _equal(one: Any, two: Any) -> bool:
    """jsonschema's `_utils.equal`: like ==, but True is not 1 and False is not 0."""
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return bool(one == two)
    if isinstance(one, Sequence) and isinstance(two, Sequence):
        return len(one) == len(two) and all(_equal(a, b) for a, b in zip(one, two, strict=True))
    if isinstance(one, Mapping) and isinstance(two, Mapping):
        return len(one) == len(two) and all(k in two and _equal(v, two[k]) for k, v in one.items())
    if isinstance(one, bool) or isinstance(two, bool):
        return False  # `one is two` already covered True/True and False/False
    return bool(one == two)


class _Unsupported(Exception):
    """The schema uses something the fast check does not implement."""


class _Compiler:
    """Schema node -> Check, with `#/$defs/...` references compiled once each."""

    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.refs: dict[str, Check] = {}

    def ref(self, ref: str) -> Check:
        if not ref.startswith("#/$defs/") or "/" in ref[len("#/$defs/") :]:
            raise _Unsupported(f"$ref {ref}")
        name = ref[len("#/$defs/") :]
        if name not in self.refs:
            target = self.root.get("$defs", {}).get(name)
            if target is None:
                raise _Unsupported(f"$ref {ref}")
            cell: list[Check] = []
            self.refs[name] = lambda x: cell[0](x)  # recursive schemas: bound below
            cell.append(self.node(target))
            self.refs[name] = cell[0]
        return self.refs[name]

    def node(self, node: Any) -> Check:
        if node is True or node == {}:
            return _always
        if node is False:
            return _never
        if not isinstance(node, dict):
            raise _Unsupported(repr(node))
        checks = [
            self.keyword(node, key, value)
            for key, value in node.items()
            if key not in _ANNOTATIONS and key not in ("then", "else")
        ]
        if len(checks) == 1:
            return checks[0]

        def every(x: Any) -> bool:
            return all(c(x) for c in checks)

        return every

    def keyword(self, node: dict[str, Any], key: str, value: Any) -> Check:
        """One keyword of a schema node, with jsonschema's meaning (`_keywords.py`)."""
        if key == "$ref":
            return self.ref(value)
        if key == "type":
            return _any([_TYPES[t] for t in ([value] if isinstance(value, str) else value)])
        if key == "properties":
            return _properties({k: self.node(v) for k, v in value.items()})
        if key == "additionalProperties":
            if "patternProperties" in node:
                raise _Unsupported("patternProperties")
            return _additional(frozenset(node.get("properties", {})), self.node(value))
        if key == "required":
            return _on_object(lambda x: all(n in x for n in value))
        if key == "minProperties":
            return _on_object(lambda x: len(x) >= value)
        if key == "propertyNames":
            name_ok = self.node(value)
            return _on_object(lambda x: all(name_ok(k) for k in x))
        if key == "items":
            if "prefixItems" in node:
                raise _Unsupported("prefixItems")
            item = self.node(value)
            return _on_array(lambda x: all(item(i) for i in x))
        if key == "minItems":
            return _on_array(lambda x: len(x) >= value)
        if key == "maxItems":
            return _on_array(lambda x: len(x) <= value)
        if key == "pattern":
            search = re.compile(value).search
            return lambda x: not isinstance(x, str) or search(x) is not None
        if key == "minimum":
            return lambda x: not _is_number(x) or not x < value
        if key == "maximum":
            return lambda x: not _is_number(x) or not x > value
        if key == "enum":
            return lambda x: any(_equal(c, x) for c in value)
        if key == "const":
            return lambda x: _equal(x, value)
        if key == "anyOf":
            return _any([self.node(v) for v in value])
        if key == "oneOf":
            subs = [self.node(v) for v in value]
            return lambda x: sum(1 for s in subs if s(x)) == 1
        if key == "if":
            cond = self.node(value)
            then = self.node(node.get("then", True))
            other = self.node(node.get("else", True))
            return lambda x: then(x) if cond(x) else other(x)
        raise _Unsupported(key)


def _always(x: Any) -> bool:
    return True


def _never(x: Any) -> bool:
    return False


def _any(checks: list[Check]) -> Check:
    return lambda x: any(c(x) for c in checks)


def _on_object(check: Check) -> Check:
    """Object keywords pass anything that is not an object."""
    return lambda x: not isinstance(x, dict) or check(x)


def _on_array(check: Check) -> Check:
    return lambda x: not isinstance(x, list) or check(x)


def _properties(props: dict[str, Check]) -> Check:
    return _on_object(lambda x: all(c(x[k]) for k, c in props.items() if k in x))


def _additional(known: frozenset[str], extra: Check) -> Check:
    if extra is _always:
        return _always
    if extra is _never:
        return _on_object(lambda x: all(k in known for k in x))
    return _on_object(lambda x: all(extra(v) for k, v in x.items() if k not in known))


@cache
def _fast_check() -> Check | None:
    """The compiled yes/no check, or None if the schema needs something it lacks."""
    try:
        return _Compiler(schema()).node(schema())
    except (_Unsupported, KeyError, TypeError, re.error):
        return None


def _fast_valid(data: Any) -> bool:
    """True only if the schema accepts `data` (False may also mean: cannot tell)."""
    fast = _fast_check()
    return fast is not None and fast(data)


# ---- errors, through jsonschema ------------------------------------------------------------


def _path(error: Any) -> str:
    p = "$"
    for part in error.absolute_path:
        p = child_path(p, part)
    return p


def _unknown_keys(loaded: Loaded, error: Any, path: str) -> list[Problem]:
    import difflib  # lazy: only for files with a mistake

    known = list(error.schema.get("properties", {}))
    out = []
    for key in error.instance:
        if key in known:
            continue
        msg = f"unknown key '{key}'"
        close = difflib.get_close_matches(key, known, n=1)
        if close:
            msg += f" (did you mean '{close[0]}'?)"
        else:
            msg += f" (expected one of: {', '.join(known)})"
        out.append(loaded.problem(child_path(path, key), msg, at_key=True))
    return out


def _value(instance: Any) -> str:
    if isinstance(instance, str):
        return repr(instance)
    return json.dumps(instance, ensure_ascii=False)


def _problems(loaded: Loaded, error: Any) -> list[Problem]:
    path = _path(error)
    kind = error.validator
    if kind == "additionalProperties" and isinstance(error.instance, dict):
        return _unknown_keys(loaded, error, path)
    if kind == "required":
        missing = error.message.split("'")[1] if "'" in error.message else str(error.message)
        return [loaded.problem(path, f"missing required key '{missing}'", at_key=True)]
    if "propertyNames" in error.schema_path:
        # jsonschema reports a bad key at its object, with the key as the instance.
        key = str(error.instance)
        return [loaded.problem(child_path(path, key), _message(error), at_key=True)]
    if kind in ("oneOf", "anyOf") and not error.schema.get("x-message") and error.context:
        from jsonschema.exceptions import best_match

        return _problems(loaded, best_match(error.context))
    return [loaded.problem(path, _message(error))]


def _message(error: Any) -> str:
    template = error.schema.get("x-message") if isinstance(error.schema, dict) else None
    if template:
        return str(template).replace("{value}", _value(error.instance))
    if error.validator == "const":
        return f"{_value(error.instance)} must be {_value(error.validator_value)}"
    if error.validator == "enum":
        choices = ", ".join(str(c) for c in error.validator_value)
        return f"{_value(error.instance)} is not one of: {choices}"
    if error.validator == "maximum":
        limit = error.validator_value
        return f"{_value(error.instance)} is above {limit}: the broker's field holds 12 digits"
    if error.validator == "type":
        want = error.validator_value
        want = " or ".join(want) if isinstance(want, list) else want
        return f"{_value(error.instance)} is not of type {want}"
    return str(error.message)


def check(loaded: Loaded) -> list[Problem]:
    """Every schema problem of a parsed plan (none if it did not parse)."""
    if loaded.data is None or _fast_valid(loaded.data):
        return []
    found: list[tuple[str, str, list[Problem]]] = []
    for error in _validator().iter_errors(loaded.data):
        found.append((error.validator, _path(error), _problems(loaded, error)))
    # A misspelt key also makes its object miss a key or an action: the unknown-key line
    # says it all, so the echo at the same object is dropped.
    typo_objects = {path for kind, path, _ in found if kind == "additionalProperties"}
    problems = {
        p
        for kind, path, ps in found
        if not (path in typo_objects and kind in ("required", "oneOf", "anyOf"))
        for p in ps
    }
    return sorted(problems, key=Problem.sort_key)
