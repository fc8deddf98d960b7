"""Every scalar of a TensorBoard event file, read fast, with corruption reported (DESIGN §7).

An event file is a run of TFRecords: ``uint64 length · uint32 masked CRC-32C(length) · payload · uint32 masked
CRC-32C(payload)``, little-endian; each payload is an ``Event`` protocol buffer (tensorboard/compat/proto/event.proto).
A compiled kernel walks the records, checks both CRCs and decodes the scalars itself: ``Summary.Value.simple_value``
(torch's SummaryWriter, so hairpin, Linesight and rulka) and rank-0 numeric ``Summary.Value.tensor`` values
(TensorFlow 2 and tensorboard's own writers). Histograms, images, text and the rest are skipped.

Nothing is sampled: TensorBoard's EventAccumulator keeps a reservoir of 10,000 scalars per tag by default; every
value here is kept, in file order. A record whose length CRC fails is corruption: it is reported and the reader
looks for the next valid record; a payload CRC failure drops that one record; a file that ends inside a record is
reported as truncated (a run still writing, or a crash) and what came before it is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numba import njit

__all__ = ["EventFileScalars", "ReadProblem", "is_event_file", "read_event_file"]

_PROBLEMS = {
    1: "truncated record",
    2: "corrupt record length (CRC mismatch)",
    3: "corrupt record payload (CRC mismatch)",
    4: "malformed Event payload",
}
# TensorFlow DataType codes (tensorboard/compat/proto/types.proto) of the scalars decoded from tensors.
_DT_FLOAT, _DT_DOUBLE, _DT_INT32, _DT_INT64, _DT_BOOL = 1, 2, 3, 9, 10


def _crc32c_table() -> np.ndarray:
    """Lookup table of CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as int64 so the kernel never widens."""
    table = np.zeros(256, np.int64)
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table[byte] = crc
    return table


_CRC_TABLE = _crc32c_table()


@njit(cache=True)
def _masked_crc32c(buf: np.ndarray, start: int, stop: int, table: np.ndarray) -> int:
    """TFRecord's masked CRC-32C of ``buf[start:stop]``: rotate right by 15, add 0xA282EAD8 (mod 2**32)."""
    crc = 0xFFFFFFFF
    for i in range(start, stop):
        crc = table[(crc ^ buf[i]) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


@njit(cache=True)
def _u32(buf: np.ndarray, pos: int) -> int:
    return int(buf[pos : pos + 4].view(np.uint32)[0])


@njit(cache=True)
def _varint(buf: np.ndarray, pos: int, end: int) -> tuple[int, int]:
    """(value, next position) of the varint at ``pos``; next position -1 when it runs past ``end``."""
    result = 0
    shift = 0
    while pos < end and shift < 64:
        byte = int(buf[pos])
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
    return 0, -1


@njit(cache=True)
def _skip(buf: np.ndarray, pos: int, end: int, wire: int) -> int:
    """Position after a field of wire type ``wire`` whose key ends at ``pos``; -1 if it is malformed."""
    if wire == 0:
        return _varint(buf, pos, end)[1]
    if wire == 1:
        pos += 8
    elif wire == 2:
        size, pos = _varint(buf, pos, end)
        if pos < 0 or size < 0:
            return -1
        pos += size
    elif wire == 5:
        pos += 4
    else:
        return -1
    return pos if pos <= end else -1


@njit(cache=True)
def _shape_rank(buf: np.ndarray, pos: int, end: int) -> int:
    """Number of ``dim`` entries of a TensorShapeProto; -1 for an unknown rank or a malformed shape."""
    rank = 0
    while pos < end:
        key, pos = _varint(buf, pos, end)
        if pos < 0 or (key == 0x18 and _varint(buf, pos, end)[0] != 0):  # unknown_rank: true
            return -1
        rank += key >> 3 == 2
        pos = _skip(buf, pos, end, key & 7)
        if pos < 0:
            return -1
    return rank


@njit(cache=True)
def _tensor_fields(buf: np.ndarray, pos: int, end: int) -> tuple[int, int, int, int, int, int, int, int]:
    """(dtype, rank, content start, content length, list field, its wire type, its position, its count).

    The list field is the last of float_val (5), double_val (6), int_val (7), int64_val (10), bool_val (11) seen.
    """
    dtype, rank, content, content_len = 0, 0, -1, 0
    field_of_list, wire_of_list, list_pos, count = 0, 0, -1, 0
    while pos < end:
        key, pos = _varint(buf, pos, end)
        field, wire, start = key >> 3, key & 7, pos
        pos = _skip(buf, pos, end, wire) if pos >= 0 else -1
        if pos < 0:
            return 0, -1, -1, 0, 0, 0, -1, 0
        if field == 1 and wire == 0:
            dtype = _varint(buf, start, end)[0]
        elif field == 2 and wire == 2:
            size, inner = _varint(buf, start, end)
            rank = _shape_rank(buf, inner, inner + size)
        elif field == 4 and wire == 2:
            content_len, content = _varint(buf, start, end)
        elif field in (5, 6, 7, 10, 11) and wire == 2:  # packed
            size, list_pos = _varint(buf, start, end)
            width = 4 if field == 5 else 8 if field == 6 else 0
            count += size // width if width else int(np.sum(buf[list_pos : list_pos + size] < 0x80))
            field_of_list, wire_of_list = field, 5 if field == 5 else 1 if field == 6 else 0
        elif field in (5, 6, 7, 10, 11):
            field_of_list, wire_of_list, list_pos, count = field, wire, start, count + 1
    return dtype, rank, content, content_len, field_of_list, wire_of_list, list_pos, count


@njit(cache=True)
def _content_scalar(buf: np.ndarray, dtype: int, start: int, length: int) -> tuple[bool, float]:
    """The one value of a ``tensor_content`` of ``dtype``, if it holds exactly one."""
    if dtype == _DT_FLOAT and length == 4:
        return True, float(buf[start : start + 4].view(np.float32)[0])
    if dtype == _DT_DOUBLE and length == 8:
        return True, float(buf[start : start + 8].view(np.float64)[0])
    if dtype == _DT_INT32 and length == 4:
        return True, float(buf[start : start + 4].view(np.int32)[0])
    if dtype == _DT_INT64 and length == 8:
        return True, float(buf[start : start + 8].view(np.int64)[0])
    if dtype == _DT_BOOL and length == 1:
        return True, 1.0 if buf[start] != 0 else 0.0
    return False, 0.0


@njit(cache=True)
def _listed_scalar(buf: np.ndarray, dtype: int, field: int, wire: int, pos: int, end: int) -> tuple[bool, float]:
    """The first value of a TensorProto's typed list (float_val, double_val, int_val, int64_val, bool_val)."""
    if field == 5 and wire == 5 and dtype == _DT_FLOAT:
        return True, float(buf[pos : pos + 4].view(np.float32)[0])
    if field == 6 and wire == 1 and dtype == _DT_DOUBLE:
        return True, float(buf[pos : pos + 8].view(np.float64)[0])
    integer = (field == 7 and dtype == _DT_INT32) or (field == 10 and dtype == _DT_INT64)
    if wire == 0 and (integer or (field == 11 and dtype == _DT_BOOL)):
        number = _varint(buf, pos, end)[0]
        if field == 7 and number >= 2**31:  # an int32 varint is sign-extended to 64 bits
            number = (number & 0xFFFFFFFF) - 2**32
        return True, float(number)
    return False, 0.0


@njit(cache=True)
def _tensor_scalar(buf: np.ndarray, pos: int, end: int) -> tuple[bool, float]:
    """(True, value) when the TensorProto in ``buf[pos:end]`` is a rank-0 float, double, int32, int64 or bool."""
    dtype, rank, content, content_len, field, wire, list_pos, count = _tensor_fields(buf, pos, end)
    if rank != 0:
        return False, 0.0
    if content >= 0 and count == 0:
        return _content_scalar(buf, dtype, content, content_len)
    if count != 1:
        return False, 0.0
    return _listed_scalar(buf, dtype, field, wire, list_pos, end)


@njit(cache=True)
def _fnv1a(buf: np.ndarray, start: int, stop: int) -> int:
    """64-bit FNV-1a hash of a tag's bytes, xor its length (tags are interned by it, then checked byte for byte)."""
    h = np.uint64(0xCBF29CE484222325)
    for i in range(start, stop):
        h = (h ^ np.uint64(buf[i])) * np.uint64(0x100000001B3)
    return int(np.int64(h)) ^ (stop - start)


@njit(cache=True)
def _record(buf: np.ndarray, pos: int, table: np.ndarray) -> tuple[int, int]:
    """(problem code, payload length) of the record at ``pos``: 0 sound, 1 truncated, 2 bad length, 3 bad payload."""
    if pos + 12 > buf.size:
        return 1, 0
    if _masked_crc32c(buf, pos, pos + 8, table) != _u32(buf, pos + 8):
        return 2, 0
    length = int(buf[pos : pos + 8].view(np.int64)[0])
    if length < 0 or pos + 16 + length > buf.size:
        return 1, 0
    if _masked_crc32c(buf, pos + 12, pos + 12 + length, table) != _u32(buf, pos + 12 + length):
        return 3, length
    return 0, length


@njit(cache=True)
def _event_fields(buf: np.ndarray, pos: int, end: int) -> tuple[bool, float, int, int, int]:
    """(well formed, wall_time, step, summary start, summary end) of the Event in ``buf[pos:end]``."""
    wall, step, summary, summary_end = 0.0, 0, -1, -1
    while pos < end:
        key, pos = _varint(buf, pos, end)
        field, wire, start = key >> 3, key & 7, pos
        pos = _skip(buf, pos, end, wire) if pos >= 0 else -1
        if pos < 0:
            return False, 0.0, 0, -1, -1
        if field == 1 and wire == 1:
            wall = float(buf[start : start + 8].view(np.float64)[0])
        elif field == 2 and wire == 0:
            step = _varint(buf, start, end)[0]
        elif field == 5 and wire == 2:
            size, summary = _varint(buf, start, end)
            summary_end = summary + size
    return True, wall, step, summary, summary_end


@njit(cache=True)
def _value_fields(buf: np.ndarray, pos: int, end: int) -> tuple[bool, int, int, bool, float]:
    """(well formed, tag start, tag length, is a scalar, value) of the Summary.Value in ``buf[pos:end]``."""
    tag, tag_len, scalar, value = -1, 0, False, 0.0
    while pos < end:
        key, pos = _varint(buf, pos, end)
        start = pos
        pos = _skip(buf, pos, end, key & 7) if pos >= 0 else -1
        if pos < 0:
            return False, -1, 0, False, 0.0
        if key == 0x0A:  # tag: field 1, length-delimited
            tag_len, tag = _varint(buf, start, end)
        elif key == 0x15:  # simple_value: field 2, 32-bit float
            scalar, value = True, float(buf[start : start + 4].view(np.float32)[0])
        elif key == 0x42 and not scalar:  # tensor: field 8, length-delimited
            size, inner = _varint(buf, start, end)
            scalar, value = _tensor_scalar(buf, inner, inner + size)
    return True, tag, tag_len, scalar and tag >= 0, value


@njit(cache=True)
def _resync(buf: np.ndarray, pos: int, table: np.ndarray) -> int:
    """The first position after ``pos`` where a record's length and payload CRCs both hold (or the end)."""
    pos += 1
    while pos < buf.size and _record(buf, pos, table)[0] != 0:
        pos += 1
    return pos


@njit(cache=True)
def _scan(buf: np.ndarray, table: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Every scalar value of the event file in ``buf``, in file order.

    Returns floats (V, 2) of (wall time, value), integers (V, 4) of (step, tag start, tag length, tag hash),
    problems (P, 2) of (byte offset, code) and the wall time of the first record.
    """
    floats = np.empty((max(1024, buf.size // 64), 2), np.float64)
    ints = np.empty((floats.shape[0], 4), np.int64)
    problems = np.empty((0, 2), np.int64)
    count, first_wall, pos = 0, np.nan, 0
    while pos < buf.size:
        code, length = _record(buf, pos, table)
        ok, wall, step, p, summary_end = False, 0.0, 0, -1, -1
        if code == 0:
            ok, wall, step, p, summary_end = _event_fields(buf, pos + 12, pos + 12 + length)
            code = 0 if ok else 4
        count_before = count
        while code == 0 and 0 <= p < summary_end:
            key, p = _varint(buf, p, summary_end)
            size, start = _varint(buf, p, summary_end) if key == 0x0A and p >= 0 else (0, p)
            p = _skip(buf, p, summary_end, key & 7) if p >= 0 else -1
            ok, tag, tag_len, scalar, value = False, -1, 0, False, 0.0
            if p >= 0:
                ok, tag, tag_len, scalar, value = _value_fields(buf, start, start + size)
            if not ok:
                code, count = 4, count_before  # a malformed record gives nothing
            elif scalar:
                if count == floats.shape[0]:
                    floats, ints = np.concatenate((floats, floats)), np.concatenate((ints, ints))
                floats[count, 0], floats[count, 1] = wall, value
                ints[count, 0], ints[count, 1], ints[count, 2] = step, tag, tag_len
                ints[count, 3] = _fnv1a(buf, tag, tag + tag_len)
                count += 1
        if code == 0 and np.isnan(first_wall):
            first_wall = wall
        if code != 0:
            problems = np.concatenate((problems, np.array([[pos, code]], np.int64)))
        if code == 1:
            break
        pos = _resync(buf, pos, table) if code == 2 else pos + 16 + length
    return floats[:count], ints[:count], problems, first_wall


@njit(cache=True)
def _tags_agree(
    buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray, first: np.ndarray, inverse: np.ndarray
) -> bool:
    """Whether every value's tag bytes equal those of the first value with the same hash (no hash collision)."""
    for i in range(starts.size):
        j = first[inverse[i]]
        if lengths[i] != lengths[j]:
            return False
        for k in range(lengths[i]):
            if buf[starts[i] + k] != buf[starts[j] + k]:
                return False
    return True


@dataclass(frozen=True)
class ReadProblem:
    """Something wrong in an event file: what, and at which byte offset."""

    path: Path
    offset: int
    kind: str

    def __str__(self) -> str:
        return f"{self.path}: {self.kind} at byte offset {self.offset}; the rest of the file was read"


@dataclass(frozen=True)
class EventFileScalars:
    """The scalar values of one event file, in file order; E values over ``len(tags)`` tags."""

    path: Path
    tags: tuple[str, ...]
    tag_index: np.ndarray  # (E,) int32, index into tags
    step: np.ndarray  # (E,) int64
    wall_time: np.ndarray  # (E,) float64, seconds as the writer stamped them
    value: np.ndarray  # (E,) float64
    created: float
    """Wall time of the file's first record (its ``file_version`` event for torch and TensorFlow writers)."""
    problems: tuple[ReadProblem, ...]

    def __len__(self) -> int:
        return int(self.step.size)


def is_event_file(path: Path) -> bool:
    """Whether ``path`` is a TensorBoard event file (``events.out.tfevents.*``)."""
    return path.is_file() and "tfevents" in path.name


def read_event_file(path: str | Path) -> EventFileScalars:
    """Every scalar value in the event file at ``path``; problems are returned, not raised."""
    path = Path(path)
    buf = np.fromfile(path, dtype=np.uint8)
    floats, ints, problems, first_wall = _scan(buf, _CRC_TABLE)
    tag_start, tag_len = ints[:, 1].copy(), ints[:, 2].copy()
    _, first, inverse = np.unique(ints[:, 3], return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    if not _tags_agree(buf, tag_start, tag_len, first, inverse):
        raise RuntimeError(f"{path}: two different tags share a 64-bit hash; cannot read this file")
    tags = tuple(bytes(buf[tag_start[i] : tag_start[i] + tag_len[i]]).decode("utf-8", "replace") for i in first)
    return EventFileScalars(
        path=path,
        tags=tags,
        tag_index=inverse.astype(np.int32),
        step=ints[:, 0].copy(),
        wall_time=floats[:, 0].copy(),
        value=floats[:, 1].copy(),
        created=float(first_wall),
        problems=tuple(ReadProblem(path, int(offset), _PROBLEMS[int(code)]) for offset, code in problems),
    )
