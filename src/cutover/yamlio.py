"""The only module that imports yaml: strict, safe loading that remembers where every key was.

Guards, in order: file size, UTF-8, empty file, tab indentation, syntax, unknown tags,
duplicate keys, and a node budget so alias expansion ("billion laughs") cannot eat memory.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cutover.errors import ConfigError, Problem

MAX_BYTES = 5 * 1024 * 1024
MAX_NODES = 200_000  # constructed values, aliases counted every time they expand

Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_STANDARD_TAGS = {
    "tag:yaml.org,2002:" + t
    for t in ("str", "int", "float", "bool", "null", "timestamp", "map", "seq", "merge")
}
_TAB_INDENT = re.compile(r"^ *\t", re.MULTILINE)

KeyPath = tuple[str | int, ...]


@dataclass
class Document:
    """Loaded YAML data plus the (line, column) of each key path, 1-based."""

    data: Any
    file: str
    digest: str = ""  # sha256 of the file's bytes, when loaded from bytes
    marks: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: KeyPath) -> tuple[int | None, int | None]:
        """Position of `path`, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            mark = self.marks.get(path[:end])
            if mark:
                return mark
        return None, None

    def problem(self, path: KeyPath, message: str, *, warning: bool = False) -> Problem:
        line, col = self.locate(path)
        return Problem(self.file, message, line, col, format_path(path), warning)


def format_path(path: KeyPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_file(path: Path, display: str | None = None) -> Document:
    name = display or str(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise _one(name, f"file is {size / 1e6:.1f} MB, over the {MAX_BYTES // 2**20} MB limit")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise _one(name, "no such file") from None
    except IsADirectoryError:
        raise _one(name, "is a directory, expected a YAML file") from None
    except PermissionError:
        raise _one(name, "permission denied") from None
    return load_bytes(raw, name)


def load_bytes(raw: bytes, name: str) -> Document:
    if len(raw) > MAX_BYTES:
        raise _one(name, f"file is {len(raw) / 1e6:.1f} MB, over the {MAX_BYTES // 2**20} MB limit")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            [Problem(name, f"not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})", line)]
        ) from None
    doc = load_text(text, name)
    doc.digest = hashlib.sha256(raw).hexdigest()
    return doc


def load_text(text: str, name: str) -> Document:
    if not text.strip() or all(
        not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()
    ):
        raise _one(name, "file is empty")
    tab = _TAB_INDENT.search(text)
    if tab:
        line = text.count("\n", 0, tab.start()) + 1
        raise ConfigError([Problem(name, "tab character in indentation; use spaces", line, 1)])
    loader = Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise _one(name, "file is empty")
        doc = Document(None, name)
        doc.data = _Builder(loader, doc).build(node, ())
        return doc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or "invalid YAML"
        if mark is None:
            raise _one(name, f"invalid YAML: {what}") from None
        problem = Problem(name, f"invalid YAML: {what}", mark.line + 1, mark.column + 1)
        raise ConfigError([problem]) from None
    except yaml.YAMLError as exc:
        raise _one(name, f"invalid YAML: {exc}") from None
    finally:
        loader.dispose()


def dump(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def _one(name: str, message: str) -> ConfigError:
    return ConfigError([Problem(name, message)])


class _Builder:
    def __init__(self, loader: yaml.SafeLoader, doc: Document) -> None:
        self.loader = loader
        self.doc = doc
        self.budget = MAX_NODES
        self.active: set[int] = set()

    def build(self, node: yaml.Node, path: KeyPath) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise self._error(
                node, path, f"document expands to over {MAX_NODES} values (alias expansion?)"
            )
        if node.tag not in _STANDARD_TAGS:
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            raise self._error(node, path, f"YAML tag {tag} is not allowed")
        if isinstance(node, yaml.ScalarNode):
            return self.loader.construct_object(node, deep=True)
        if id(node) in self.active:
            raise self._error(node, path, "recursive alias")
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self._child(item, (*path, i)) for i, item in enumerate(node.value)]
            return self._mapping(node, path)
        finally:
            self.active.discard(id(node))

    def _child(self, node: yaml.Node, path: KeyPath) -> Any:
        self.doc.marks.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
        return self.build(node, path)

    def _mapping(self, node: yaml.Node, path: KeyPath) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise self._error(key_node, path, "merge keys (<<) are not supported")
            key = self.build(key_node, path)
            if isinstance(key, (dict, list)):
                raise self._error(key_node, path, "a mapping key must be a plain value")
            key_path = (*path, str(key))
            if key in out:
                first = self.doc.marks.get(key_path)
                where = f" (first at line {first[0]})" if first else ""
                raise self._error(key_node, key_path, f"duplicate key {key!r}{where}")
            self.doc.marks[key_path] = (
                key_node.start_mark.line + 1,
                key_node.start_mark.column + 1,
            )
            out[key] = self.build(value_node, key_path)
        return out

    def _error(self, node: yaml.Node, path: KeyPath, message: str) -> ConfigError:
        mark = node.start_mark
        return ConfigError(
            [Problem(self.doc.file, message, mark.line + 1, mark.column + 1, format_path(path))]
        )
