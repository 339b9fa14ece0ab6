"""Probe kinds: one module each, one registry.  No module here imports aiohttp at import time."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from cutover.probes.base import Limits, Outcome, ProbeContext, ProbeSpec
from cutover.probes.codes import CodesSpec
from cutover.probes.command import CommandSpec
from cutover.probes.count import CountSpec
from cutover.probes.dns import DnsSpec
from cutover.probes.http import HttpSpec
from cutover.probes.manual import ManualSpec
from cutover.probes.oidc import OidcSpec
from cutover.probes.redirect import RedirectSpec
from cutover.probes.tcp import TcpSpec
from cutover.probes.tls import TlsSpec

REGISTRY: dict[str, type[ProbeSpec]] = {
    "http": HttpSpec,
    "redirect": RedirectSpec,
    "oidc": OidcSpec,
    "tls": TlsSpec,
    "count": CountSpec,
    "codes": CodesSpec,
    "tcp": TcpSpec,
    "dns": DnsSpec,
    "command": CommandSpec,
    "manual": ManualSpec,
}

AnyProbe = Annotated[
    HttpSpec
    | RedirectSpec
    | OidcSpec
    | TlsSpec
    | CountSpec
    | CodesSpec
    | TcpSpec
    | DnsSpec
    | CommandSpec
    | ManualSpec,
    Field(discriminator="kind"),
]

__all__ = ["REGISTRY", "AnyProbe", "Limits", "Outcome", "ProbeContext", "ProbeSpec"]
