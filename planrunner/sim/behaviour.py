"""Broker behaviours the documentation leaves open, as switches (docs/simulator.md).

The defaults are what the simulator always did. Each other value is a plausible reading
of Kiwoom's documentation that nobody could check without a live account; the runner
must stay correct under every combination (tests run the examples under each).

- remainder: where a partial cancel's rest is listed. "original": under the number
  cancelled (default); "cancel": under the cancel's own new number.
- orig_ord_no: what ka10075/ka10076 `orig_ord_no` names. "parent": the number acted on
  (default); "root": the lineage's first number.
- all_qty: what a "0" (all) modify/cancel answers in mdfy_qty/cncl_qty. "quantity": the
  quantity it took (default); "zeros": "000000000000".
- base_orig_ord_no: what the modify/cancel answer names. "root": the lineage's first
  number (default); "target": the number acted on.
- padding: "7": order numbers zero-padded to 7 digits (default); "none": no leading zeros.
- fills_list: which numbers ka10076 lists. "filled": those with fills (default); "all":
  also superseded and cancel numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

CHOICES: dict[str, tuple[str, ...]] = {
    "remainder": ("original", "cancel"),
    "orig_ord_no": ("parent", "root"),
    "all_qty": ("quantity", "zeros"),
    "base_orig_ord_no": ("root", "target"),
    "padding": ("7", "none"),
    "fills_list": ("filled", "all"),
}


class BehaviourError(ValueError):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Behaviour:
    remainder: str = "original"
    orig_ord_no: str = "parent"
    all_qty: str = "quantity"
    base_orig_ord_no: str = "root"
    padding: str = "7"
    fills_list: str = "filled"

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value not in CHOICES[f.name]:
                allowed = " or ".join(CHOICES[f.name])
                raise BehaviourError(f"broker behaviour {f.name}={value!r}: use {allowed}")

    def number(self, ord_no: str) -> str:
        """An order number as this broker writes it."""
        return ord_no if self.padding == "7" else str(int(ord_no))

    def changed(self) -> dict[str, str]:
        """The switches that differ from the default."""
        default = Behaviour()
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if getattr(self, f.name) != getattr(default, f.name)
        }

    @classmethod
    def parse(cls, specs: Any) -> Behaviour:
        """From {"remainder": "cancel", ...} or ["remainder=cancel", ...]."""
        if isinstance(specs, Behaviour):
            return specs
        values: dict[str, str] = {}
        if isinstance(specs, dict):
            items = [(str(k), str(v)) for k, v in specs.items()]
        else:
            items = []
            for spec in specs or ():
                name, sep, value = str(spec).partition("=")
                if not sep:
                    raise BehaviourError(f"broker behaviour {spec!r}: write NAME=VALUE")
                items.append((name.strip(), value.strip()))
        for name, value in items:
            name = name.replace("-", "_")
            if name not in CHOICES:
                raise BehaviourError(
                    f"unknown broker behaviour {name!r} (known: {', '.join(CHOICES)})"
                )
            values[name] = value
        return cls(**values)

    @classmethod
    def all_unusual(cls) -> Behaviour:
        """Every switch away from its default."""
        return cls(**{name: choices[1] for name, choices in CHOICES.items()})

    @classmethod
    def each_unusual(cls) -> list[Behaviour]:
        """One behaviour per switch, that switch alone away from its default."""
        return [cls(**{name: choices[1]}) for name, choices in CHOICES.items()]


def canonical(ord_no: str) -> str:
    """The simulator's own 7-digit form of a number a client sent, any padding."""
    return f"{int(ord_no):07d}"
