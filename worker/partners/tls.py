"""The TLS files of one OC (the CA of its server, our client certificate and key), re-read when
they change, so that a certificate renewed on disk is used without a restart.

cert-manager, certbot or a deployment job renew a certificate by renaming new files over the old
ones. Each call asks for the current SSL context; at most every `WORKER_CERTIFICATE_CHECK_SECONDS`
that looks at the files (os.stat: inode, size, mtime: cheap) and, when they changed, loads them
into a new context. aiohttp keys its pooled connections by context, so every connection opened
after a reload presents the new certificate; calls already under way finish on their connection.
Files that changed but do not load (half written, a certificate whose key is not there yet) leave
the previous context in use: one error line, a count, and another try at the next check.
"""

from __future__ import annotations

import os
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import structlog
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from worker.observe.metrics import Metrics
from worker.partners.config import Partner, PartnerConfig
from worker.settings import ConfigError

log = structlog.get_logger()
EXPIRY_WARNING_DAYS = 28
_DAY_SECONDS = 86400.0
_FILES = ("ca_file", "client_cert", "client_key")
# Per file: a rename over it changes the inode, a rewrite the size or mtime; None: missing.
Stamp = tuple[tuple[int, int, int, int] | None, ...]


class TlsFilesError(Exception):
    """The TLS files of an OC do not load; the message names the key."""


@dataclass(frozen=True)
class TlsFiles:
    """What one load of the files gave."""

    context: ssl.SSLContext
    watched: dict[str, x509.Certificate]
    """The certificate whose expiry counts, by key: the client's own (the first of its file)
    and the CA file's soonest to expire."""
    stamp: Stamp


def stamp_of(config: PartnerConfig) -> Stamp:
    return tuple(_stamp(getattr(config, name)) for name in _FILES)


def _stamp(path: Path | None) -> tuple[int, int, int, int] | None:
    if path is None:
        return None
    try:
        stat = os.stat(path)
    except OSError:  # between the removal and the rename of a renewal
        return None
    return stat.st_ino, stat.st_dev, stat.st_size, stat.st_mtime_ns


def load_files(config: PartnerConfig) -> TlsFiles:
    """Load the files named by an OC's table; raises TlsFilesError naming the bad one."""
    # Stamped before reading: a file that changes while it is read is read again next check.
    stamp = stamp_of(config)
    watched = {}
    if config.ca_file is not None:
        watched["ca_file"] = min(_certificates(config.ca_file, "ca_file"), key=expiry)
    if config.client_cert is not None:
        watched["client_cert"] = _certificates(config.client_cert, "client_cert")[0]
    if config.client_key is not None:
        _check_key(config.client_key)
    return TlsFiles(_context(config), watched, stamp)


def _certificates(path: Path, key: str) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(path.read_bytes())
    except OSError as exc:
        raise TlsFilesError(f"{key}: cannot read {path} ({exc.strerror})") from None
    except ValueError:
        raise TlsFilesError(f"{key}: {path} holds no valid PEM certificate") from None


def _check_key(path: Path) -> None:
    """Say what is wrong with a key file; OpenSSL would only say `PEM lib`."""
    try:
        serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise TlsFilesError(f"client_key: cannot read {path} ({exc.strerror})") from None
    except TypeError:
        raise TlsFilesError(f"client_key: {path} is encrypted; give it unencrypted") from None
    except (ValueError, UnsupportedAlgorithm):
        raise TlsFilesError(f"client_key: {path} holds no valid PEM private key") from None


def _context(config: PartnerConfig) -> ssl.SSLContext:
    cafile = str(config.ca_file) if config.ca_file is not None else None
    try:
        context = ssl.create_default_context(cafile=cafile)
    except (ssl.SSLError, OSError) as exc:
        raise TlsFilesError(f"ca_file: {_reason(exc)}") from None
    if config.client_cert is not None:
        keyfile = str(config.client_key) if config.client_key is not None else None
        try:
            context.load_cert_chain(str(config.client_cert), keyfile, password=_no_passphrase)
        except (ssl.SSLError, OSError, TlsFilesError) as exc:
            raise TlsFilesError(f"client_cert and client_key: {_reason(exc)}") from None
    return context


def _no_passphrase() -> str:
    # Without a callback OpenSSL would prompt on the terminal and block the worker.
    raise TlsFilesError("the private key is encrypted; give it unencrypted (file mode 0600)")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason == "KEY_VALUES_MISMATCH":
        return "the key is not the certificate's (KEY_VALUES_MISMATCH)"
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return f"{exc.reason} ({exc.library or 'ssl'})"
    return getattr(exc, "strerror", None) or str(exc)


def expiry(certificate: x509.Certificate) -> datetime:
    return certificate.not_valid_after_utc


class PartnerTls:
    """The current SSL context of one OC, reloaded when its files change, and the days left
    before its certificates expire (`worker_certificate_expiry_days`, computed when scraped)."""

    def __init__(
        self,
        code: str,
        config: PartnerConfig,
        metrics: Metrics,
        check_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.code = code
        self._config = config
        self._metrics = metrics
        self._check_seconds = check_seconds
        self._clock = clock
        self._now = now
        try:
            self._files = load_files(config)
        except TlsFilesError as exc:
            raise ConfigError(f"partners file: oc.{code}: {exc}") from None
        self._checked = clock()
        self._warned: dict[str, int] = {}
        self._report("TLS files loaded")
        for name in self._files.watched:
            gauge = metrics.certificate_expiry_days.labels(code, name)
            gauge.set_function(partial(self._days_left_now, name))

    def context(self) -> ssl.SSLContext:
        """The context for a new call: the files' latest loadable version."""
        self.check()
        return self._files.context

    def check(self) -> None:
        """Reload the files if they changed since the last load; at most every check_seconds."""
        if self._clock() - self._checked < self._check_seconds:
            return
        self._checked = self._clock()
        if stamp_of(self._config) != self._files.stamp:
            self._reload()
        self._warn_if_expiring()

    def days_left(self, name: str) -> float:
        """Days before the watched certificate of `name` (client_cert, ca_file) expires."""
        remaining = expiry(self._files.watched[name]) - self._now()
        return remaining.total_seconds() / _DAY_SECONDS

    def _days_left_now(self, name: str) -> float:
        # Scrapes look at the files too, so that the gauge follows a renewal of an idle OC.
        self.check()
        return self.days_left(name)

    def _reload(self) -> None:
        try:
            files = load_files(self._config)
        except TlsFilesError as exc:
            self._metrics.certificate_reload_failures.labels(self.code).inc()
            log.error(
                "TLS files changed but do not load; the previous ones stay in use",
                code_oc=self.code,
                error=str(exc),
            )
            return
        self._files = files
        self._warned.clear()
        self._report("TLS files reloaded")

    def _report(self, event: str) -> None:
        fields = {
            f"{name}_expires": expiry(c).isoformat() for name, c in self._files.watched.items()
        }
        client = self._files.watched.get("client_cert")
        if client is not None:
            fields["client_cert_serial"] = f"{client.serial_number:x}"
        log.info(event, code_oc=self.code, **fields)
        self._warn_if_expiring()

    def _warn_if_expiring(self) -> None:
        """At each load, then once a day (when the whole number of days left drops)."""
        for name, certificate in self._files.watched.items():
            days = self.days_left(name)
            if days >= EXPIRY_WARNING_DAYS or self._warned.get(name) == int(days):
                continue
            self._warned[name] = int(days)
            log.warning(
                "TLS certificate expired" if days < 0 else "TLS certificate expires soon",
                code_oc=self.code,
                file=name,
                expires=expiry(certificate).isoformat(),
                days_left=round(days, 1),
            )


def open_tls(partner: Partner, metrics: Metrics, check_seconds: float) -> PartnerTls | None:
    """None when the partners file names no TLS file for the OC: the system's CAs then."""
    config = partner.config
    if config.ca_file is None and config.client_cert is None:
        return None
    return PartnerTls(partner.code, config, metrics, check_seconds)
