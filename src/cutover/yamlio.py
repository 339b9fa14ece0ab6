"""The only module that imports yaml: strict, safe loading that remembers where every key was.

Guards, in order: a regular file of bounded size (never a FIFO or device), UTF-8, empty file,
tab indentation, characters YAML forbids (control characters), syntax, nesting depth, unknown
or misused tags, values a tag cannot construct (`2025-02-30`, `!!int x`, a 5,000-digit
number), duplicate keys, and a node budget so alias expansion ("billion laughs") cannot eat
memory.  Each failure is one located Problem, never an exception from yaml.

The document is composed from the parser's events by a loop with an explicit stack, not by
yaml's recursive composer (which overflows the C stack on `[[[[…` a million deep): the depth
and node limits stop it before any deep or huge structure exists.
"""

from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cutover.errors import ConfigError, Problem
from cutover.safefiles import FileRefused, read_regular

MAX_BYTES = 5 * 1024 * 1024
MAX_NODES = 100_000  # values, aliases counted each time they expand (shipped files: < 1,000)
MAX_DEPTH = 100  # nested collections; the shipped files need fewer than 10
MAX_NUMBER = 100  # characters in a number: longer is a typo or an attack, not a count

Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null", "timestamp")}
_COLLECTION_TAGS = {_TAG + "seq", _TAG + "map"}
_MERGE = _TAG + "merge"
_TAB_INDENT = re.compile(r"^ *\t", re.MULTILINE)
# What YAML 1.1 allows in a stream; anything else (C0/C1 controls, DEL, surrogates) is refused.
_FORBIDDEN = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_BREAK = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")  # line breaks as YAML counts them

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
    """`steps[3].verify.url`; a very deep path is cut (`a[0][0]…`), a very long key too."""
    out = ""
    for n, part in enumerate(path):
        if n == 8 and len(path) > 10:
            return out + "…"
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = part if part.isprintable() else repr(part)
            text = text if len(text) <= 40 else text[:37] + "..."
            out += f".{text}" if out else text
    return out


def load_file(path: Path, display: str | None = None) -> Document:
    """A YAML file the user named: a regular file of at most MAX_BYTES, refused otherwise."""
    name = display or str(path)
    try:
        raw = read_regular(path, what=name, limit=MAX_BYTES)
    except FileRefused as exc:
        raise _one(name, exc.reason) from None
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
        line, _ = position(text, tab.start())
        raise ConfigError([Problem(name, "tab character in indentation; use spaces", line, 1)])
    bad = _FORBIDDEN.search(text)
    if bad:
        raise ConfigError([_forbidden_character(text, bad.start(), name)])
    doc = Document(None, name)
    doc.data = _Composer(text, doc).run()
    return doc


def position(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of a character offset, counting line breaks as YAML does."""
    line, start = 1, 0
    for brk in _BREAK.finditer(text, 0, offset):
        line, start = line + 1, brk.end()
    return line, offset - start + 1


def dump(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def _one(name: str, message: str) -> ConfigError:
    return ConfigError([Problem(name, message)])


def _short(text: str) -> str:
    shown = repr(text)
    return shown if len(shown) <= 40 else shown[:37] + "..."


def _forbidden_character(text: str, offset: int, name: str) -> Problem:
    """Where the first character YAML forbids is, and under which key (found by composing the
    text with that character made harmless; without a key path if that changes the structure)."""
    char = text[offset]
    kind = "character" if 0xD800 <= ord(char) <= 0xDFFF else "control character"
    line, col = position(text, offset)
    cleaned = _FORBIDDEN.sub("_", text)
    composer = _Composer(cleaned, Document(None, name), stop_at=offset)
    try:
        composer.run()
        path: KeyPath = ()
    except _Found as found:
        path = found.path
    except ConfigError:
        path = ()
    message = f"{kind} U+{ord(char):04X} is not allowed in YAML"
    return Problem(name, message, line, col, format_path(path))


class _Found(Exception):
    """The node covering `stop_at` was reached (control character lookup)."""

    def __init__(self, path: KeyPath) -> None:
        self.path = path


@dataclass
class _Frame:
    """A collection being composed: its value so far, where it is, what it costs."""

    value: list[Any] | dict[Any, Any]
    path: KeyPath
    anchor: str | None
    size: int = 1  # values in it, itself included (what one alias to it costs)
    key: Any = None
    has_key: bool = False  # a mapping frame whose key is read and whose value is awaited
    key_mark: tuple[int, int] = (0, 0)


class _Composer:
    """Events -> Python values with marks; iterative, so depth costs no Python or C stack."""

    def __init__(self, text: str, doc: Document, stop_at: int | None = None) -> None:
        self.text = text
        self.doc = doc
        self.stop_at = stop_at
        self.stack: list[_Frame] = []
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.open_anchors: set[str] = set()
        self.budget = MAX_NODES

    def run(self) -> Any:
        loader = Loader(self.text)
        try:
            return self._document(loader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            what = exc.problem or exc.context or "invalid YAML"
            raise self._syntax(what, mark) from None
        except yaml.YAMLError as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise self._syntax(first, None) from None
        finally:
            loader.dispose()

    def _document(self, loader: yaml.SafeLoader) -> Any:
        _next(loader)  # stream start
        if loader.check_event(yaml.StreamEndEvent):
            raise _one(self.doc.file, "file is empty")
        _next(loader)  # document start
        value = self._node(loader)
        _next(loader)  # document end
        if not loader.check_event(yaml.StreamEndEvent):
            extra = _next(loader)
            raise self._error(extra, (), "a second document in one file is not supported")
        return value

    def _node(self, loader: yaml.SafeLoader) -> Any:
        """One complete node and everything under it."""
        while True:
            event = _next(loader)
            if isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                frame = self.stack.pop()
                self._check_stop(event, frame.path)
                value, size = frame.value, frame.size
                if frame.anchor is not None:
                    self.open_anchors.discard(frame.anchor)
                    self.anchors[frame.anchor] = (value, size)
            else:
                path = self._next_path(event)
                self._check_stop(event, path)
                self._mark(event, path)
                started = self._start(event, path)
                if started is None:
                    continue
                value, size = started
            if not self.stack:
                return value
            self._attach(self.stack[-1], value, size, event)

    def _start(self, event: yaml.Event, path: KeyPath) -> tuple[Any, int] | None:
        """The value of a scalar or alias with its size; None after opening a collection."""
        if isinstance(event, yaml.AliasEvent):
            return self._alias(event, path)
        self._spend(event, path, 1)
        anchor = getattr(event, "anchor", None)
        if isinstance(event, yaml.ScalarEvent):
            value = self._scalar(event, path)
            if anchor is not None:
                self.anchors[anchor] = (value, 1)
            return value, 1
        assert isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent))
        self._collection_tag(event, path)
        if len(self.stack) >= MAX_DEPTH:
            raise self._error(event, path, f"nested deeper than {MAX_DEPTH} levels")
        if anchor is not None:
            self.open_anchors.add(anchor)
        empty: list[Any] | dict[Any, Any] = [] if isinstance(event, yaml.SequenceStartEvent) else {}
        self.stack.append(_Frame(empty, path, anchor))
        return None

    def _attach(self, frame: _Frame, value: Any, size: int, event: yaml.Event) -> None:
        frame.size += size
        if isinstance(frame.value, list):
            frame.value.append(value)
        elif frame.has_key:
            frame.value[frame.key] = value
            frame.has_key = False
        else:
            self._key(frame, value, event)

    def _key(self, frame: _Frame, key: Any, event: yaml.Event) -> None:
        assert isinstance(frame.value, dict)
        line, col = frame.key_mark
        if isinstance(key, (dict, list)):
            raise self._at(line, col, frame.path, "a mapping key must be a plain value")
        key_path = (*frame.path, str(key))
        if key in frame.value:
            first = self.doc.marks.get(key_path)
            where = f" (first at line {first[0]})" if first else ""
            shown = _short(key) if isinstance(key, str) else repr(key)
            message = f"duplicate key {shown}{where}"
            raise self._at(line, col, key_path, message)
        self.doc.marks[key_path] = frame.key_mark
        frame.key, frame.has_key = key, True

    def _next_path(self, event: yaml.Event) -> KeyPath:
        if not self.stack:
            return ()
        frame = self.stack[-1]
        if isinstance(frame.value, list):
            return (*frame.path, len(frame.value))
        if frame.has_key:
            return (*frame.path, str(frame.key))
        return frame.path  # a key: errors about it belong to the mapping

    def _mark(self, event: yaml.Event, path: KeyPath) -> None:
        mark = _start_of(event)
        if not self.stack:
            return
        frame = self.stack[-1]
        if isinstance(frame.value, list):
            self.doc.marks.setdefault(path, mark)
        elif not frame.has_key:
            frame.key_mark = mark

    def _check_stop(self, event: yaml.Event, path: KeyPath) -> None:
        end = event.end_mark
        if self.stop_at is None or end is None or end.index <= self.stop_at:
            return
        if isinstance(event, yaml.ScalarEvent) and self.stack and self._expects_key():
            path = (*path, str(event.value))
        raise _Found(path)

    def _expects_key(self) -> bool:
        frame = self.stack[-1]
        return isinstance(frame.value, dict) and not frame.has_key

    def _spend(self, event: yaml.Event, path: KeyPath, cost: int) -> None:
        self.budget -= cost
        if self.budget < 0:
            message = f"document expands to over {MAX_NODES} values (alias expansion?)"
            raise self._error(event, path, message)

    def _alias(self, event: yaml.AliasEvent, path: KeyPath) -> tuple[Any, int]:
        name = event.anchor
        if name in self.open_anchors:
            raise self._error(event, path, "recursive alias")
        if name not in self.anchors:
            raise self._error(event, path, f"unknown alias *{name}")
        value, size = self.anchors[name]
        self._spend(event, path, size)
        return copy.deepcopy(value), size

    def _collection_tag(self, event: yaml.Event, path: KeyPath) -> None:
        tag = getattr(event, "tag", None)
        expected = _TAG + ("seq" if isinstance(event, yaml.SequenceStartEvent) else "map")
        if tag is None or tag in ("!", expected):
            return
        kind = "sequence" if expected.endswith("seq") else "mapping"
        if tag in _SCALAR_TAGS or tag in _COLLECTION_TAGS:
            raise self._error(event, path, f"YAML tag {_show_tag(tag)} does not fit a {kind}")
        raise self._error(event, path, f"YAML tag {_show_tag(tag)} is not allowed")

    def _scalar(self, event: yaml.ScalarEvent, path: KeyPath) -> Any:
        tag = event.tag
        if tag is None or tag == "!":
            tag = _RESOLVER.resolve(yaml.ScalarNode, event.value, event.implicit)
        if tag == _MERGE:
            raise self._error(event, path, "merge keys (<<) are not supported")
        if tag in _COLLECTION_TAGS:
            raise self._error(event, path, f"YAML tag {_show_tag(tag)} does not fit a scalar")
        if tag not in _SCALAR_TAGS:
            raise self._error(event, path, f"YAML tag {_show_tag(tag)} is not allowed")
        problem = _construct_problem(tag, event.value)
        if problem:
            raise self._error(event, path, problem)
        node = yaml.ScalarNode(tag, event.value, style=event.style)
        try:
            return _RESOLVER.yaml_constructors[tag](_RESOLVER, node)
        except (
            ValueError,
            KeyError,
            AttributeError,
            TypeError,
            OverflowError,
            yaml.YAMLError,
        ) as exc:
            raise self._error(event, path, _bad_value(tag, event.value, exc)) from None

    def _error(self, event: yaml.Event, path: KeyPath, message: str) -> ConfigError:
        line, col = _start_of(event)
        return self._at(line, col, path, message)

    def _at(self, line: int, col: int, path: KeyPath, message: str) -> ConfigError:
        return ConfigError([Problem(self.doc.file, message, line, col, format_path(path))])

    def _syntax(self, what: str, mark: yaml.Mark | None) -> ConfigError:
        if mark is None:
            return _one(self.doc.file, f"invalid YAML: {what}")
        path = self._where()
        return self._at(mark.line + 1, mark.column + 1, path, f"invalid YAML: {what}")

    def _where(self) -> KeyPath:
        """The key path the parser was in when it stopped."""
        if not self.stack:
            return ()
        frame = self.stack[-1]
        return (*frame.path, str(frame.key)) if frame.has_key else frame.path


def _next(loader: yaml.SafeLoader) -> yaml.Event:
    event: yaml.Event = loader.get_event()  # type: ignore[no-untyped-call]
    return event


def _start_of(event: yaml.Event) -> tuple[int, int]:
    """1-based (line, column) where an event starts."""
    mark = event.start_mark
    assert mark is not None  # the parser marks every event
    return mark.line + 1, mark.column + 1


# Resolution and scalar construction need no parser state: one idle instance serves them.
_RESOLVER: Any = Loader("")


def _show_tag(tag: str) -> str:
    shown = tag.replace(_TAG, "!!")
    return shown if len(shown) <= 60 and shown.isprintable() else _short(shown)


def _construct_problem(tag: str, value: str) -> str | None:
    """What makes a value impossible for its tag before constructing it, if anything."""
    if tag in (_TAG + "int", _TAG + "float") and len(value) > MAX_NUMBER:
        return (
            f"number too long ({len(value):,} characters, at most {MAX_NUMBER}); "
            "quote it if it is text"
        )
    if tag == _TAG + "null" and value not in ("", "~", "null", "Null", "NULL"):
        return f"!!null value {_short(value)} is not null"
    return None


def _bad_value(tag: str, value: str, exc: Exception) -> str:
    kind = tag.replace(_TAG, "")
    if kind == "timestamp" and isinstance(exc, ValueError):
        return f"impossible date {_short(value)}: {exc}"
    expected = {
        "int": "an integer",
        "float": "a number",
        "bool": "true or false",
        "timestamp": "a date or date-time",
    }.get(kind, f"a {kind}")
    return f"!!{kind} value {_short(value)} is not {expected}"
