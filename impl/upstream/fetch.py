"""Getting SGLang's released code without vendoring it: one wheel per version, cached.

A release is fetched with pip (``pip download sglang==V --no-deps --only-binary=:all:
--python-version 3.11 --implementation cp --abi cp311 --abi none --platform any --platform
manylinux_2_34_x86_64 ...``, see :data:`PLATFORM_ARGS`), so the same file comes every time
(``py3-none-any`` up to 0.5.10.post1, ``cp311-cp311-manylinux_2_34_x86_64`` from 0.5.11), into
a user cache directory: ``$TOCTOU_SGLANG_CACHE`` if set, else
``~/.cache/asyncio-toctou/sglang``; a ``--cache DIR`` flag overrides both. A wheel already in
the cache is never downloaded again. A local checkout (``--source DIR``: a clone of the
repository, its ``python/`` folder, or any folder holding ``sglang/srt/...``) is read in place.

Nothing is imported from SGLang: :class:`Source` only reads files as text.

>>> import pathlib, tempfile
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> f = root / "python" / "sglang" / "srt" / "managers" / "x.py"
>>> f.parent.mkdir(parents=True); _ = f.write_text("A = 1\\n")
>>> Source.from_dir(root).read("sglang/srt/managers/x.py")
'A = 1\\n'
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

__all__ = ["FetchError", "Source", "cache_dir", "fetch_wheel", "open_version"]

ENV_CACHE = "TOCTOU_SGLANG_CACHE"
#: pinned tags: up to 0.5.10.post1 SGLang ships ``py3-none-any``; from 0.5.11 on, CPython
#: 3.11 manylinux wheels (the Python files inside are the same kind of text)
PLATFORM_ARGS = ("--platform", "any", "--platform", "manylinux_2_34_x86_64",
                 "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux2014_x86_64")
_VERSION = re.compile(r"^[0-9]+(\.[0-9]+)*((a|b|rc)[0-9]+)?(\.post[0-9]+)?(\.dev[0-9]+)?$")


class FetchError(Exception):
    """A release could not be fetched or read (offline, unknown version, bad checkout)."""


def cache_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The wheel cache: ``override``, else ``$TOCTOU_SGLANG_CACHE``, else the user default.

    >>> str(cache_dir("/tmp/c"))
    '/tmp/c'
    """
    if override:
        return Path(override)
    env = os.environ.get(ENV_CACHE)
    if env:
        return Path(env)
    return Path.home() / ".cache" / "asyncio-toctou" / "sglang"


def check_version(version: str) -> str:
    """Return ``version`` if it looks like a release number, else raise FetchError.

    >>> check_version("0.5.10.post1")
    '0.5.10.post1'
    """
    if not _VERSION.match(version):
        raise FetchError(f"bad version {version!r}: expected a release number such as 0.5.10.post1")
    return version


def cached_wheel(version: str, cache: str | os.PathLike[str] | None = None) -> Path | None:
    """The cached wheel of ``version``, or None if it was never downloaded."""
    folder = cache_dir(cache) / check_version(version)
    found = sorted(folder.glob(f"sglang-{version}-*.whl")) if folder.is_dir() else []
    return found[0] if found else None


def fetch_wheel(version: str, cache: str | os.PathLike[str] | None = None) -> Path:
    """Return the wheel of SGLang ``version``, downloading it once into the cache.

    Raises FetchError with pip's last message when the registry cannot be reached or
    has no such release.
    """
    hit = cached_wheel(version, cache)
    if hit is not None:
        return hit
    folder = cache_dir(cache) / version
    folder.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", f"sglang=={version}", "--no-deps",
           "--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp",
           "--abi", "cp311", "--abi", "none", *PLATFORM_ARGS,
           "--disable-pip-version-check", "-q", "-d", str(folder)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FetchError(f"cannot run pip to download sglang=={version}: {exc}") from None
    hit = cached_wheel(version, cache)
    if proc.returncode != 0 or hit is None:
        errors = [ln for ln in (proc.stderr or "").splitlines() if ln.startswith("ERROR")]
        why = errors[-1] if errors else (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise FetchError(f"cannot download sglang=={version} (offline, or no such release on "
                         f"the package registry): {why}")
    return hit


class Source:
    """Read-only text access to one SGLang tree: a wheel or a checkout.

    ``read(rel)`` takes a path such as ``sglang/srt/managers/tokenizer_manager.py`` and
    returns its text, or None if that file is not in this tree. ``label`` names the tree.
    """

    def __init__(self, label: str, wheel: Path | None = None, root: Path | None = None) -> None:
        self.label = label
        self._wheel = wheel
        self._root = root
        self._names: set[str] | None = None

    @classmethod
    def from_wheel(cls, path: Path, label: str | None = None) -> Source:
        if not zipfile.is_zipfile(path):
            raise FetchError(f"{path} is not a wheel (not a zip file)")
        return cls(label or path.name, wheel=path)

    @classmethod
    def from_dir(cls, path: str | os.PathLike[str], label: str | None = None) -> Source:
        root = Path(path)
        for cand in (root, root / "python"):
            if (cand / "sglang" / "srt").is_dir():
                return cls(label or f"source {root}", root=cand)
        raise FetchError(f"--source {root}: no sglang/srt folder in it or in its python/ "
                         f"folder; give a checkout of the SGLang repository")

    def exists(self, rel: str) -> bool:
        return self.read(rel) is not None

    def read(self, rel: str) -> str | None:
        if self._root is not None:
            path = self._root / rel
            return path.read_text(encoding="utf-8") if path.is_file() else None
        assert self._wheel is not None
        with zipfile.ZipFile(self._wheel) as zf:
            if self._names is None:
                self._names = set(zf.namelist())
            if rel not in self._names:
                return None
            return zf.read(rel).decode("utf-8")


def open_version(version: str | None = None, source: str | os.PathLike[str] | None = None,
                 cache: str | os.PathLike[str] | None = None) -> Source:
    """The tree to check: ``--source DIR`` if given, else the (cached) wheel of ``version``."""
    if source is not None:
        return Source.from_dir(source, label=f"{version or 'source'} ({source})")
    if not version:
        raise FetchError("give a VERSION or --source DIR")
    return Source.from_wheel(fetch_wheel(version, cache), label=version)
