"""Plan parameters: `params:` declares them, `${name}` uses them, `--set name=value`
overrides their defaults.

    params:
      qty: {type: integer, default: 10, description: shares to buy}
      symbol: {type: string, default: "005930"}
    orders:
      entry: {symbol: "${symbol}", side: buy, qty: ${qty}, price: 70000}

Runs on the parsed data, before the schema check, so every later check (schema, rules,
compile) sees the values and points at the `${...}` that brought them: a field that is
exactly `${name}` takes the value with its type (`qty: ${qty}` is the integer 10); a
`${name}` inside other text is replaced by the value as text. Nothing under `params`
itself is replaced. The values in force (defaults, then `--set`) are part of the plan:
`show` prints them and the journal's identity includes them (`Plan.journal_name`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from planrunner.errors import Problem
from planrunner.plan.load import Loaded, child_path

_REF = re.compile(r"\$\{([^}]*)\}")
_INT = re.compile(r"^[+-]?[0-9][0-9_]*$")
TYPES = ("integer", "string")


def _typed(kind: str, value: Any) -> Any:
    """`value` as a `kind`, or raise ValueError."""
    if kind == "integer":
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, int):
            return value
        if isinstance(value, str) and _INT.match(value.strip()):
            return int(value.strip().replace("_", ""))
        raise ValueError
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError
    return str(value)


def _declared(data: Any) -> dict[str, dict[str, Any]]:
    """The well-formed declarations (the schema reports the others)."""
    raw = data.get("params") if isinstance(data, dict) else None
    if not isinstance(raw, dict):
        return {}
    return {
        str(k): v
        for k, v in raw.items()
        if isinstance(v, dict) and v.get("type") in TYPES and re.match(r"^[a-z][a-z0-9_]*$", k)
    }


def apply(
    loaded: Loaded, sets: Mapping[str, str] | None = None
) -> tuple[Loaded, dict[str, Any], list[Problem]]:
    """The plan data with every `${name}` replaced, the values in force, and the problems
    (unknown names, mistyped values, a parameter without a value), each at file:line:col."""
    sets = dict(sets or {})
    data = loaded.data
    if data is None:
        return loaded, {}, []
    if not sets and not (isinstance(data, dict) and "params" in data):
        return loaded, {}, []  # most plans: no walk (validate's speed on large plans)
    declared = _declared(data)
    problems: list[Problem] = []
    where = "$.params" if isinstance(data, dict) and "params" in data else "$"
    for name in sorted(set(sets) - set(declared)):
        known = ", ".join(declared) or "none"
        problems.append(
            loaded.problem(
                where, f"--set {name}: the plan has no parameter {name} (params: {known})"
            )
        )
    values: dict[str, Any] = {}
    for name, spec in declared.items():
        path = f"$.params.{name}"
        kind = spec["type"]
        article = "an" if kind == "integer" else "a"
        if name in sets:
            try:
                values[name] = _typed(kind, sets[name])
            except ValueError:
                problems.append(
                    loaded.problem(
                        path, f"--set {name}={sets[name]!r}: parameter {name} is {article} {kind}"
                    )
                )
        elif "default" in spec:
            try:
                values[name] = _typed(kind, spec["default"])
            except ValueError:
                problems.append(
                    loaded.problem(
                        f"{path}.default",
                        f"default {spec['default']!r} is not {article} {kind}",
                    )
                )
        else:
            problems.append(
                loaded.problem(path, f"parameter {name} has no default: give --set {name}=VALUE")
            )

    def walk(node: Any, path: str) -> Any:
        if isinstance(node, dict):
            return {
                k: v if path == "$" and k == "params" else walk(v, child_path(path, k))
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [walk(v, child_path(path, i)) for i, v in enumerate(node)]
        if not (isinstance(node, str) and "${" in node):
            return node
        whole = _REF.fullmatch(node)
        refs = _REF.findall(node)
        missing = [r for r in refs if r not in declared]
        for r in missing:
            known = ", ".join(declared) or "none: declare it under params"
            problems.append(loaded.problem(path, f"unknown parameter ${{{r}}} (params: {known})"))
        if missing or any(r not in values for r in refs):
            return node
        if whole:
            return values[whole.group(1)]
        return _REF.sub(lambda m: str(values[m.group(1)]), node)

    new = walk(data, "$")
    return dataclasses.replace(loaded, data=new), values, problems


def identity(name: str, values: Mapping[str, Any]) -> str:
    """The journal name of a plan run with these values: the plan's name, and for a plan
    with parameters a digest of the values in force (`ladder@3f2a9c1e`)."""
    if not values:
        return name
    import hashlib
    import json

    text = json.dumps(dict(sorted(values.items())), ensure_ascii=False, separators=(",", ":"))
    return f"{name}@{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def describe(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())
