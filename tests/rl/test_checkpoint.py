"""Checkpoints: round trip, strict loading that names every bad tensor, crash safety, best races."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from hairpin.rl import checkpoint
from hairpin.rl.checkpoint import load_checkpoint, load_state_dict_strict, save_best_race, save_checkpoint
from hairpin.runfiles.best import read_best_race
from hairpin.runfiles.checkpoints import CheckpointError


class Net(nn.Module):
    def __init__(self, width: int = 8, layers: int = 2) -> None:
        super().__init__()
        self.fc1 = nn.Linear(4, width)
        if layers >= 2:
            self.fc2 = nn.Linear(width, 2)
        if layers >= 3:
            self.fc3 = nn.Linear(2, 2)


def trained(width: int = 8, layers: int = 2, seed: int = 0) -> tuple[Net, Net, torch.optim.Adam]:
    """Online and target nets and an Adam that has taken one step, so it has moments to save."""
    torch.manual_seed(seed)
    online, target = Net(width, layers), Net(width, layers)
    optimizer = torch.optim.Adam(online.parameters(), lr=1e-3)
    sum(p.sum() for p in online.parameters()).backward()
    optimizer.step()
    return online, target, optimizer


COUNTERS = {"cumul_number_frames_played": 1234, "cumul_number_batches_done": 56, "best_ms": {"A01": 24010}}


def save(run: Path, seed: int = 0, counters: dict | None = None) -> Path:
    online, target, optimizer = trained(seed=seed)
    return save_checkpoint(run, online=online, target=target, optimizer=optimizer, counters=counters or COUNTERS)


def test_round_trip_restores_weights_optimizer_and_counters(tmp_path: Path) -> None:
    online, target, optimizer = trained()
    folder = save_checkpoint(tmp_path, online=online, target=target, optimizer=optimizer, counters=COUNTERS)
    assert folder == tmp_path / "checkpoints" / "ckpt-000001"
    assert (tmp_path / "checkpoints" / "latest").read_text().strip() == "ckpt-000001"
    new_online, new_target, _ = trained(seed=1)
    new_optimizer = torch.optim.Adam(new_online.parameters(), lr=0.5)
    counters = load_checkpoint(tmp_path, online=new_online, target=new_target, optimizer=new_optimizer)
    assert counters == COUNTERS
    for before, after in ((online, new_online), (target, new_target)):
        assert all(
            torch.equal(a, b) for a, b in zip(before.state_dict().values(), after.state_dict().values(), strict=True)
        )
    saved, loaded = optimizer.state_dict(), new_optimizer.state_dict()
    assert loaded["param_groups"][0]["lr"] == 1e-3
    for index, moments in saved["state"].items():
        assert all(torch.equal(moments[key], loaded["state"][index][key]) for key in moments)
    record = json.loads((folder / "counters.json").read_text())
    assert record["checkpoint_id"] == 1 and record["counters"] == COUNTERS


def test_no_checkpoint_gives_none(tmp_path: Path) -> None:
    online, target, optimizer = trained()
    assert load_checkpoint(tmp_path, online=online, target=target, optimizer=optimizer) is None


def test_each_file_loads_weights_only(tmp_path: Path) -> None:
    folder = save(tmp_path)
    for name in ("online.pt", "target.pt", "optimizer.pt"):
        state = torch.load(folder / name, weights_only=True)
        assert isinstance(state, dict) and state
    assert set(torch.load(folder / "online.pt", weights_only=True)) == set(Net().state_dict())


def test_saves_number_forward_and_prune_to_keep(tmp_path: Path) -> None:
    root = tmp_path / "checkpoints"
    for seed in range(3):
        save(tmp_path, seed=seed, counters={"n": seed})
    assert sorted(p.name for p in root.iterdir()) == ["ckpt-000002", "ckpt-000003", "latest"]
    online, target, optimizer = trained()
    assert load_checkpoint(tmp_path, online=online, target=target, optimizer=optimizer) == {"n": 2}


@pytest.mark.parametrize(
    ("width", "layers", "expected"),
    [
        (16, 2, ["mis-shaped fc1.weight: checkpoint (8, 4), module (16, 4)", "mis-shaped fc1.bias", "fc2.weight"]),
        (8, 1, ["unexpected fc2.weight (2, 8)", "unexpected fc2.bias (2,)"]),
        (8, 3, ["missing fc3.weight (2, 2)", "missing fc3.bias (2,)"]),
    ],
)
def test_mismatched_module_names_every_tensor(tmp_path: Path, width: int, layers: int, expected: list[str]) -> None:
    save(tmp_path)
    online, target, optimizer = trained(width, layers, seed=5)
    before = {key: value.clone() for key, value in online.state_dict().items()}
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(tmp_path, online=online, target=target, optimizer=optimizer)
    assert "online.pt" in str(caught.value)
    for text in expected:
        assert text in str(caught.value)
    assert all(torch.equal(before[key], value) for key, value in online.state_dict().items())


def test_strict_load_never_loads_partially() -> None:
    module = Net(8, 2)
    state = Net(8, 3).state_dict()
    before = module.fc1.weight.clone()
    with pytest.raises(CheckpointError, match=r"(?s)bc\.pt does not fit Net.*unexpected fc3\.weight"):
        load_state_dict_strict(module, state, "bc.pt")
    assert torch.equal(module.fc1.weight, before)
    with pytest.raises(CheckpointError, match="not a state dict"):
        load_state_dict_strict(module, [1, 2], "x.pt")


def test_target_mismatch_leaves_online_untouched(tmp_path: Path) -> None:
    save(tmp_path)
    online, _, optimizer = trained(seed=3)
    before = online.fc1.weight.clone()
    with pytest.raises(CheckpointError, match=r"target\.pt"):
        load_checkpoint(tmp_path, online=online, target=Net(16), optimizer=optimizer)
    assert torch.equal(online.fc1.weight, before)


def test_optimizer_over_other_parameters_is_refused(tmp_path: Path) -> None:
    save(tmp_path)
    online, target, _ = trained()
    fewer = torch.optim.Adam(online.fc1.parameters())
    with pytest.raises(CheckpointError, match=r"optimizer\.pt: parameter groups of sizes \[4\].*\[2\]"):
        load_checkpoint(tmp_path, online=online, target=target, optimizer=fewer)
    swapped = torch.optim.Adam([online.fc2.weight, online.fc2.bias, online.fc1.weight, online.fc1.bias])
    with pytest.raises(CheckpointError, match=r"parameter 0 exp_avg: checkpoint \(8, 4\), parameter \(2, 8\)"):
        load_checkpoint(tmp_path, online=online, target=target, optimizer=swapped)


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize("fail_on", ["target.pt", "counters.json", "latest"])
def test_crash_mid_save_keeps_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_on: str
) -> None:
    save(tmp_path, seed=0, counters={"n": 1})
    real_bytes, real_text = checkpoint.atomic_write_bytes, checkpoint.atomic_write_text

    def crashing(write: Callable[[Path, Any], None]) -> Callable[[Path, Any], None]:
        def wrapper(path: Path, data: Any) -> None:
            if Path(path).name == fail_on:
                raise OSError(f"crash writing {fail_on}")
            write(path, data)

        return wrapper

    monkeypatch.setattr(checkpoint, "atomic_write_bytes", crashing(real_bytes))
    monkeypatch.setattr(checkpoint, "atomic_write_text", crashing(real_text))
    with pytest.raises(OSError, match="crash"):
        save(tmp_path, seed=1, counters={"n": 2})
    monkeypatch.undo()
    root = tmp_path / "checkpoints"
    assert not [name for name in _files(root) if name.endswith(".tmp")]
    online, target, optimizer = trained(seed=7)
    assert load_checkpoint(tmp_path, online=online, target=target, optimizer=optimizer) == {"n": 1}
    reference, _, _ = trained(seed=0)
    assert torch.equal(online.fc1.weight, reference.fc1.weight)
    assert save(tmp_path, seed=2, counters={"n": 3}).name == "ckpt-000003"
    assert sorted(p.name for p in root.iterdir()) == ["ckpt-000001", "ckpt-000003", "latest"]


def test_weights_from_another_save_are_refused(tmp_path: Path) -> None:
    first = save(tmp_path, seed=0)
    second = save(tmp_path, seed=1)
    shutil.copy(first / "online.pt", second / "online.pt")
    online, target, optimizer = trained()
    with pytest.raises(CheckpointError, match="not the file saved with these counters"):
        load_checkpoint(tmp_path, online=online, target=target, optimizer=optimizer)


def test_inconsistent_pointer_or_counters_are_refused(tmp_path: Path) -> None:
    online, target, optimizer = trained()
    folder = save(tmp_path)
    record = json.loads((folder / "counters.json").read_text())
    (folder / "counters.json").write_text(json.dumps({**record, "checkpoint_id": 9}))
    with pytest.raises(CheckpointError, match="checkpoint_id 9 but it lies in ckpt-000001"):
        load_checkpoint(tmp_path, online=online, target=target, optimizer=optimizer)
    (folder / "counters.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(tmp_path, online=online, target=target, optimizer=optimizer)
    (tmp_path / "checkpoints" / "latest").write_text("ckpt-000004\n")
    with pytest.raises(CheckpointError, match="names 'ckpt-000004'"):
        load_checkpoint(tmp_path, online=online, target=target, optimizer=optimizer)


def test_complete_folder_without_pointer_is_refused(tmp_path: Path) -> None:
    save(tmp_path)
    (tmp_path / "checkpoints" / "latest").unlink()
    online, target, optimizer = trained()
    with pytest.raises(CheckpointError, match=r"latest is missing but \['ckpt-000001'\] hold counters"):
        load_checkpoint(tmp_path, online=online, target=target, optimizer=optimizer)


def test_counters_must_be_json(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="JSON-serialisable"):
        save(tmp_path, counters={"when": object()})
    assert not (tmp_path / "checkpoints").exists()


def test_best_race_kept_only_when_better(tmp_path: Path) -> None:
    net = Net()
    assert save_best_race(tmp_path, "A01", race_time_ms=30_000, actions=[1, 2, 3], online=net, extra={"seed": 1})
    assert not save_best_race(tmp_path, "A01", race_time_ms=30_000, actions=[4], online=net, extra={})
    assert not save_best_race(tmp_path, "A01", race_time_ms=31_000, actions=[4], online=net, extra={})
    torch.manual_seed(2)
    better = Net()
    keys = [[0, 1, 0, 0]] * 5
    assert save_best_race(tmp_path, "A01", race_time_ms=29_500, actions=[5, 6], online=better, tick_keys=keys)
    best = read_best_race(tmp_path, "A01")
    assert best is not None and best["race_time_ms"] == 29_500 and best["actions"] == [5, 6]
    assert best["tick_keys"] == keys and best["step_ms"] == 50
    weights = torch.load(tmp_path / "best" / "A01" / "weights.pt", weights_only=True)
    assert torch.equal(weights["fc1.weight"], better.fc1.weight)
    assert sorted(p.name for p in (tmp_path / "best").iterdir()) == ["A01"]
    assert read_best_race(tmp_path, "B02") is None


def test_best_race_checks_its_inputs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="1-D sequence of ints"):
        save_best_race(tmp_path, "A01", race_time_ms=1, actions=[0.5], online=Net(), extra={})
    with pytest.raises(ValueError, match="cannot be a folder name"):
        save_best_race(tmp_path, "../x", race_time_ms=1, actions=[1], online=Net(), extra={})


def test_best_race_swap_interrupted_is_repaired(tmp_path: Path) -> None:
    save_best_race(tmp_path, "A01", race_time_ms=30_000, actions=[1], online=Net(), extra={})
    best = tmp_path / "best"
    (best / "A01").rename(best / ".A01.old")  # crashed between the two renames of a new best
    shutil.copytree(best / ".A01.old", best / ".A01.new")
    json_path = best / ".A01.new" / "actions.json"
    json_path.write_text(json.dumps({**json.loads(json_path.read_text()), "race_time_ms": 29_000}))
    assert read_best_race(tmp_path, "A01")["race_time_ms"] == 29_000  # type: ignore[index]
    assert sorted(p.name for p in best.iterdir()) == ["A01"]


def test_save_refuses_a_broken_pointer_instead_of_pruning(tmp_path: Path) -> None:
    save(tmp_path)
    (tmp_path / "checkpoints" / "latest").write_text("garbage\n")
    with pytest.raises(CheckpointError, match="names 'garbage'"):
        save(tmp_path)
    assert (tmp_path / "checkpoints" / "ckpt-000001" / "counters.json").exists()


def test_keep_one_keeps_only_the_latest(tmp_path: Path) -> None:
    online, target, optimizer = trained()
    for n in range(3):
        save_checkpoint(tmp_path, online=online, target=target, optimizer=optimizer, counters={"n": n}, keep=1)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["ckpt-000003", "latest"]
