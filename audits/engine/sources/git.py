"""Git repositories as code targets: a shallow clone per scan, then deleted.

The clone is shallow (one commit), made with nothing from the machine's own
git or ssh configuration, no hooks, symlinks checked out as plain files, and
limits on time, size and file count; it lives in a temporary folder that is
removed when the scan ends, whatever happens. With a network policy (a
server scanning for tenants) the host is checked like a database host and
the connection pinned to the address checked; local paths are read only
inside the roots the operator allows.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from audits.engine import confine, guard
from audits.engine.sources import SourceError

# A branch, tag or commit: no leading dash (never an option), no spaces.
_REF = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._/@+-]{0,199}")
# user@host:path, the scp-like form ssh remotes are usually written in.
_SCP = re.compile(
    r"(?P<user>[A-Za-z0-9._-]+)@(?P<host>[A-Za-z0-9.-]+):(?P<path>[^/].*)"
)
_COMMIT = re.compile(r"[0-9a-f]{40,64}")
_DEFAULT_PORTS = {"https": 443, "http": 80, "ssh": 22, "git": 9418}


@dataclass(frozen=True)
class GitLimits:
    """What one clone may cost before it is stopped."""

    max_bytes: int = 200 * 1024 * 1024
    max_files: int = 20_000
    seconds: float = 120.0
    workdir: str | None = None  # where temporary clones go (the system default)


@dataclass(frozen=True)
class Remote:
    """A parsed repository location."""

    kind: str  # "https", "http", "ssh", "git" or "path"
    url: str
    host: str = ""
    port: int = 0

    @property
    def is_path(self) -> bool:
        """Return True for a repository on this machine's disk."""
        return self.kind == "path"


def parse_remote(location: str) -> Remote:
    """Return the remote a target's location names; raise SourceError if unusable."""
    location = location.strip()
    if not location or location.startswith("-") or "::" in location.split("://")[0]:
        raise SourceError("name a repository URL (https://, ssh:// or git://)")
    scp = _SCP.fullmatch(location)
    if scp and "://" not in location:
        return Remote("ssh", location, scp["host"], 22)
    if "://" not in location:
        return Remote("path", location)
    parts = urllib.parse.urlsplit(location)
    scheme = parts.scheme.lower()
    if scheme == "file":
        return Remote("path", urllib.parse.unquote(parts.path))
    if scheme not in _DEFAULT_PORTS:
        raise SourceError(
            f"{scheme}:// repositories are not supported; use https://, ssh:// "
            "or git://"
        )
    try:
        port = parts.port or _DEFAULT_PORTS[scheme]
    except ValueError as exc:
        raise SourceError("the repository URL has a bad port") from exc
    if not parts.hostname:
        raise SourceError("the repository URL names no host")
    if parts.password:
        raise SourceError(
            "put the access token in the token field, not in the URL, so it is "
            "stored encrypted"
        )
    return Remote(scheme, location, parts.hostname, port)


def valid_ref(ref: str) -> bool:
    """Return True when ``ref`` can name a branch, tag or commit safely."""
    return bool(_REF.fullmatch(ref)) and ".." not in ref and not ref.endswith(".lock")


def _pinned(remote: Remote, address: str) -> str:
    """Return the URL to fetch for a git:// remote, pointing at ``address``."""
    parts = urllib.parse.urlsplit(remote.url)
    host = f"[{address}]" if ":" in address else address
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{host}:{remote.port}"))


def _human(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):g} MB"
    return f"{size / 1024:g} KB"


def _size(path: Path) -> int:
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                continue
    return total


class _Clone:
    def __init__(
        self,
        remote: Remote,
        *,
        ref: str,
        secret: str | None,
        limits: GitLimits,
        policy: guard.NetworkPolicy | None,
        path_roots: tuple[str, ...] | None,
        base: Path,
    ) -> None:
        self.remote = remote
        self.ref = ref or "HEAD"
        self.secret = secret or ""
        self.limits = limits
        self.repo = base / "repo"
        self.home = base / "home"
        self.address = ""
        self.deadline = time.monotonic() + limits.seconds
        self.config: list[tuple[str, str]] = [
            ("core.hooksPath", os.devnull),
            ("core.symlinks", "false"),
            ("core.fsmonitor", "false"),
            ("http.followRedirects", "false"),
            ("protocol.file.allow", "always" if remote.is_path else "never"),
            ("fetch.recurseSubmodules", "false"),
        ]
        self.url = self._where(policy, path_roots)
        self.env = self._environment(policy)

    def _where(
        self, policy: guard.NetworkPolicy | None, path_roots: tuple[str, ...] | None
    ) -> str:
        """Return what to fetch from, checked against the operator's policy."""
        if self.remote.is_path:
            if path_roots is None:
                return self.remote.url
            if not path_roots:
                raise guard.TargetRefused(
                    "repositories by path are off on this server (its operator "
                    "has set no PLUMBLINE_TARGET_PATH_ROOTS); use a URL"
                )
            with confine.confined(path_roots):
                try:
                    return str(confine.check(self.remote.url))
                except confine.PathRefused as exc:
                    raise guard.TargetRefused(
                        f"{self.remote.url}: {confine.OUTSIDE}"
                    ) from exc
        if policy is None:
            return self.remote.url
        self.address = guard.resolve(self.remote.host, self.remote.port, policy)
        if self.remote.kind == "git":
            return _pinned(self.remote, self.address)
        if self.remote.kind in ("https", "http"):
            self.config.append(
                (
                    "http.curloptResolve",
                    f"{self.remote.host}:{self.remote.port}:{self.address}",
                )
            )
        return self.remote.url

    def _environment(self, policy: guard.NetworkPolicy | None) -> dict[str, str]:
        self.home.mkdir()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_LFS_SKIP_SMUDGE": "1",
            "GIT_ASKPASS": "/bin/false",
            "SSH_ASKPASS": "/bin/false",
            "GIT_ALLOW_PROTOCOL": "file"
            if self.remote.is_path
            else "https:http:ssh:git",
        }
        if self.secret and self.remote.kind in ("https", "http"):
            if self.remote.kind == "http":
                raise guard.TargetRefused(
                    "an access token is sent only over https://, never http://"
                )
            basic = base64.b64encode(f"x-access-token:{self.secret}".encode()).decode()
            # Through the environment, so the token never shows in a process list.
            self.config.append(("http.extraHeader", f"Authorization: Basic {basic}"))
        if self.remote.kind == "ssh":
            env["GIT_SSH_COMMAND"] = self._ssh_command(policy)
        env["GIT_CONFIG_COUNT"] = str(len(self.config))
        for n, (key, value) in enumerate(self.config):
            env[f"GIT_CONFIG_KEY_{n}"] = key
            env[f"GIT_CONFIG_VALUE_{n}"] = value
        return env

    def _ssh_command(self, policy: guard.NetworkPolicy | None) -> str:
        options = [
            "ssh",
            "-F",
            os.devnull,
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=accept-new",
            "-o",
            f"UserKnownHostsFile={self.home / 'known_hosts'}",
            "-o",
            "ConnectTimeout=10",
        ]
        if policy is not None and self.address:
            options += ["-o", f"HostName={self.address}"]
        if self.secret:
            key = self.home / "deploy_key"
            key.write_text(self.secret.strip() + "\n")
            key.chmod(0o600)
            options += ["-i", str(key), "-o", "IdentitiesOnly=yes"]
        return " ".join(options)

    def _run(self, *args: str, watch: Path | None = None) -> str:
        """Run git; stop it at the deadline or when ``watch`` grows too big."""
        process = subprocess.Popen(
            ["git", *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
        try:
            while True:
                try:
                    out, err = process.communicate(timeout=0.2)
                    break
                except subprocess.TimeoutExpired:
                    pass
                if time.monotonic() > self.deadline:
                    raise SourceError(
                        f"the clone took longer than {self.limits.seconds:g}s, the "
                        "limit for a repository"
                    )
                if watch is not None and _size(watch) > self.limits.max_bytes:
                    raise self._too_big()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        if process.returncode != 0:
            raise SourceError(self._explain(err.decode("utf-8", "replace")))
        return out.decode("utf-8", "replace")

    def _too_big(self) -> SourceError:
        return SourceError(
            f"the repository is larger than {_human(self.limits.max_bytes)}, the "
            "limit for a scan; scan it in CI and upload the result instead"
        )

    def _explain(self, stderr: str) -> str:
        text = stderr.lower()
        if "couldn't find remote ref" in text or "not our ref" in text:
            return f"the repository has no branch, tag or commit named {self.ref!r}"
        if (
            "authentication" in text
            or "permission denied" in text
            or "could not read username" in text
            or "403" in text
            or "401" in text
        ):
            return "the repository refused access (check the token or deploy key)"
        if "not found" in text or "does not appear to be a git repository" in text:
            return "no repository at this address (or it is private: add a token)"
        if "timed out" in text or "timeout" in text:
            return "timed out reaching the repository"
        if "refused" in text:
            return "the server refused the connection"
        if "could not resolve host" in text:
            return "no such host"
        return "could not fetch the repository"

    def fetch(self) -> str:
        """Fetch one commit and check it out; return its id."""
        self._run("init", "--quiet", str(self.repo))
        git_dir = self.repo / ".git"
        self._run(
            "-C",
            str(self.repo),
            "fetch",
            "--quiet",
            "--depth=1",
            "--no-tags",
            "--no-recurse-submodules",
            self.url,
            self.ref,
            watch=git_dir,
        )
        if _size(git_dir) > self.limits.max_bytes:
            raise self._too_big()
        commit = self._run("-C", str(self.repo), "rev-parse", "FETCH_HEAD").strip()
        if not _COMMIT.fullmatch(commit):
            raise SourceError("could not tell which commit was fetched")
        listing = self._run("-C", str(self.repo), "ls-tree", "-r", "-l", "-z", commit)
        files = 0
        total = 0
        for entry in listing.split("\0"):
            if not entry:
                continue
            meta = entry.split("\t", 1)[0].split()
            files += 1
            if len(meta) >= 4 and meta[3].isdigit():
                total += int(meta[3])
        if files > self.limits.max_files:
            raise SourceError(
                f"the repository has {files} files, more than the limit of "
                f"{self.limits.max_files} for a scan; scan it in CI and upload "
                "the result instead"
            )
        if total > self.limits.max_bytes:
            raise self._too_big()
        self._run("-C", str(self.repo), "checkout", "--quiet", "--detach", commit)
        # Git's own files are not the project's: nothing to scan there.
        shutil.rmtree(git_dir, ignore_errors=True)
        return commit


@contextmanager
def checkout(
    location: str,
    *,
    ref: str = "",
    secret: str | None = None,
    limits: GitLimits | None = None,
    policy: guard.NetworkPolicy | None = None,
    path_roots: tuple[str, ...] | None = None,
) -> Iterator[tuple[Path, str]]:
    """Clone one commit of a repository; yield its folder and commit id.

    The folder is deleted when the block ends. Raise :class:`SourceError`
    with a message for the user when the repository cannot be fetched or is
    over a limit.
    """
    limits = limits or GitLimits()
    if ref and not valid_ref(ref):
        raise SourceError(f"{ref!r} is not a branch, tag or commit name")
    remote = parse_remote(location)
    base = Path(tempfile.mkdtemp(prefix="plumbline-git-", dir=limits.workdir))
    try:
        clone = _Clone(
            remote,
            ref=ref,
            secret=secret,
            limits=limits,
            policy=policy,
            path_roots=path_roots,
            base=base,
        )
        commit = clone.fetch()
        yield clone.repo, commit
    finally:
        shutil.rmtree(base, ignore_errors=True)


def web_url(location: str) -> str:
    """Return the web page of a GitHub or GitLab repository, or ''."""
    try:
        remote = parse_remote(location)
    except SourceError:
        return ""
    if remote.is_path:
        return ""
    if remote.kind == "ssh" and "://" not in remote.url:
        path = remote.url.split(":", 1)[1]
    else:
        path = urllib.parse.urlsplit(remote.url).path
    host = remote.host.lower()
    if host not in ("github.com", "gitlab.com") and not host.startswith("gitlab."):
        return ""
    path = path.strip("/")
    if path.endswith(".git"):
        path = path[:-4]
    if not path or ".." in path:
        return ""
    return f"https://{host}/{path}"


def blob_url(location: str, commit: str, file: str, line: int | None = None) -> str:
    """Return a link to ``file`` (and ``line``) at ``commit`` on GitHub or GitLab.

    Empty for repositories hosted elsewhere, where the link form is unknown.
    """
    base = web_url(location)
    if not base or not _COMMIT.fullmatch(commit) or not file:
        return ""
    path = urllib.parse.quote(file.lstrip("/"))
    anchor = f"#L{line}" if line else ""
    host = urllib.parse.urlsplit(base).hostname or ""
    if host == "gitlab.com" or host.startswith("gitlab."):
        return f"{base}/-/blob/{commit}/{path}{anchor}"
    return f"{base}/blob/{commit}/{path}{anchor}"
