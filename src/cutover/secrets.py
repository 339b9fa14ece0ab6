"""Secret references (`${env:NAME}`, `${file:PATH}`) and redaction.

A probe's headers, URLs (user-info, path, query), basic-auth and the overlay's endpoint URLs
may name a secret instead of holding it.  References are resolved at run time, after
placeholder substitution, by one `Secrets` object per run; it remembers every value it handed
out so `redact` can remove them from anything that leaves the engine (reasons, observed values,
logs).  `check_references` resolves every reference a run will need before it starts, so a
missing one is a usage error (exit 2) naming it, not a column of unknown cells.

A value is masked in every form it is sent or shown in: as it is, percent-encoded (as a URL
field carries it, see `templates.url_encoded`, and as aiohttp passes that on), `+` for space,
regex-escaped, quoted by `repr`; and a credential a probe makes of it before sending it (the
base64 of a Basic `user:password`) is masked like it once the engine has `remember`ed it.
"""

from __future__ import annotations

import os
import pwd
import re
import stat
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, quote_plus, urlsplit, urlunsplit

from cutover import templates
from cutover.errors import UsageError

if TYPE_CHECKING:
    from cutover.checklist import Endpoints, Step
    from cutover.geo import Province
    from cutover.plan import Target

REFERENCE = templates.REFERENCE
MASK = "***"
FILE_CAP = 64 * 1024
_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/?#\s@]+@")
# `name=${…}` in a query string: that parameter's value is secret wherever it appears.
_SECRET_PARAM = re.compile(r"[?&;]([^=&#;?\s]+)=[^&#;\s]*\$\{(?:env|file):")


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SHAPE = "write ${env:NAME} or ${file:PATH}"


def reference_problems(text: str) -> list[str]:
    """What is wrong with each `${…}` in a file's string: a reference that is not of the
    form `${env:NAME}` or `${file:PATH}` would be sent as it stands, so it is an error when
    the file is loaded.  The messages quote the reference, which names a secret but never
    holds one."""
    problems = []
    start = text.find("${")
    while start != -1:
        end = text.find("}", start)
        if end == -1:
            problems.append(f"unclosed secret reference {text[start : start + 30]}: {_SHAPE}")
            break
        body = text[start + 2 : end]
        source, _, name = body.partition(":")
        if source not in ("env", "file") or not name:
            problems.append(f"malformed secret reference ${{{body}}}: {_SHAPE}")
        elif source == "env" and not _ENV_NAME.fullmatch(name):
            problems.append(
                f"malformed secret reference ${{{body}}}: an environment variable name has "
                "only letters, digits and _, and does not start with a digit"
            )
        start = text.find("${", end)
    return problems


class MissingSecret(UsageError):
    """A reference that cannot be resolved (exit 2 when it reaches the command line)."""


def _verbatim(text: str) -> str:
    return text


class Secrets:
    """Resolves references against an environment and a base directory (for relative file
    paths), and redacts every value it resolved."""

    def __init__(self, env: Mapping[str, str], base_dir: Path) -> None:
        self._env = env
        self._base = base_dir
        self._files: dict[str, str] = {}
        self._known: set[str] = set()  # values whose forms are in _values
        self._values: set[str] = set()
        self._longest_first: list[str] | None = None
        self._params: set[str] = set()
        self._param_pattern: re.Pattern[str] | None = None
        self.uses = 0  # references resolved so far: a render that changes it used secrets

    def resolve(self, text: str, escape: Callable[[str], str] = _verbatim) -> str:
        """`text` with every reference replaced by its value, passed through `escape`."""
        for name in _SECRET_PARAM.findall(text):
            if name not in self._params:
                self._params.add(name)
                self._param_pattern = None
        return REFERENCE.sub(lambda m: escape(self.value(m[0], m[1], m[2])), text)

    def value(self, reference: str, source: str, name: str) -> str:
        value = self._env_value(reference, name) if source == "env" else self._file(reference, name)
        if not value:
            raise MissingSecret(f"secret {reference} is empty")
        self.uses += 1
        self._remember(value)
        return value

    def remember(self, derived: Iterable[str]) -> None:
        """Values made from secrets before they are sent (a Basic credential is the base64 of
        `user:password`): masked like the secrets themselves."""
        for value in derived:
            self._remember(value)

    def redact(self, text: str) -> str:
        """Every known secret value, URL user-info and secret query values become ***."""
        if not self._values and not self._params and "@" not in text:
            return text  # nothing it could hide (the common case: once per probe result)
        if self._longest_first is None:
            self._longest_first = sorted(
                (v for v in self._values if len(v) >= SHORTEST_MASKED), key=len, reverse=True
            )
        for value in self._longest_first:
            text = text.replace(value, MASK)
        text = _USERINFO.sub(rf"\1{MASK}@", text)
        if self._params:
            if self._param_pattern is None:
                names = "|".join(map(re.escape, sorted(self._params, key=len, reverse=True)))
                # the value runs to the next separator; a colon that ends a phrase is not in it
                value = r"(?:[^&#;\s'\"<>:]|:(?!\s|$))*"
                self._param_pattern = re.compile(rf"([?&;](?:{names})=){value}")
            text = self._param_pattern.sub(rf"\1{MASK}", text)
        return text

    def _remember(self, value: str) -> None:
        if value in self._known:
            return  # the same few values come once per probe
        self._known.add(value)
        encoded = templates.url_encoded(value)
        forms = {value, quote(value), encoded, quote_plus(value), re.escape(value)}
        # aiohttp sends an encoded value with the characters each part of a URL allows decoded
        # again, and a response's URL (shown in reasons) is in that form.
        forms |= {quote(value, safe=safe) for safe in _REQUOTED}
        forms.add(quote(encoded, safe=""))  # a URL inside another's query (oidc redirect_uri)
        forms.add(repr(value)[1:-1])  # a reason quoting an echo of it
        self._values |= forms
        self._longest_first = None

    def _env_value(self, reference: str, name: str) -> str:
        if name not in self._env:
            raise MissingSecret(f"secret {reference}: environment variable {name} is not set")
        return self._env[name]

    def _file(self, reference: str, name: str) -> str:
        if "\0" in name:
            raise MissingSecret(f"secret {reference}: a file name cannot contain a NUL character")
        if name not in self._files:
            path = self._base / self._expanded(reference, name)
            self._files[name] = _read_secret_file(reference, path)
        return self._files[name]

    def _expanded(self, reference: str, name: str) -> Path:
        """`~` and `~/…` under the environment's HOME (this one's, not the process's), else
        the account's home directory; `~user/…` as the account database says."""
        if not name.startswith("~"):
            # As written: pathlib reads `./~/x` as `~/x`, which `expanduser` would expand.
            return Path(name)
        try:
            if name != "~" and not name.startswith("~/"):
                return Path(name).expanduser()  # `~user/…`
            home = self._env.get("HOME") or pwd.getpwuid(os.getuid()).pw_dir
        except (KeyError, RuntimeError):  # an account the system does not know
            user = name.split("/", 1)[0]
            raise MissingSecret(
                f"secret {reference}: no home directory is known for {user}"
            ) from None
        return Path(home) / name[1:].lstrip("/")  # `~//x` is $HOME/x, as in the shell


# What aiohttp (yarl) leaves unencoded in a path, a query, user-info and a fragment.
_REQUOTED = ("!$&'()*,;=:@", "!$'()*,/:?@", "!$&'()*+,;=", "!$&'()*+,;=/:?@")

# A value shorter than this is not searched for in free text: "t" would mask every t in every
# reason.  It is still masked where it stands as a query value or URL user-info; a credential
# that short is no secret anyway.
SHORTEST_MASKED = 6


def _read_secret_file(reference: str, path: Path) -> str:
    """A regular file of at most 64 KiB, UTF-8, one trailing newline dropped.  Opened without
    blocking, so a FIFO or a device is refused rather than read forever."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise MissingSecret(f"secret {reference}: cannot read {path}: {exc.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise MissingSecret(f"secret {reference}: {path} is not a regular file")
    with os.fdopen(fd, "rb") as file:
        data = file.read(FILE_CAP + 1)
    if len(data) > FILE_CAP:
        raise MissingSecret(f"secret {reference}: {path} is larger than {FILE_CAP // 1024} KiB")
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise MissingSecret(f"secret {reference}: {path} is not UTF-8 text") from None
    return text.removesuffix("\n").removesuffix("\r")


def redact_url(url: str) -> str:
    """`url` without user-info and with every query (and fragment) value replaced by ***: for
    a URL shown or stored whole, such as a webhook or a recorded command line."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _USERINFO.sub(r"\1", url).split("?", 1)[0] + (f"?{MASK}" if "?" in url else "")
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit(
        (parts.scheme, netloc, parts.path, _mask_pairs(parts.query), _mask_pairs(parts.fragment))
    )


def _mask_pairs(text: str) -> str:
    if not text:
        return text
    return "&".join(
        f"{p.split('=', 1)[0]}={MASK}" if "=" in p else (MASK if p else p) for p in text.split("&")
    )


def references(text: str) -> list[str]:
    return [m[0] for m in REFERENCE.finditer(text)]


def check_references(
    targets: Iterable[Target],
    endpoints: Endpoints,
    env: Mapping[str, str],
    base_dir: Path,
) -> None:
    """Resolve every reference the automated targets will use (relative files under
    `base_dir`, the caller's working directory); raise UsageError naming each one that cannot
    be, before anything is probed."""
    secrets = Secrets(env, base_dir)
    problems: dict[str, str] = {}
    for text, where in _texts(targets, endpoints):
        for match in REFERENCE.finditer(text):
            if match[0] in problems:
                continue
            try:
                secrets.value(match[0], match[1], match[2])
            except MissingSecret as exc:
                problems[match[0]] = f"{exc} (used by {where})"
    if problems:
        raise UsageError("; ".join(problems.values()))


def _texts(targets: Iterable[Target], endpoints: Endpoints) -> Iterable[tuple[str, str]]:
    """Every string a probe will be rendered from, with where it comes from."""
    steps: dict[str, Step] = {}
    provinces: dict[str, dict[str, Province]] = {}
    last_step: Step | None = None
    last_province: Province | None = None
    for target in targets:
        # A province's communes follow one another with the same step and province: each
        # pair is looked at once, not once per commune (6,642 targets at commune scale).
        if target.step is last_step and target.province is last_province:
            continue
        last_step, last_province = target.step, target.province
        if not target.step.verify.manual:
            steps.setdefault(target.step.id, target.step)
            provinces.setdefault(target.step.id, {})[target.province.code] = target.province
    values: dict[str, dict[str, str]] = {}
    for step_id, step in steps.items():
        strings = [s for _, s in templates.strings_in(step.verify.model_dump(by_alias=True))]
        yield from ((s, f"step {step_id}") for s in strings)
        names = sorted(
            {n for s in strings for scope, n in templates.placeholders(s) if scope == "endpoint"}
        )
        for code, province in provinces[step_id].items():
            if code not in values:
                values[code] = endpoints.for_province(province)
            for name in names:
                if name in values[code]:
                    yield values[code][name], f"endpoint {name} of province {code}"
