"""Find the files of a code target and read them as text."""

from __future__ import annotations

import fnmatch
import os
import tokenize
from collections.abc import Iterable, Iterator
from pathlib import Path

from audits.engine.vocabulary import skipped_dir

_CONFIG_FILES = (".sh", ".yml", ".yaml", ".toml", ".cfg", ".ini", ".conf", ".service")


_CONFIG_NAMES = ("Makefile", "Dockerfile", "Procfile", "crontab", "docker-compose.yml")


def _module_name(rel: str) -> str:
    parts = rel[:-3].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _excluded(rel: str, exclude: Iterable[str]) -> bool:
    for pattern in exclude:
        if fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(
            rel, pattern.rstrip("/") + "/*"
        ):
            return True
        if any(fnmatch.fnmatch(part, pattern) for part in rel.split("/")):
            return True
    return False


def _iter_files(root: Path, exclude: tuple[str, ...]) -> Iterator[tuple[Path, str]]:
    if root.is_file():
        yield root, root.name
        return
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/")
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not skipped_dir(d)
            and not _excluded(f"{rel_dir}/{d}".lstrip("/"), exclude)
        )
        for filename in sorted(filenames):
            rel = f"{rel_dir}/{filename}".lstrip("/")
            if _excluded(rel, exclude):
                continue
            yield Path(dirpath) / filename, rel


def _line_endings(data: bytes) -> tuple[int, int]:
    crlf = data.count(b"\r\n")
    return crlf, data.count(b"\n") - crlf


def _decode(data: bytes, rel: str) -> tuple[str | None, str]:
    if b"\x00" in data[:8192]:
        return None, f"{rel}: skipped, binary content"
    try:
        import io

        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        return data.decode(encoding), ""
    except (SyntaxError, UnicodeDecodeError, LookupError) as exc:
        return None, f"{rel}: skipped, cannot decode: {exc}"
