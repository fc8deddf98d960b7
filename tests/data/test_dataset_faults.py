"""Faults of datasets: damaged files found by their checksums, a full disk while recording, folders of dead writers.

Each CLI case asserts the exit code, that the one-line message names the file or folder, that no traceback is
printed, and that nothing existing changed (the previous dataset byte-compared before and after).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import minari.dataset._storages.hdf5_storage as hdf5_storage
import numpy as np
import pytest
from tests.data.conftest import TINY_NAME, make_run, tiny_config, tiny_maps, without_checksums
from typer.testing import CliRunner

import hairpin.data.writer as writer_module
from hairpin.cli import app
from hairpin.data.integrity import WRITER_RECORD, UnverifiedDatasetWarning, verify_files
from hairpin.data.meta import SIDECAR, DatasetMeta, minari_data_dir
from hairpin.data.record import record_expert, write_expert_dataset
from hairpin.data.store import DatasetError, load_actions, load_demos, read_meta
from hairpin.data.writer import DatasetWriter, bytes_needed

runner = CliRunner()
TINY = ["--generated", "2", "--generator-seed", "3", "--generated-blocks", "6", "--image-size", "32"]


def cli(args: list[str]) -> tuple[int, str, str]:
    """Exit code, stdout and stderr, each with rich's line wrapping undone; a traceback fails the test."""
    result = runner.invoke(app, args)
    out, err = " ".join(result.stdout.split()), " ".join(result.stderr.split())
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, out, err


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by relative path, with its bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def hdf5_of(dataset: Path, name: str = TINY_NAME) -> Path:
    return minari_data_dir(dataset, name) / "main_data.hdf5"


def overwrite_middle(path: Path, n: int = 4000) -> None:
    """Overwrite ``n`` bytes in the middle of ``path`` with their complement (so every one of them changes)."""
    raw = bytearray(path.read_bytes())
    start = len(raw) // 2 - n // 2
    raw[start : start + n] = bytes(255 - b for b in raw[start : start + n])
    path.write_bytes(bytes(raw))


# --- checksums -------------------------------------------------------------------------------------------------


def test_the_sidecar_records_size_and_sha256_of_every_file(tiny_dataset: DatasetMeta) -> None:
    directory = tiny_dataset.directory
    on_disk = sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())
    assert WRITER_RECORD not in on_disk  # the writer's record left with the temporary folder
    assert tiny_dataset.format_version == 2 and tiny_dataset.files is not None
    assert sorted(tiny_dataset.files) == [f for f in on_disk if f != SIDECAR]
    assert {"maps/gen-3.npy", "hairpin/tiny-v0/data/main_data.hdf5", "hairpin/tiny-v0/data/metadata.json"} <= set(
        tiny_dataset.files
    )
    for relative, record in tiny_dataset.files.items():
        data = (directory / relative).read_bytes()
        assert (record.size, record.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert read_meta(directory).files == tiny_dataset.files  # as written to hairpin.json
    assert verify_files(read_meta(directory)) == list(tiny_dataset.files)


def test_4000_overwritten_bytes_in_the_minari_file_are_a_damaged_dataset(tiny_copy: Path) -> None:
    data = hdf5_of(tiny_copy)
    overwrite_middle(data)
    for load in (load_demos, lambda d: load_actions(read_meta(d))):
        with pytest.raises(DatasetError) as caught:
            load(tiny_copy)
        message = str(caught.value)
        assert str(data) in message and "damaged" in message and "SHA-256" in message
        assert "record it again (hairpin demos record --out tiny --overwrite" in message


def test_without_checksums_the_same_damage_goes_unnoticed(tiny_copy: Path, tiny_dataset: DatasetMeta) -> None:
    """Why checksums: HDF5 stores raw images without one, so the damaged bytes load as frames."""
    overwrite_middle(hdf5_of(tiny_copy))
    without_checksums(tiny_copy)
    with pytest.warns(UnverifiedDatasetWarning, match="cannot be verified"):
        damaged, _ = load_demos(tiny_copy)
    intact, _ = load_demos(tiny_dataset.directory)
    assert not np.array_equal(damaged.images, intact.images)


def test_a_missing_or_resized_map_file_is_damage_too(tiny_copy: Path) -> None:
    line = tiny_copy / "maps" / "gen-4.npy"
    line.write_bytes(line.read_bytes() + b"\0")
    with pytest.raises(DatasetError, match=r"gen-4\.npy is \d+ bytes, hairpin\.json recorded \d+"):
        load_demos(tiny_copy)
    line.unlink()
    with pytest.raises(DatasetError, match=r"damaged: .*gen-4\.npy is missing"):
        load_demos(tiny_copy)


def test_info_verify_names_the_damaged_file(tiny_copy: Path) -> None:
    data = hdf5_of(tiny_copy)
    overwrite_middle(data)
    code, out, err = cli(["demos", "info", TINY_NAME, "--root", str(tiny_copy.parent), "--verify"])
    assert code == 2
    assert err.startswith("error: dataset 'tiny' is damaged:") and str(data) in err and "SHA-256" in err
    assert "verified" not in out
    code, out, _ = cli(["demos", "info", TINY_NAME, "--root", str(tiny_copy.parent)])  # a quick look, unchecked
    assert code == 0 and "4 episodes" in out


def test_info_verify_of_an_undamaged_dataset_says_ok(tiny_dataset: DatasetMeta) -> None:
    code, out, err = cli(["demos", "info", TINY_NAME, "--root", str(tiny_dataset.directory.parent), "--verify"])
    assert code == 0, err
    assert tiny_dataset.files is not None
    assert f"verified: OK, {len(tiny_dataset.files)} files match their sizes and SHA-256 checksums" in out


def test_a_dataset_written_before_checksums_loads_and_says_it_cannot_be_verified(tiny_copy: Path) -> None:
    without_checksums(tiny_copy)
    with pytest.warns(UnverifiedDatasetWarning, match=r"'tiny' .* written before hairpin recorded checksums"):
        demos, meta = load_demos(tiny_copy)
    assert meta.format_version == 1 and meta.files is None and demos.n_frames == meta.n_frames
    code, out, _ = cli(["demos", "info", TINY_NAME, "--root", str(tiny_copy.parent), "--verify"])
    assert code == 0 and "warning: tiny cannot be verified" in out


def test_a_sidecar_whose_version_and_checksums_disagree_is_corrupt(tiny_copy: Path) -> None:
    sidecar = json.loads((tiny_copy / SIDECAR).read_text())
    (tiny_copy / SIDECAR).write_text(json.dumps(sidecar | {"format_version": 1}))
    with pytest.raises(DatasetError, match="format_version 1 has files"):
        read_meta(tiny_copy)
    del sidecar["files"]
    (tiny_copy / SIDECAR).write_text(json.dumps(sidecar))
    with pytest.raises(DatasetError, match="format_version 2 lacks files"):
        read_meta(tiny_copy)
    sidecar["files"] = {"../../etc/passwd": {"size": 1, "sha256": "0" * 64}}
    (tiny_copy / SIDECAR).write_text(json.dumps(sidecar))
    with pytest.raises(DatasetError, match="is not a path inside the dataset"):
        read_meta(tiny_copy)


# --- a full disk -----------------------------------------------------------------------------------------------


def _enospc(*args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _h5py_enospc(*args: object, **kwargs: object) -> None:
    """What h5py raises from a write on a full disk (its error stack, in one exception)."""
    raise RuntimeError(
        "Can't decrement id ref count (file write failed: time = Mon Jan  1 00:00:00 2026\n, filename = "
        "'main_data.hdf5', file descriptor = 3, errno = 28, error message = 'No space left on device')"
    )


FULL_DISK = {
    "chunk write": (DatasetWriter, "_write", _enospc),
    "h5py write": (hdf5_storage.HDF5Storage, "update_episodes", _h5py_enospc),
    "reservation": (os, "posix_fallocate", _enospc),
    "sidecar write": (writer_module, "atomic_write_text", _enospc),
}


@pytest.mark.parametrize("where", FULL_DISK)
def test_a_full_disk_while_recording_is_one_error_and_leaves_the_old_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    args = ["demos", "record", *TINY, "--episodes", "1", "--out", "d", "--root", str(tmp_path)]
    code, _, err = cli(args)
    assert code == 0, err
    before = snapshot(tmp_path)
    monkeypatch.setattr(*FULL_DISK[where])
    code, out, err = cli([*args, "--overwrite", "--seed", "7"])
    assert code == 2, out
    assert err.startswith(f"error: {tmp_path}: no space left on the disk for dataset 'd' while writing")
    assert "the recording stopped and its temporary folder was removed" in err and "disk is full" in err
    assert len(err.split("error:")) == 2  # one error, one line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]  # no temporary folder left
    assert snapshot(tmp_path) == before


def test_a_full_disk_while_exporting_best_races_is_one_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run, _ = make_run(tmp_path, "r")
    root = tmp_path / "ds"
    monkeypatch.setattr(DatasetWriter, "_write", _enospc)
    code, _, err = cli(["demos", "export-best", str(run), "--out", "b", "--root", str(root)])
    assert code == 2
    assert err.startswith(f"error: {root}: no space left on the disk for dataset 'b'") and "removed" in err
    assert list(root.iterdir()) == []


def test_a_failed_write_drops_everything_before_it_returns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the context manager too: the writer aborts itself, its temporary folder goes at once."""
    cfg, maps = tiny_config(), tiny_maps()[:1]
    writer = DatasetWriter(tmp_path, "x", env=cfg.env, source="expert", maps=maps)
    assert (writer.tmp / WRITER_RECORD).is_file()
    writer.add(next(record_expert(cfg.env, cfg.expert, maps, 1)))
    monkeypatch.setattr(DatasetWriter, "_write", _enospc)
    with pytest.raises(OSError, match="no space left on the disk for dataset 'x'") as caught:
        writer.flush()
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(tmp_path)
    assert list(tmp_path.iterdir()) == [] and writer._dataset is None


def test_the_reservation_covers_what_hdf5_writes_and_is_given_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every chunk grows the HDF5 file by less than was reserved for it, and the file is cut back after it."""
    grown: list[tuple[int, int]] = []
    reserve, write = writer_module.reserve_space, DatasetWriter._write

    def reserving(path: Path, n_bytes: int) -> None:
        grown.append((path.stat().st_size, n_bytes))
        reserve(path, n_bytes)
        assert path.stat().st_size == grown[-1][0] + n_bytes  # the blocks are the file's now

    def writing(self: DatasetWriter, buffers: list) -> None:
        write(self, buffers)
        size0, n_bytes = grown[-1]
        grown[-1] = (hdf5_of(self.tmp, self.name).stat().st_size - size0, n_bytes)

    monkeypatch.setattr(writer_module, "reserve_space", reserving)
    monkeypatch.setattr(DatasetWriter, "_write", writing)
    monkeypatch.setattr(writer_module, "FLUSH_FRAMES", 150)  # a chunk of one or two episodes
    meta = write_expert_dataset(tiny_config(), tiny_maps(), root=tmp_path, name="r", episodes_per_map=2)
    assert len(grown) >= 3
    for growth, n_bytes in grown:
        assert 0 < growth < n_bytes
    assert verify_files(meta) is not None
    assert load_demos("r", tmp_path)[0].n_frames == meta.n_frames


def test_bytes_needed_counts_whole_chunks() -> None:
    cfg, maps = tiny_config(), tiny_maps()[:1]
    (episode,) = record_expert(cfg.env, cfg.expert, maps, 1)
    buffer = writer_module._episode_buffer(episode)
    raw = sum(a.nbytes for a in (episode.images, episode.floats, episode.actions, episode.rewards))
    assert raw < bytes_needed([buffer]) < bytes_needed([buffer, buffer]) < 2 * bytes_needed([buffer])


# --- folders of dead writers -----------------------------------------------------------------------------------


def _temporary(root: Path, name: str, record: dict | None) -> Path:
    folder = root / name
    (folder / "hairpin").mkdir(parents=True)
    (folder / "hairpin" / "part.hdf5").write_bytes(b"half")
    if record is not None:
        (folder / WRITER_RECORD).write_text(json.dumps(record))
    return folder


def test_folders_of_dead_writers_are_removed_at_the_next_start_and_live_ones_kept(tmp_path: Path) -> None:
    host = socket.gethostname()
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True)
    dead_pid = int(finished.stdout)
    live = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        dead = _temporary(tmp_path, ".d.tmp-dead1", {"pid": dead_pid, "host": host})
        alive = _temporary(tmp_path, ".d.tmp-live1", {"pid": live.pid, "host": host})
        elsewhere = _temporary(tmp_path, ".e.tmp-other", {"pid": dead_pid, "host": f"not-{host}"})
        unknown = _temporary(tmp_path, ".f.tmp-norecord", None)
        unrelated = _temporary(tmp_path, "g.tmp-x", {"pid": dead_pid, "host": host})  # not a temporary folder
        args = ["demos", "record", *TINY, "--episodes", "1", "--out", "new", "--root", str(tmp_path)]
        code, out, err = cli(args)
        assert code == 0, err
        assert f"removed 1 half-written dataset folder(s) of dead writers under {tmp_path}: .d.tmp-dead1" in out
        assert f"(pid {dead_pid})" in out and "kept 1 temporary dataset folder(s)" in out and "norecord" in out
        assert not dead.exists()
        assert alive.is_dir() and elsewhere.is_dir() and unknown.is_dir() and unrelated.is_dir()
        assert (alive / "hairpin" / "part.hdf5").read_bytes() == b"half"
        assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["g.tmp-x", "new"]
    finally:
        live.communicate(b"")
    assert live.returncode == 0


CHILD = textwrap.dedent(
    """
    import sys
    from tests.data.conftest import tiny_config, tiny_maps
    from hairpin.data.record import record_expert
    from hairpin.data.writer import DatasetWriter

    cfg, maps = tiny_config(), tiny_maps()[:1]
    writer = DatasetWriter(sys.argv[1], "k", env=cfg.env, source="expert", maps=maps)
    for episode in record_expert(cfg.env, cfg.expert, maps, 1):
        writer.add(episode)
    writer.flush()  # the HDF5 file is in the temporary folder
    print(writer.tmp, flush=True)
    sys.stdin.read()  # until killed
    """
)


def test_a_recording_killed_with_sigkill_is_cleaned_up_by_the_next_one(tmp_path: Path) -> None:
    root = tmp_path / "datasets"
    repo = Path(__file__).resolve().parents[2]
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(root)],
        cwd=repo,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")])},
    )
    try:
        assert child.stdout is not None
        left = Path(child.stdout.readline().decode().strip())
        assert left.parent == root and hdf5_of(left, "k").is_file()
        assert json.loads((left / WRITER_RECORD).read_text())["pid"] == child.pid
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL and left.is_dir()  # what a killed recording leaves behind
    cfg, maps = tiny_config(), tiny_maps()[:1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        writer = DatasetWriter(root, "k", env=cfg.env, source="expert", maps=maps)
    with writer:
        assert writer.leftovers.removed == [(left, child.pid)]
        assert not left.exists() and [p for p in root.iterdir()] == [writer.tmp]
    assert list(root.iterdir()) == []
