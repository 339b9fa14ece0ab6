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
from typing import Any, NoReturn

import yaml

from cutover.errors import ConfigError, Problem
from cutover.safefiles import YAML_LIMIT, FileRefused, read_regular

MAX_BYTES = YAML_LIMIT
MAX_NODES = 50_000  # values, aliases counted each time they expand (shipped files: < 1,000)
MAX_DEPTH = 100  # nested collections; the shipped files need fewer than 10
MAX_NUMBER = 100  # characters in a number: longer is a typo or an attack, not a count

Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null", "timestamp")}
_COLLECTION_TAGS = {_TAG + "seq", _TAG + "map"}
_MERGE = _TAG + "merge"
_STR = _TAG + "str"
_INT = _TAG + "int"
_DECIMAL = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
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
        return Problem(self.file, one_line(message), line, col, format_path(path), warning)


MAX_MESSAGE = 400


def one_line(message: str) -> str:
    """A message fit for one terminal line: line breaks and control characters escaped
    (a value quoted from the file cannot start a second line or move the cursor), cut at
    MAX_MESSAGE characters."""
    if not message.isprintable():
        message = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 3] + "..."


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
    is_list: bool
    size: int = 1  # values in it, itself included (what one alias to it costs)
    key: Any = None
    has_key: bool = False  # a mapping frame whose key is read and whose value is awaited
    key_mark: tuple[int, int] = (0, 0)


_LIBYAML_DEPTH = "exceeded maximum nesting depth"  # libyaml's own limit (PyYAML >= 6.0.4)


class _PastLibyamlDepth(Exception):
    """libyaml refused the nesting before this module's own limit was reached."""


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
        self.expanded = False  # whether an alias was expanded (for the budget's message)

    def run(self) -> Any:
        try:
            return self._run(Loader)
        except _PastLibyamlDepth:
            # PyYAML 6.0.4's libyaml stops at 1,000 levels of nesting, and in a flow it gets
            # there while it scans ahead for a possible key, before this composer has seen
            # MAX_DEPTH levels.  Read again with PyYAML's own parser, which has no such limit:
            # the composer stops at MAX_DEPTH as before, and names the place and the key.
            self.doc.marks.clear()
            return _Composer(self.text, self.doc, self.stop_at)._run(yaml.SafeLoader)

    def _run(self, loader_class: type[yaml.SafeLoader]) -> Any:
        loader = loader_class(self.text)
        try:
            return self._document(loader)
        except yaml.MarkedYAMLError as exc:
            if exc.problem == _LIBYAML_DEPTH and loader_class is not yaml.SafeLoader:
                raise _PastLibyamlDepth from None
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
        """One complete node and everything under it (the hot loop: kept flat on purpose)."""
        stack, marks = self.stack, self.doc.marks
        while True:
            event = _next(loader)
            if self.stop_at is not None:
                self._check_stop(event)
            if isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                frame = stack.pop()
                value, size = frame.value, frame.size
                if frame.anchor is not None:
                    self.open_anchors.discard(frame.anchor)
                    self.anchors[frame.anchor] = (value, size)
            else:
                path: KeyPath = ()
                if stack:
                    frame = stack[-1]
                    mark = _start_of(event)
                    if frame.is_list:
                        path = (*frame.path, len(frame.value))
                        marks.setdefault(path, mark)
                    elif frame.has_key:
                        path = (*frame.path, str(frame.key))
                    else:
                        path = frame.path  # a key: errors about it belong to the mapping
                        frame.key_mark = mark
                if isinstance(event, yaml.ScalarEvent):
                    self.budget -= 1
                    if self.budget < 0:
                        self._over_budget(event, path)
                    value, size = self._scalar(event, path), 1
                    if event.anchor is not None:
                        self.anchors[event.anchor] = (value, 1)
                elif isinstance(event, yaml.AliasEvent):
                    value, size = self._alias(event, path)
                else:
                    self._open(event, path)
                    continue
            if not stack:
                return value
            frame = stack[-1]
            frame.size += size
            if frame.is_list:
                frame.value.append(value)  # type: ignore[union-attr]
            elif frame.has_key:
                frame.value[frame.key] = value
                frame.has_key = False
            else:
                self._key(frame, value)

    def _open(self, event: yaml.Event, path: KeyPath) -> None:
        """Start a sequence or mapping."""
        self.budget -= 1
        if self.budget < 0:
            self._over_budget(event, path)
        self._collection_tag(event, path)
        if len(self.stack) >= MAX_DEPTH:
            raise self._error(event, path, f"nested deeper than {MAX_DEPTH} levels")
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            self.open_anchors.add(anchor)
        is_list = isinstance(event, yaml.SequenceStartEvent)
        self.stack.append(_Frame([] if is_list else {}, path, anchor, is_list))

    def _key(self, frame: _Frame, key: Any) -> None:
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

    def _check_stop(self, event: yaml.Event) -> None:
        end = event.end_mark
        if self.stop_at is None or end is None or end.index <= self.stop_at:
            return
        if not self.stack:
            raise _Found(())
        frame = self.stack[-1]
        if isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            raise _Found(frame.path)
        if frame.is_list:
            raise _Found((*frame.path, len(frame.value)))
        # A value names its key; a key (whose text is altered here) names the mapping.
        raise _Found((*frame.path, str(frame.key)) if frame.has_key else frame.path)

    def _over_budget(self, event: yaml.Event, path: KeyPath) -> NoReturn:
        if self.expanded:
            message = f"document expands to over {MAX_NODES} values (alias expansion?)"
        else:
            message = f"document has over {MAX_NODES:,} values"
        raise self._error(event, path, message)

    def _alias(self, event: yaml.AliasEvent, path: KeyPath) -> tuple[Any, int]:
        name = event.anchor
        if name in self.open_anchors:
            raise self._error(event, path, "recursive alias")
        if name not in self.anchors:
            raise self._error(event, path, f"unknown alias *{name}")
        value, size = self.anchors[name]
        self.expanded = True
        self.budget -= size
        if self.budget < 0:
            self._over_budget(event, path)
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
        if tag == _STR:
            return event.value
        if tag == _INT and _DECIMAL.fullmatch(event.value):
            return int(event.value)  # the common case, without yaml's slower general path
        node = yaml.ScalarNode(tag, event.value, style=event.style)
        try:
            return _RESOLVER.yaml_constructors[tag](_RESOLVER, node)
        except Exception as exc:  # whatever yaml's constructor trips on, the value is bad
            raise self._error(event, path, _bad_value(tag, event.value, exc)) from None

    def _error(self, event: yaml.Event, path: KeyPath, message: str) -> ConfigError:
        line, col = _start_of(event)
        return self._at(line, col, path, message)

    def _at(self, line: int, col: int, path: KeyPath, message: str) -> ConfigError:
        problem = Problem(self.doc.file, one_line(message), line, col, format_path(path))
        return ConfigError([problem])

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
        digits = value.lstrip("+-")
        size = f"{len(digits):,} digits" if digits.isdigit() else f"{len(value):,} characters"
        return f"a number of {size} is too long (at most {MAX_NUMBER}); quote it if it is text"
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
