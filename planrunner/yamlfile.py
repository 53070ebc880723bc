"""YAML a user wrote (a plan, a scenario) -> plain data + where each value was written.

One reader for every YAML file a user hands planrunner: `plan/load.py` reads plans with
it, `sim/scenario.py` scenarios; `what` names the document in its messages.

PyYAML's YAML 1.1 resolvers are footguns for plans: `15:10` is the int 910 (base 60),
`15:10:05` is 54605, `000660` is the octal 432, `012330` the octal 5336, `2026-11-26` a
date, `on`/`off`/`yes`/`no` booleans. `StrictLoader` keeps all of those as the strings
the user wrote; only plain decimal ints (`10`, `70_000`), decimal floats, `true`/`false`
and `null` are resolved.
Duplicate keys are errors (PyYAML silently keeps the last one).

Input is bounded: a file must be a regular file of at most `MAX_BYTES` (a FIFO or a
symlink to /dev/zero is refused before it is read, so nothing hangs or fills memory);
aliases may not expand the document past `MAX_VALUES` values (a "billion laughs" alias
bomb is refused from its node graph, before anything is expanded) nor refer to
themselves; only the tags of plain data are read (str, int, float, bool, null, map,
seq): `!!binary`, `!!timestamp`, `!!set`, python tags… are errors.

`load_text` never raises for bad input: a YAML error, a duplicate key or an unreadable
file come back as `Problem`s in `Loaded.problems`, so one bad file does not stop the
others (check-jsonschema's habit). `Loaded.marks` maps every JSON path (`$.steps[2].at`)
to its 1-based line and column: scalars point at the value, mappings and sequences at
the key that introduces them, so "missing key" messages point at the right line.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from planrunner.errors import Problem

Pos = tuple[int, int]

MAX_BYTES = 4 * 1024 * 1024  # a plan is a few kilobytes; 50,000 steps fit (~3 MB)
MAX_VALUES = 1_000_000  # values after alias expansion (50,000 steps: ~450,000)
# The tags of plain data (plans, scenarios): what the resolvers give plain values, and
# `!!str`… written out. Anything else (`!!binary`, `!!timestamp`, `!!set`, python tags) is refused.
_PLAN_TAGS = frozenset(
    f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq")
)

_KEEP = (
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:timestamp",
)
_RESOLVERS: list[tuple[str, re.Pattern[str], str]] = [
    ("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), "tTfF"),
    # Decimal only: no base-60 (15:10), no octal (000660), no leading zeros (012330).
    ("tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9_]*)$"), "-+0123456789"),
    (
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:[0-9][0-9_]*)?\.[0-9_]+(?:[eE][-+]?[0-9]+)?$"),
        "-+0123456789.",
    ),
]


def _install(cls: type[Any]) -> None:
    table: dict[Any, list[tuple[str, re.Pattern[str]]]] = {}
    for first, rules in yaml.resolver.Resolver.yaml_implicit_resolvers.items():
        kept = [(tag, rx) for tag, rx in rules if tag not in _KEEP]
        if kept:
            table[first] = kept
    for tag, rx, firsts in _RESOLVERS:
        for ch in firsts:
            table.setdefault(ch, []).append((tag, rx))
    cls.yaml_implicit_resolvers = table
    wildcard = table.get(None, [])
    cls.by_first = {first: (*rules, *wildcard) for first, rules in table.items()}
    cls.wildcard = tuple(wildcard)


class _FastResolve:
    """PyYAML's `BaseResolver.resolve` for loaders without path resolvers (ours), with
    each first character's rules joined once instead of per scalar: the same tags, ~3x
    sooner (it runs for every value of every plan)."""

    by_first: dict[Any, tuple[tuple[str, re.Pattern[str]], ...]]
    wildcard: tuple[tuple[str, re.Pattern[str]], ...]

    def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is yaml.ScalarNode:
            if implicit[0]:
                for tag, regexp in self.by_first.get(value[:1], self.wildcard):
                    if regexp.match(value):
                        return tag
            return "tag:yaml.org,2002:str"
        if kind is yaml.SequenceNode:
            return "tag:yaml.org,2002:seq"
        return "tag:yaml.org,2002:map"


class _NoDuplicates:
    """Refuse duplicate keys when constructing plain data (PyYAML keeps the last one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[attr-defined]
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r}",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)  # type: ignore[misc, no-any-return]


class StrictLoader(_FastResolve, _NoDuplicates, yaml.SafeLoader):
    """SafeLoader whose implicit resolvers keep times, codes and dates as strings and
    which rejects duplicate keys (`yaml.load(text, Loader=StrictLoader)`)."""


_install(StrictLoader)

if hasattr(yaml, "CSafeLoader"):  # same resolvers over libyaml's parser: ~10x faster

    class _FastLoader(_FastResolve, _NoDuplicates, yaml.CSafeLoader):
        pass

    _install(_FastLoader)
    _Loader: Any = _FastLoader
else:  # pragma: no cover - libyaml missing
    _Loader = StrictLoader

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def child_path(path: str, key: str | int) -> str:
    """`$.orders` + `entry` -> `$.orders.entry`; ints index sequences."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if _IDENT.match(key):
        return f"{path}.{key}"
    return f"{path}[{key!r}]"


@dataclass(frozen=True, slots=True, kw_only=True)
class Loaded:
    """One file after parsing: `data` is None when the text could not be parsed."""

    file: str
    data: Any
    marks: dict[str, Pos] = field(default_factory=dict)
    key_marks: dict[str, Pos] = field(default_factory=dict)  # where the key itself is
    problems: tuple[Problem, ...] = ()

    def mark(self, path: str) -> Pos:
        """Line and column of a path, or of its nearest written ancestor."""
        p = path
        while p not in self.marks:
            cut = max(p.rfind("."), p.rfind("["))
            if cut <= 0:
                return (1, 1)
            p = p[:cut]
        return self.marks[p]

    def key_mark(self, path: str) -> Pos:
        return self.key_marks.get(path) or self.mark(path)

    def problem(self, path: str, message: str, *, at_key: bool = False) -> Problem:
        line, col = self.key_mark(path) if at_key else self.mark(path)
        return Problem(file=self.file, line=line, col=col, path=path, message=message)


_STR = "tag:yaml.org,2002:str"


def _pos(node: yaml.Node) -> Pos:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    def __init__(self, loader: Any, file: str, what: str) -> None:
        self.loader = loader
        self.file = file
        self.language = f"the {what} language"
        self.marks: dict[str, Pos] = {}
        self.key_marks: dict[str, Pos] = {}
        self.problems: list[Problem] = []

    def build(self, node: yaml.Node, path: str, key_pos: Pos | None) -> Any:
        is_scalar = isinstance(node, yaml.ScalarNode)
        self.marks[path] = _pos(node) if is_scalar or key_pos is None else key_pos
        if key_pos is not None:
            self.key_marks[path] = key_pos
        if node.tag not in _PLAN_TAGS:
            line, col = _pos(node)
            message = f"the YAML tag {_tag_name(node.tag)} is not part of {self.language}"
            self.problems.append(self._problem(line, col, path, message))
            return None
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [
                self.build(item, child_path(path, i), None) for i, item in enumerate(node.value)
            ]
        if node.tag == _STR:  # what SafeConstructor.construct_yaml_str returns, sooner
            return node.value
        return self.loader.construct_object(node, deep=True)

    def _mapping(self, node: yaml.MappingNode, path: str) -> dict[str, Any]:
        self.loader.flatten_mapping(node)  # `<<` merge keys
        out: dict[str, Any] = {}
        seen: dict[str, Pos] = {}
        for key_node, value_node in node.value:
            line, col = _pos(key_node)
            if not isinstance(key_node, yaml.ScalarNode):
                self.problems.append(self._problem(line, col, path, "a key must be a plain value"))
                continue
            if key_node.tag not in _PLAN_TAGS:
                message = f"the YAML tag {_tag_name(key_node.tag)} is not part of {self.language}"
                self.problems.append(self._problem(line, col, path, message))
                continue
            key = str(
                key_node.value if key_node.tag == _STR else self.loader.construct_object(key_node)
            )
            where = child_path(path, key)
            if key in seen:
                first = seen[key]
                msg = f"duplicate key '{key}' (first written at line {first[0]}, column {first[1]})"
                self.problems.append(self._problem(line, col, where, msg))
                continue
            seen[key] = (line, col)
            out[key] = self.build(value_node, where, (line, col))
        return out

    def _problem(self, line: int, col: int, path: str, message: str) -> Problem:
        return Problem(file=self.file, line=line, col=col, path=path, message=message)


def _tag_name(tag: str) -> str:
    return "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml.org") else tag


def _tree_size(root: yaml.Node) -> int:
    """How many values a node graph without aliases holds (a tree: each node once),
    counted up to just past MAX_VALUES."""
    count = 0
    stack = [root]
    while stack and count <= MAX_VALUES:
        node = stack.pop()
        count += 1
        if isinstance(node, yaml.MappingNode):
            for pair in node.value:
                stack.extend(pair)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return count


def _expanded_size(root: yaml.Node) -> int | None:
    """How many values the node graph becomes once its aliases are expanded (counted
    over the shared graph, so a bomb is measured without being built), capped just past
    MAX_VALUES; None if an alias refers to a node that contains it."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            open_nodes.discard(key)
            if isinstance(node, yaml.MappingNode):
                kids = [n for pair in node.value for n in pair]
            else:
                kids = node.value
            sizes[key] = min(1 + sum(sizes[id(k)] for k in kids), MAX_VALUES + 1)
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            return None
        if isinstance(node, yaml.ScalarNode):
            sizes[key] = 1
            continue
        open_nodes.add(key)
        stack.append((node, True))
        children = (
            [n for pair in node.value for n in pair]
            if isinstance(node, yaml.MappingNode)
            else node.value
        )
        for child in children:
            if id(child) in open_nodes:
                return None
            if id(child) not in sizes:
                stack.append((child, False))
    return sizes[id(root)]


def load_text(
    text: str, file: str = "<plan>", *, what: str = "plan", allow_empty: bool = False
) -> Loaded:
    """Parse one document; every failure is a Problem in the result, never an exception.
    An empty file or a null document is a Problem ("write a mapping") unless
    `allow_empty`: then it is `data=None` without problems."""
    if len(text) > MAX_BYTES:
        message = f"the file is larger than {MAX_BYTES // 1024} KiB: not a {what}"
        problem = Problem(file=file, line=1, col=1, path="$", message=message)
        return Loaded(file=file, data=None, problems=(problem,))
    try:
        loader = _Loader(text)
    except UnicodeEncodeError as e:  # a lone surrogate: text that came from no UTF-8 file
        line = text.count("\n", 0, e.start) + 1
        col = e.start - (text.rfind("\n", 0, e.start) + 1) + 1
        message = f"cannot read: character {text[e.start]!r} is not Unicode text"
        problem = Problem(file=file, line=line, col=col, path="$", message=message)
        return Loaded(file=file, data=None, problems=(problem,))
    try:
        node = loader.get_single_node()
        if node is None:
            if allow_empty:
                return Loaded(file=file, data=None)
            problem = Problem(file=file, line=1, col=1, path="$", message="the file is empty")
            return Loaded(file=file, data=None, problems=(problem,))
        # An alias is written `*name`: without a `*` the graph is a tree, counted as one.
        size = _expanded_size(node) if "*" in text else _tree_size(node)
        if size is None or size > MAX_VALUES:
            message = (
                "a YAML alias refers to a value that contains it"
                if size is None
                else f"YAML aliases expand the {what} past {MAX_VALUES} values: not a {what}"
            )
            problem = Problem(file=file, line=1, col=1, path="$", message=message)
            return Loaded(file=file, data=None, problems=(problem,))
        builder = _Builder(loader, file, what)
        data = builder.build(node, "$", None)
        if data is None and allow_empty and not builder.problems:
            return Loaded(file=file, data=None)
        if data is None:  # `---`, `~` or `null` alone: parsed, but nothing in it
            line, col = _pos(node)
            message = f"the file holds no {what} (its document is null): write a mapping"
            problem = Problem(file=file, line=line, col=col, path="$", message=message)
            return Loaded(file=file, data=None, problems=(problem,))
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        msg = f"YAML syntax error: {e.problem}"
        if e.context:
            msg += f" ({e.context})"
        return Loaded(
            file=file,
            data=None,
            problems=(Problem(file=file, line=line, col=col, path="$", message=msg),),
        )
    except yaml.reader.ReaderError as e:
        return Loaded(file=file, data=None, problems=(_reader_problem(text, file, e),))
    except yaml.YAMLError as e:
        message = "YAML error: " + " ".join(str(e).split())
        problem = Problem(file=file, line=1, col=1, path="$", message=message)
        return Loaded(file=file, data=None, problems=(problem,))
    finally:
        loader.dispose()
    return Loaded(
        file=file,
        data=data,
        marks=builder.marks,
        key_marks=builder.key_marks,
        problems=tuple(builder.problems),
    )


def _reader_problem(text: str, file: str, e: yaml.reader.ReaderError) -> Problem:
    """A character YAML does not allow (a control character, a lone surrogate…), pinned
    to where it is. The reader's `position` counts code points in PyYAML but bytes in
    libyaml, so the character itself is looked up: the reader stops at the first one."""
    char = chr(e.character) if isinstance(e.character, int) else str(e.character)
    index = text.find(char)
    if index < 0:
        line, col = 1, 1
    else:
        line = text.count("\n", 0, index) + 1
        col = index - (text.rfind("\n", 0, index) + 1) + 1
    code = f"#x{ord(char):04x}" if len(char) == 1 else repr(char)
    message = f"YAML syntax error: unacceptable character {code}: {e.reason}"
    return Problem(file=file, line=line, col=col, path="$", message=message)


def load_file(path: str | Path, *, what: str = "plan") -> Loaded:
    """Read and parse a file; unreadable files are Problems too."""
    name = str(path)
    try:
        text = read_bounded(path, what=what).decode("utf-8")
    except (OSError, UnicodeDecodeError, ValueError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        problem = Problem(file=name, line=1, col=1, path="$", message=f"cannot read: {reason}")
        return Loaded(file=name, data=None, problems=(problem,))
    return load_text(text, name, what=what)


def read_bounded(path: str | Path, *, what: str = "plan") -> bytes:
    """The bytes of a user's file: a regular file (symlinks followed) of at most MAX_BYTES.
    Opened without blocking, so a FIFO is refused instead of waiting for a writer; a
    device (/dev/zero) is refused instead of read without end. ValueError says why."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file")
        if info.st_size > MAX_BYTES:
            raise ValueError(f"larger than {MAX_BYTES // 1024} KiB: not a {what}")
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, MAX_BYTES + 1 - size):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_BYTES:  # grew while being read
                raise ValueError(f"larger than {MAX_BYTES // 1024} KiB: not a {what}")
        return b"".join(chunks)
    finally:
        os.close(fd)
