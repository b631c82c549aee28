"""Network guards for live probes run by a server on behalf of tenants.

A server that connects to databases its tenants name must not become a way
into its own network. :func:`resolve` looks the host up once, checks the
address it will connect to, and returns that address, so the probe connects
to exactly what was checked (no second lookup that DNS could answer
differently). Connection options that make the client read local files or
sockets are refused, and connection errors are told in a few fixed
categories rather than in the server's own words, so a probe cannot be used
to read banners or map ports.

The command-line scanner runs on the customer's machine against their own
databases and passes no policy: nothing here applies to it.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from audits.engine.sources import SourceError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

SWITCHES = "PLUMBLINE_ALLOW_PRIVATE_TARGETS or PLUMBLINE_ALLOWED_TARGET_NETWORKS"

# libpq parameters that read files or sockets on the machine that connects,
# or pick connection details from local files.
PG_LOCAL_OPTIONS = frozenset(
    {
        "passfile",
        "service",
        "servicefile",
        "sslcert",
        "sslkey",
        "sslrootcert",
        "sslcrl",
        "sslcrldir",
        "sslpassword",
        "hostaddr",
        "requirepeer",
        "gsslib",
        "krbsrvname",
    }
)
# MySQL URL options with the same effect (sockets, option files, LOAD DATA
# LOCAL reading the client's files).
MYSQL_LOCAL_OPTIONS = frozenset(
    {
        "unix_socket",
        "socket",
        "local_infile",
        "allow_local_infile",
        "read_default_file",
        "read_default_group",
        "defer_connect",
        "ssl_ca",
        "ssl_cert",
        "ssl_key",
        "ssl_capath",
        "init_command",
        "auth_plugin_map",
    }
)


class TargetRefused(SourceError):
    """The operator's policy does not allow connecting to this target."""


@dataclass(frozen=True)
class NetworkPolicy:
    """Which addresses a server-side probe may connect to.

    ``allow_private`` lets it reach loopback, private, link-local and
    unique-local addresses and the app's own database servers;
    ``allowed_networks`` (CIDRs) are allowed whatever they are.
    ``own_servers`` lists the ``(host, port)`` of the app's own databases.
    """

    allow_private: bool = False
    allowed_networks: tuple[str, ...] = ()
    own_servers: tuple[tuple[str, int], ...] = field(default=())
    resolve_timeout: float = 5.0

    def networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """Return the allow-list as network objects."""
        return [
            ipaddress.ip_network(n.strip(), strict=False)
            for n in self.allowed_networks
            if n.strip()
        ]


def _plain(address: Address) -> Address:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def why_private(address: Address) -> str | None:
    """Return what kind of non-public address this is, or None when public."""
    a = _plain(address)
    if a.is_loopback:
        return "a loopback address"
    if a.is_link_local:
        return "a link-local address"
    if a.is_unspecified:
        return "an unspecified address"
    if a.is_multicast:
        return "a multicast address"
    if isinstance(a, ipaddress.IPv6Address) and a in ipaddress.ip_network("fc00::/7"):
        return "a unique-local address"
    if a.is_private or a.is_reserved:
        return "a private address"
    if isinstance(a, ipaddress.IPv4Address) and a in ipaddress.ip_network(
        "100.64.0.0/10"
    ):
        return "a private address"  # carrier-grade NAT, shared address space
    return None


def _lookup(host: str, port: int, timeout: float) -> list[Address]:
    """Return the addresses of ``host``, giving up after ``timeout`` seconds."""
    found: list[Address] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
                text = str(info[4][0]).split("%", 1)[0]
                found.append(ipaddress.ip_address(text))
        except (OSError, ValueError) as exc:
            failure.append(exc)

    worker = threading.Thread(target=run, name="plumbline-resolve", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise SourceError(f"{host}: timed out looking up the host name")
    if failure or not found:
        raise SourceError(f"{host}: no such host")
    return list(dict.fromkeys(found))


def _own_addresses(
    servers: Iterable[tuple[str, int]], timeout: float
) -> set[tuple[Address, int]]:
    own: set[tuple[Address, int]] = set()
    for host, port in servers:
        try:
            own |= {(_plain(a), port) for a in _lookup(host, port, timeout)}
        except SourceError:
            continue
    return own


def resolve(host: str, port: int, policy: NetworkPolicy) -> str:
    """Return the address to connect to for ``host``, checked against ``policy``.

    Raise :class:`TargetRefused` when the address is not allowed, and
    :class:`SourceError` when the name does not resolve.
    """
    if not host or host.startswith("/") or "," in host:
        raise TargetRefused(
            f"{host or 'the URL'}: only a TCP host name or address is allowed "
            "(no socket paths, no host lists)"
        )
    addresses = _lookup(host, port, policy.resolve_timeout)
    address = addresses[0]
    if any(_plain(address) in net for net in policy.networks()):
        return str(address)
    if policy.allow_private:
        return str(address)
    if (_plain(address), port) in _own_addresses(
        policy.own_servers, policy.resolve_timeout
    ):
        raise TargetRefused(
            f"{host}:{port}: refused, this is the server's own database "
            f"(the operator can allow it with {SWITCHES})"
        )
    why = why_private(address)
    if why is not None:
        raise TargetRefused(
            f"{host}: refused, the host resolves to {why}; this server connects "
            f"only to public addresses unless its operator allows more ({SWITCHES})"
        )
    return str(address)


def refuse_local_options(options: Iterable[str], *, engine: str) -> None:
    """Raise :class:`TargetRefused` when a connection option reads local files."""
    local = PG_LOCAL_OPTIONS if engine == "postgresql" else MYSQL_LOCAL_OPTIONS
    bad = sorted({o for o in options if o.lower() in local})
    if bad:
        raise TargetRefused(
            f"the connection option{'s' if len(bad) > 1 else ''} {', '.join(bad)} "
            "would read files or sockets on this server, so "
            f"{'they are' if len(bad) > 1 else 'it is'} not allowed"
        )


_NO_FILE = "/nonexistent/plumbline-reads-no-local-file"


def pin_postgres(params: dict[str, Any], policy: NetworkPolicy) -> None:
    """Check libpq connection parameters and pin them to the address checked."""
    refuse_local_options(params, engine="postgresql")
    host = str(params.get("host") or "")
    if not host:
        raise TargetRefused(
            "the URL names no host (postgresql://user@host:port/database)"
        )
    try:
        port = int(str(params.get("port") or "5432"))
    except ValueError as exc:
        raise TargetRefused("the URL's port must be one number") from exc
    # libpq connects to hostaddr and keeps host for TLS and messages.
    params["hostaddr"] = resolve(host, port, policy)
    # Nothing from this server's own files: no password file, no client
    # certificate of the account the worker runs as.
    params["passfile"] = _NO_FILE
    params["sslcert"] = _NO_FILE
    params["sslkey"] = _NO_FILE


REFUSED = "the server refused the connection"
TIMED_OUT = "timed out"
AUTH_FAILED = "authentication failed (check the user name and password)"
NO_DATABASE = "the server has no such database, or the user may not open it"
NOT_THIS_KIND = "the server did not answer as a {kind} database does"


def categorise(message: str, *, kind: str) -> str:
    """Return one fixed category for a connection failure's ``message``.

    The server's own text (its banner, version, configuration) never reaches
    the user: only which of a few things went wrong.
    """
    text = message.lower()
    if "timeout" in text or "timed out" in text:
        return TIMED_OUT
    if "refused" in text or "no route" in text or "unreachable" in text:
        return REFUSED
    if (
        "password" in text
        or "authentication" in text
        or "access denied" in text
        or "pg_hba.conf" in text
        or ("role" in text and "does not exist" in text)
    ):
        return AUTH_FAILED
    if "database" in text and ("does not exist" in text or "unknown" in text):
        return NO_DATABASE
    return NOT_THIS_KIND.format(kind=kind)
