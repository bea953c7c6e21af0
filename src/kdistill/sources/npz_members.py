"""Memory-mapping the members of an ``.npz`` archive.

``np.load(mmap_mode="r")`` maps ``.npy`` files only; for an ``.npz`` it reads every member into memory. But
``np.savez`` stores members uncompressed (ZIP_STORED), so each member's ``.npy`` bytes lie contiguously in the
archive: we find where, parse the ``.npy`` header and map the data with ``np.memmap``. Members of
``np.savez_compressed`` archives (deflated) cannot be mapped and are read into memory instead.
"""

from __future__ import annotations

import os
import struct
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np

from kdistill.errors import DataError

LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # zip local file header: 30 bytes, name and extra lengths last


@dataclass(frozen=True)
class MappedMember:
    """Where one stored member's array data lies in the archive; ``open()`` maps it read-only."""

    path: str
    offset: int
    dtype: np.dtype
    shape: tuple[int, ...]
    fortran_order: bool

    def open(self) -> np.memmap:
        return np.memmap(self.path, dtype=self.dtype, mode="r", offset=self.offset, shape=self.shape,
                         order="F" if self.fortran_order else "C")


class LazyMemmap:
    """An array-like over a :class:`MappedMember` that maps on first access and pickles as its location only.

    (A pickled ``np.memmap`` would carry a full copy of the data to every spawned DataLoader worker.)
    """

    def __init__(self, member: MappedMember):
        self.member = member
        self.shape = member.shape
        self.dtype = member.dtype
        self._array: np.memmap | None = None

    @property
    def array(self) -> np.memmap:
        if self._array is None:
            self._array = self.member.open()
        return self._array

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index: Any) -> Any:
        return self.array[index]

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_array": None}


def member_names(archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    return {info.filename.removesuffix(".npy"): info for info in archive.infolist()}


def read_npz_arrays(path: str | os.PathLike[str], keys: list[str]) -> dict[str, Any]:
    """``{key: array}``: a :class:`LazyMemmap` for stored members, an in-memory ndarray for compressed ones.

    DataError listing the archive's arrays when a key is missing; never unpickles (object arrays are refused).
    """
    path = os.fspath(path)
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as error:
        raise DataError(f"cannot read {path} as an .npz archive ({error}); write it with numpy.savez") from error
    with archive:
        members = member_names(archive)
        arrays: dict[str, Any] = {}
        for key in keys:
            if key not in members:
                raise DataError(f"{path} has no array '{key}'; arrays in it: {', '.join(sorted(members)) or 'none'}")
            info = members[key]
            if info.compress_type == zipfile.ZIP_STORED:
                arrays[key] = LazyMemmap(stored_member(path, info))
            else:
                with archive.open(info) as handle:
                    arrays[key] = read_npy(handle, f"{path}:{key}")
        return arrays


def read_npy(handle: Any, what: str) -> np.ndarray:
    try:
        return np.lib.format.read_array(handle, allow_pickle=False)
    except ValueError as error:
        raise DataError(f"cannot read array {what} ({error}); save plain numeric arrays") from error


def stored_member(path: str, info: zipfile.ZipInfo) -> MappedMember:
    """Locate the array data of an uncompressed member: past the zip local header and the ``.npy`` header."""
    with open(path, "rb") as handle:
        handle.seek(info.header_offset)
        header = handle.read(LOCAL_HEADER.size)
        fields = LOCAL_HEADER.unpack(header)
        if fields[0] != b"PK\x03\x04":
            raise DataError(f"{path} is corrupt (bad zip header of {info.filename}); rewrite it with numpy.savez")
        name_length, extra_length = fields[-2], fields[-1]
        handle.seek(info.header_offset + LOCAL_HEADER.size + name_length + extra_length)
        try:
            version = np.lib.format.read_magic(handle)
            read_header = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
            shape, fortran_order, dtype = read_header.get(version, np.lib.format.read_array_header_2_0)(handle)
        except ValueError as error:
            raise DataError(f"{path}: member {info.filename} is not a valid .npy array ({error})") from error
        if dtype.hasobject:
            raise DataError(f"{path}: array {info.filename} holds Python objects; save plain numeric arrays")
        return MappedMember(path, handle.tell(), dtype, tuple(shape), bool(fortran_order))
