"""`tls`: the certificate is valid for the host and does not expire within `min_days`."""

from __future__ import annotations

import contextlib
from typing import Literal

from pydantic import Field

from cutover.probes.base import Outcome, ProbeContext, ProbeSpec, Undecided
from cutover.probes.web import trusting


class TlsSpec(ProbeSpec):
    kind: Literal["tls"]
    host: str
    port: int = Field(default=443, ge=1, le=65535)
    min_days: int = Field(default=14, ge=0)
    ca_file: str | None = None  # extra trust anchor, e.g. a government CA bundle

    def summary(self) -> str:
        return f"tls {self.host}:{self.port}"

    def host_key(self) -> str | None:
        return self.host

    async def run(self, ctx: ProbeContext) -> Outcome:
        import asyncio
        import ssl
        import time

        from cutover.probes.lookup import connect

        if self.insecure:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        else:
            context = trusting(self.ca_file) if self.ca_file else ssl.create_default_context()
        try:
            _, writer = await asyncio.open_connection(
                sock=await connect(self.host, self.port), ssl=context, server_hostname=self.host
            )
        except ssl.SSLCertVerificationError as exc:
            return Outcome.fail(f"certificate of {self.host} not valid: {exc.verify_message}")
        except (ssl.SSLError, ConnectionResetError) as exc:
            raise Undecided(f"TLS handshake with {self.host}:{self.port} failed ({exc})") from None
        except OSError as exc:
            raise Undecided(
                f"cannot connect to {self.host}:{self.port} ({exc.strerror or exc})"
            ) from None
        try:
            cert = writer.get_extra_info("peercert") or {}
        finally:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()
        if "notAfter" not in cert:
            raise Undecided(f"{self.host}: certificate details unavailable (insecure mode)")
        # Real time, not the run's clock: OpenSSL has just judged the certificate by it too.
        days = (ssl.cert_time_to_seconds(cert["notAfter"]) - time.time()) / 86400
        if days < self.min_days:
            return Outcome.fail(
                f"certificate expires in {days:.0f} days (< {self.min_days})", f"{days:.0f}d"
            )
        return Outcome.ok(f"{days:.0f}d")
