"""The event reader keeps every value, decodes what TensorBoard writers write, and reports damaged files."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from tensorboard.compat.proto import event_pb2
from torch.utils.tensorboard import SummaryWriter

from hairpin.analysis.events import read_event_file


def only_file(directory: Path) -> Path:
    (path,) = [p for p in directory.iterdir() if "tfevents" in p.name]
    return path


def record_offsets(path: Path) -> list[int]:
    """Byte offset of each TFRecord of an event file (read independently of the reader under test)."""
    data, offsets, offset = path.read_bytes(), [], 0
    while offset < len(data):
        offsets.append(offset)
        offset += 16 + struct.unpack_from("<Q", data, offset)[0]
    return offsets


def protobuf_scalars(path: Path) -> list[tuple[str, int, float, float]]:
    """(tag, step, wall, value) of every simple_value, decoded by protobuf itself."""
    data, found = path.read_bytes(), []
    for offset in record_offsets(path):
        length = struct.unpack_from("<Q", data, offset)[0]
        event = event_pb2.Event.FromString(data[offset + 12 : offset + 12 + length])
        for value in event.summary.value:
            if value.WhichOneof("value") == "simple_value":
                found.append((value.tag, event.step, event.wall_time, value.simple_value))
    return found


def as_tuples(path: Path) -> list[tuple[str, int, float, float]]:
    read = read_event_file(path)
    return [
        (read.tags[t], int(s), float(w), float(v))
        for t, s, w, v in zip(read.tag_index, read.step, read.wall_time, read.value, strict=True)
    ]


def test_every_value_is_kept_past_ten_thousand_per_tag(tmp_path: Path) -> None:
    steps = np.arange(12_000) * 7
    with SummaryWriter(str(tmp_path)) as writer:
        for i, step in enumerate(steps):
            writer.add_scalar("Training/loss", i / 3, int(step), walltime=1e9 + i)
            writer.add_scalar("Race/eval_race_finished_blind_a", i % 2, int(step), walltime=1e9 + i)
    read = read_event_file(only_file(tmp_path))
    assert len(read) == 24_000 and read.problems == ()
    loss = read.tag_index == read.tags.index("Training/loss")
    np.testing.assert_array_equal(read.step[loss], steps)
    np.testing.assert_array_equal(read.value[loss], (np.arange(12_000) / 3).astype(np.float32))
    np.testing.assert_array_equal(read.wall_time[loss], 1e9 + np.arange(12_000))


def test_values_match_protobuf_decoding(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    with SummaryWriter(str(tmp_path)) as writer:
        for i in range(300):
            step = int(rng.integers(-5, 2**40))  # negative and beyond 32 bits
            writer.add_scalar(f"tag/{i % 7}/é", float(rng.normal() * 1e6), step, walltime=float(rng.uniform(0, 2e9)))
    path = only_file(tmp_path)
    assert as_tuples(path) == protobuf_scalars(path)


def test_tensor_scalars_are_read_and_other_summaries_skipped(tmp_path: Path) -> None:
    with SummaryWriter(str(tmp_path)) as writer:
        writer.add_scalar("float_tensor", 1.5, 1, new_style=True)
        writer.add_scalar("double_tensor", 2.25, 2, new_style=True, double_precision=True)
        writer.add_histogram("weights", np.arange(10.0), 3)
        writer.add_text("note", "not a number", 4)
        writer.add_scalar("plain", -3.0, 5)
    read = read_event_file(only_file(tmp_path))
    values = {read.tags[t]: (int(s), float(v)) for t, s, v in zip(read.tag_index, read.step, read.value, strict=True)}
    assert values == {"float_tensor": (1, 1.5), "double_tensor": (2, 2.25), "plain": (5, -3.0)}


def write_ten(tmp_path: Path) -> Path:
    with SummaryWriter(str(tmp_path)) as writer:
        for i in range(10):
            writer.add_scalar("x", float(i), i, walltime=1e9 + i)
    return only_file(tmp_path)


def test_truncated_file_is_reported_and_the_rest_read(tmp_path: Path) -> None:
    path = write_ten(tmp_path)
    last = record_offsets(path)[-1]
    path.write_bytes(path.read_bytes()[: last + 20])  # the last record stops inside its payload
    read = read_event_file(path)
    assert list(read.value) == [float(i) for i in range(9)]
    (problem,) = read.problems
    assert problem.offset == last and "truncated" in problem.kind
    assert str(path) in str(problem) and str(last) in str(problem)


@pytest.mark.parametrize(("where", "kind"), [(3, "corrupt record length"), (14, "corrupt record payload")])
def test_corrupt_record_is_reported_and_the_records_after_it_read(tmp_path: Path, where: int, kind: str) -> None:
    path = write_ten(tmp_path)
    offsets = record_offsets(path)
    data = bytearray(path.read_bytes())
    data[offsets[5] + where] ^= 0xFF  # record 5 holds the value 4 (record 0 is the file_version event)
    path.write_bytes(bytes(data))
    read = read_event_file(path)
    assert list(read.value) == [0.0, 1.0, 2.0, 3.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    (problem,) = read.problems
    assert problem.offset == offsets[5] and kind in problem.kind


def test_empty_file_reads_as_no_values(tmp_path: Path) -> None:
    path = tmp_path / "events.out.tfevents.0.host"
    path.write_bytes(b"")
    read = read_event_file(path)
    assert len(read) == 0 and read.problems == () and np.isnan(read.created)


def test_rank_0_tensors_of_every_numeric_type_written_by_tensorboards_own_writer(tmp_path: Path) -> None:
    from tensorboard.compat.proto import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    tensor = tensor_pb2.TensorProto
    vector = tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=2)])
    values = {
        "int64": tensor(dtype=types_pb2.DT_INT64, int64_val=[2**40]),
        "int32": tensor(dtype=types_pb2.DT_INT32, int_val=[-7]),
        "bool": tensor(dtype=types_pb2.DT_BOOL, bool_val=[True]),
        "double_content": tensor(dtype=types_pb2.DT_DOUBLE, tensor_content=np.float64(0.1).tobytes()),
        "float_content": tensor(dtype=types_pb2.DT_FLOAT, tensor_content=np.float32(2.5).tobytes()),
        "vector": tensor(dtype=types_pb2.DT_FLOAT, tensor_shape=vector, float_val=[1.0, 2.0]),
        "text": tensor(dtype=types_pb2.DT_STRING, string_val=[b"x"]),
    }
    writer = EventFileWriter(str(tmp_path))
    for step, (tag, proto) in enumerate(values.items()):
        summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, tensor=proto)])
        writer.add_event(event_pb2.Event(wall_time=1e9, step=step, summary=summary))
    writer.close()
    read = read_event_file(only_file(tmp_path))
    found = {read.tags[t]: float(v) for t, v in zip(read.tag_index, read.value, strict=True)}
    assert found == {"int64": 2.0**40, "int32": -7.0, "bool": 1.0, "double_content": 0.1, "float_content": 2.5}
