"""The plan JSON Schema (Draft 2020-12) and its errors as one clear line each.

The schema ships inside the package (`planrunner/schemas/plan.schema.json`, read through
`importlib.resources`), so an installed planrunner prints and uses the same file that
editors and `check-jsonschema --schemafile schemas/plan.schema.json` read.

Every error of `iter_errors` is kept (never stop at the first) and rewritten:
- an unknown key names itself, at the key, with a difflib hint:
  `unknown key 'prcie' (did you mean 'price'?)`;
- a missing key: `missing required key 'side'`;
- a schema node may carry `x-message` (an annotation keyword, ignored by other tools):
  its text, with `{value}` replaced by the offending value, replaces jsonschema's message
  for every failure of that node other than unknown/missing keys. This is how
  "exactly one action" (`oneOf` over `required`) gives one line instead of six;
- any other `oneOf`/`anyOf` is reduced with jsonschema's `best_match`.
"""

from __future__ import annotations

import difflib
import json
from functools import cache
from importlib import resources
from typing import Any

from planrunner.errors import Problem
from planrunner.load import Loaded, child_path

SCHEMA_FILE = "schemas/plan.schema.json"


@cache
def schema_text() -> str:
    return resources.files("planrunner").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")


@cache
def schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(schema_text())
    return data


@cache
def _validator() -> Any:
    from jsonschema.validators import Draft202012Validator  # lazy: ~100 ms to import

    return Draft202012Validator(schema())


def _path(error: Any) -> str:
    p = "$"
    for part in error.absolute_path:
        p = child_path(p, part)
    return p


def _unknown_keys(loaded: Loaded, error: Any, path: str) -> list[Problem]:
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
    if error.validator == "type":
        want = error.validator_value
        want = " or ".join(want) if isinstance(want, list) else want
        return f"{_value(error.instance)} is not of type {want}"
    return str(error.message)


def check(loaded: Loaded) -> list[Problem]:
    """Every schema problem of a parsed plan (none if it did not parse)."""
    if loaded.data is None:
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
