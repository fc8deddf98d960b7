"""The learner process of a run: receives races, fills the replay memory, trains, logs, checkpoints, stops.

One loop, in this order: take the races the collectors sent (counting frames, logging race scalars, keeping best
races, filling the buffer) → set the scheduled values → train while the replay ratio allows → hold collectors back
when the learner is behind → publish weights, log, checkpoint on their clocks → replace dead collectors → check the
stop rules. ``Learner.update`` is the learning rule; everything else lives here.

Resume: running the same run again loads the latest checkpoint (weights, target, optimizer, counters; schedules
follow the frame counter), appends a session to run.json and continues TensorBoard. The replay memory is not
saved: a resumed run refills ``memory_min_size`` transitions before it trains again.
"""

from __future__ import annotations

import copy
import math
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hairpin.config.rl import RLConfig
from hairpin.devices import resolve_device
from hairpin.errors import HairpinError
from hairpin.nets import IQNNetwork
from hairpin.nets.groups import apply_freezing, param_groups
from hairpin.nets.state_dict import load_weights
from hairpin.obs import FloatLayout
from hairpin.rl.buffer import ReplayBuffer, ReplayRatio, SplitMemory
from hairpin.rl.checkpoint import (
    load_checkpoint,
    load_state_dict_strict,
    read_online_state,
    save_best_race,
    save_checkpoint,
)
from hairpin.rl.collector import make_network
from hairpin.rl.collectors import CollectorCrashLoopError, Collectors, make_collectors
from hairpin.rl.inject import Injected, inject_pretrained
from hairpin.rl.learner import Learner
from hairpin.rl.limits import map_limits
from hairpin.rl.map_cycle import trained_maps
from hairpin.rl.race_channel import RaceRecord
from hairpin.rl.race_log import RaceLog, race_scalars
from hairpin.rl.sampler import BatchSampler
from hairpin.rl.schedules import RunSchedules
from hairpin.rl.shaping import LinePotential, Potential, TimePotential
from hairpin.rl.tb_writer import SuffixedSummaryWriter
from hairpin.run_lock import RunLock
from hairpin.runfiles.checkpoints import CheckpointError
from hairpin.runfiles.manifest import MANIFEST, RunManifest
from hairpin.sim.race import float_layout
from hairpin.version import code_version

__all__ = ["NonFiniteLossError", "RunStartError", "Trainer", "TrainerStatus", "check_start_options"]

PUBLISH_EVERY_S = 1.0
"""Weights are published after every training burst, and at least this often (s) when nothing trains."""
KEPT_WEIGHT_VERSIONS = 16
"""Published weight versions kept in memory, so a best race is stored with the weights that drove it."""
TRAIN_BURST = 16
"""Batches trained before the loop looks at the queue again."""
RACE_STEPS_GUESS = 400
"""Steps of a race before one has been seen: the first estimate of one race's credit."""


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the run stops and keeps its last good checkpoint."""


@dataclass
class TrainerStatus:
    """What the live display shows."""

    frames: int = 0
    batches: int = 0
    batches_per_s: float = 0.0
    buffer_size: int = 0
    learner_busy: float = 0.0
    elapsed_s: float = 0.0
    epsilon: float = 0.0
    learning_rate: float = 0.0
    loss: float = float("nan")
    race_log: RaceLog = field(default_factory=RaceLog)
    limits_ms: dict[str, int] = field(default_factory=dict)
    """The limit of each map (DESIGN §8), by short name."""
    stop_reason: str | None = None
    events: list[str] = field(default_factory=list)


@dataclass
class _IntervalStats:
    """Sums over the batches and exploration races since the last log line."""

    batches: int = 0
    loss: float = 0.0
    grad_norm: float = 0.0
    mean_q: float = 0.0
    explo_steps: int = 0
    random_steps: int = 0

    def add(self, loss: float, grad_norm: float, mean_q: float) -> None:
        self.batches += 1
        self.loss, self.grad_norm, self.mean_q = self.loss + loss, self.grad_norm + grad_norm, self.mean_q + mean_q

    def scalars(self) -> dict[str, float]:
        """Means over the interval: loss, gradient norm (before clipping), Q of the trained batches, random share."""
        out: dict[str, float] = {}
        if self.batches:
            n = self.batches
            out.update(
                {"Training/loss": self.loss / n, "Training/grad_norm": self.grad_norm / n, "RL/mean_Q": self.mean_q / n}
            )
        if self.explo_steps:
            out["RL/random_step_share"] = self.random_steps / self.explo_steps
        return out


def _clock_step_reward(cfg: RLConfig) -> float:
    """The race clock's reward over one step, whatever the car does."""
    return cfg.env.reward.per_ms * cfg.memory.step_ms


def _potentials(cfg: RLConfig, layout: FloatLayout) -> list[Potential]:
    """The reward shaping the config asks for (``rl/shaping.py``)."""
    memory, out = cfg.memory, []
    if memory.shaping_per_m_from_line:
        out.append(LinePotential(layout, memory.shaping_per_m_from_line, memory.shaping_min_m, memory.shaping_max_m))
    if memory.shaping_mini_race_time and memory.mini_race_steps is not None:
        out.append(TimePotential(layout, _clock_step_reward(cfg), memory.mini_race_steps, memory.step_s))
    return out


def _optimizer(net: IQNNetwork, cfg: RLConfig) -> torch.optim.Optimizer:
    groups = param_groups(net, cfg.nn, cfg.schedules.lr_schedule.value(0))
    o = cfg.optimizer
    kind = torch.optim.Adam if o.kind == "adam" else torch.optim.RAdam
    return kind(groups, eps=o.eps, betas=o.betas, weight_decay=o.weight_decay, decoupled_weight_decay=True)


class RunStartError(HairpinError):
    """The run cannot start as asked: an option that cannot take effect, or weights to start from that are missing."""


def check_start_options(run_dir: Path, init_from: Path | None, reset_schedules: bool) -> None:
    """Refuse start options that cannot take effect, before the run is touched."""
    if reset_schedules and init_from is None:
        raise RunStartError("--reset-schedules only applies with --init-from (schedules of a resumed run go on)")
    if init_from is None:
        return
    if (run_dir / MANIFEST).exists():
        raise RunStartError(
            f"run {run_dir} already exists and would resume: --init-from only starts a new run; choose another "
            "run_name (--set run_name=NEW) or drop --init-from to resume it"
        )
    if not init_from.exists():
        raise RunStartError(f"--init-from {init_from}: no such file or directory")


def _read_init_weights(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Online weights and counters from a ``.pt`` state dict, a run directory or a checkpoint folder."""
    if path.is_file():
        return load_weights(path, str(path), error=CheckpointError), {}
    return read_online_state(path)


class Trainer:
    """Runs (or resumes) the run ``cfg.run_name`` until a stop rule, Ctrl-C, or a fault."""

    def __init__(
        self,
        cfg: RLConfig,
        *,
        init_from: Path | None = None,
        reset_schedules: bool = False,
        allow_config_change: bool = False,
    ) -> None:
        self.cfg = cfg
        self.run_dir = Path(cfg.paths.runs) / cfg.run_name
        check_start_options(self.run_dir, init_from, reset_schedules)
        self._lock = RunLock(self.run_dir).acquire()  # before anything of the run is read or written
        try:
            self._open(init_from, reset_schedules, allow_config_change)
        except BaseException:
            self._lock.release()
            raise

    def _open(self, init_from: Path | None, reset_schedules: bool, allow_config_change: bool) -> None:
        cfg = self.cfg
        free_keys = ("training", "performance", "paths", "game")
        RunManifest.check_reopen(
            self.run_dir, config=cfg, seed=cfg.seed, allow_config_change=allow_config_change, free_keys=free_keys
        )
        self.device = resolve_device(cfg.performance.device)
        torch.manual_seed(cfg.seed)
        torch.set_num_threads(cfg.performance.learner_threads)
        self.rng = np.random.default_rng(cfg.seed)
        self.online = make_network(cfg).to(self.device)
        self.target = copy.deepcopy(self.online)
        self.optimizer = _optimizer(self.online, cfg)
        self.learner = Learner(self.online, self.target, self.optimizer, cfg.iqn)
        self.schedules = RunSchedules(cfg)
        self.injected: list[Injected] = []
        counters = self._restore(init_from, reset_schedules)
        self.frames = int(counters.get("cumul_number_frames_played", 0))
        self.batches = int(counters.get("cumul_number_batches_done", 0))
        self.learner.batches_done = self.batches
        self.hours_before = float(counters.get("cumul_training_hours", 0.0))
        self.races = int(counters.get("races", 0))
        self.limits_ms = map_limits(cfg)
        self.status = TrainerStatus(
            frames=self.frames,
            batches=self.batches,
            race_log=RaceLog(counters.get("best_ms", {})),
            limits_ms=self.limits_ms,
        )
        self.manifest = RunManifest.open_or_create(
            self.run_dir,
            config=cfg,
            seed=cfg.seed,
            group=cfg.group,
            run_name=cfg.run_name,
            allow_config_change=allow_config_change,
            free_keys=free_keys,
        )
        self.manifest.start_session(self.frames, self.batches, init_from=str(init_from) if init_from else None)
        if self._lock.took_over:
            message = f"took over {self._lock.path} from {self._lock.took_over}, which no longer runs"
            self.manifest.log_event("lock_taken_over", message, self.frames)
            self.status.events.append(message)
        self.writer = SuffixedSummaryWriter(
            cfg.paths.tensorboard,
            cfg.run_name,
            self.schedules.tensorboard_suffix,
            on_new_dir=self.manifest.add_tensorboard_dir,
        )
        self.manifest.set_limits(self.limits_ms)
        for name, limit in self.limits_ms.items():
            self.writer.add_scalar(f"limit_ms_{name}", limit, self.frames)
        if self.injected:
            self._record_injection()
        image_shape = (1, cfg.env.image_size, cfg.env.image_size)
        layout = float_layout(cfg.env)
        memory = cfg.memory
        stall_reward = _clock_step_reward(cfg) if memory.stall_is_terminal else None
        self.memory = SplitMemory.from_config(memory, image_shape, layout.size, self.rng, self.frames, stall_reward)
        self.ratio = ReplayRatio.from_config(memory)
        self.potentials = _potentials(cfg, layout)
        self.sampler = self._batch_sampler(self.memory.train)
        self.test_sampler = self._batch_sampler(self.memory.test) if self.memory.test is not None else None
        self.weight_versions: OrderedDict[int, dict[str, torch.Tensor]] = OrderedDict()
        self.collectors: Collectors | None = None
        """The collectors of the last ``run`` (their ledger counts the races taken)."""
        self._plateau_until: int | None = None
        self._batches_at_test = self.batches
        self._best_eval_time = time.monotonic()
        self._longest_race_steps = RACE_STEPS_GUESS
        self._trained_maps = trained_maps(cfg.map_cycle.entries)
        self._interval = _IntervalStats()

    def _batch_sampler(self, buffer: ReplayBuffer) -> BatchSampler:
        """Batches of ``buffer`` drawn and shaped as the config says (mini-race times, line potential)."""
        memory = self.cfg.memory
        return BatchSampler(
            buffer,
            self.schedules.at(self.frames).batch_size,
            self.device,
            memory.mini_race_steps,
            memory.mini_race_oversample,
            self.potentials,
        )

    def _restore(self, init_from: Path | None, reset_schedules: bool) -> dict[str, Any]:
        """Resume from the run's checkpoint; or start fresh: ``init_from`` weights, then pretrained artifacts."""
        counters = load_checkpoint(self.run_dir, online=self.online, target=self.target, optimizer=self.optimizer)
        if counters is not None:
            return counters
        kept: dict[str, Any] = {}
        if init_from is not None:
            state, source_counters = _read_init_weights(init_from)
            load_state_dict_strict(self.online, state, str(init_from))
            if not reset_schedules:
                names = ("cumul_number_frames_played", "cumul_number_batches_done")
                kept = {k: source_counters[k] for k in names if k in source_counters}
        layout = float_layout(self.cfg.env)
        self.injected = inject_pretrained(
            self.online, self.cfg.training, image_size=self.cfg.env.image_size, float_layout=layout
        )
        self.target.load_state_dict(self.online.state_dict())
        return kept

    def _record_injection(self) -> None:
        """Write what was injected into run.json and as TensorBoard text."""
        records = [r.as_dict() for r in self.injected]
        self.manifest.set_pretrained(records)
        for r in self.injected:
            self.manifest.log_event("inject", f"{r.artifact} from {r.path} into {', '.join(r.parts)}", self.frames)
        lines = [
            f"- `{r.key}`: {r.artifact} from `{r.path}` → {', '.join(r.parts)} ({r.tensors} tensors, "
            f"{r.task} best epoch {r.best_epoch})"
            for r in self.injected
        ]
        self.writer.add_text("Pretrain/injected", "\n".join(lines), self.frames)

    # -- the loop -------------------------------------------------------------------------------------------

    def run(self, on_status: Any = None) -> TrainerStatus:
        """Train until a stop rule; ``on_status(status)`` is called about once a second and may stop the run by
        setting ``status.stop_reason``."""
        try:
            pool = self.collectors = make_collectors(self.cfg, self.online, self.cfg.seed)
            self._publish(pool)
            pool.start()
            pool.check_health(self._event)
        except BaseException:  # no Ray, no cluster: the session ends before it trained, the run is released
            self.close()
            raise
        start = time.monotonic()
        clocks = {"publish": start, "log": start, "checkpoint": start, "status": start}
        busy_s, window_start, batches_at_window = 0.0, start, self.batches
        good_exit = True
        try:
            while self.status.stop_reason is None:
                self._receive(pool, block=not self.ratio.learner_may_train())
                values = self.schedules.at(self.frames)
                self._set_scheduled(values)
                t0 = time.monotonic()
                batches_before = self.batches
                for _ in range(TRAIN_BURST):
                    if not self.ratio.learner_may_train():
                        break
                    self._train_one(values.gamma)
                busy_s += time.monotonic() - t0
                behind = self.ratio.collectors_must_wait(self._backpressure_slack())
                pool.set_may_run(not behind and not self._frame_budget_played())
                now = time.monotonic()
                if self.batches > batches_before or now - clocks["publish"] >= PUBLISH_EVERY_S:
                    self._publish(pool)
                    clocks["publish"] = now
                if now - clocks["status"] >= 1.0:
                    span = max(now - window_start, 1e-9)
                    self.status.learner_busy = busy_s / span
                    self.status.batches_per_s = (self.batches - batches_at_window) / span
                    self._sync_status()
                    busy_s, window_start, batches_at_window = 0.0, now, self.batches
                    clocks["status"] = now
                    if on_status is not None:
                        on_status(self.status)
                if now - clocks["log"] >= self.cfg.training.log_every_seconds:
                    self._log_training(values, now - start)
                    clocks["log"] = now
                if now - clocks["checkpoint"] >= 60 * self.cfg.training.checkpoint_every_minutes:
                    self._checkpoint(now - start)
                    clocks["checkpoint"] = now
                pool.check_health(self._event)
                self.status.elapsed_s = now - start
                self.status.stop_reason = self.status.stop_reason or self._stop_reason(now - start)
        except KeyboardInterrupt:
            self.status.stop_reason = "interrupted (Ctrl-C)"
        except CollectorCrashLoopError as err:
            self.status.stop_reason = str(err)
        except NonFiniteLossError as err:
            self.status.stop_reason = str(err)
            good_exit = False
        finally:
            pool.stop()
            elapsed = time.monotonic() - start
            try:
                if good_exit:
                    self._log_training(self.schedules.at(self.frames), elapsed, force_test_loss=True)
                    self._checkpoint(elapsed)
            finally:  # a full or read-only disk still ends the session as far as it can and releases the run
                self._sync_status()
                try:
                    self.manifest.log_event("stop", self.status.stop_reason or "stopped", self.frames)
                finally:
                    self.close()
        return self.status

    def close(self) -> None:
        """End the session, close the logs and release the run (``run`` does this when it stops)."""
        try:
            if self.manifest.session_open:
                self.manifest.end_session(self.frames, self.batches)
        finally:
            try:
                self.writer.close()
            finally:
                self._lock.release()

    def _receive(self, pool: Collectors, block: bool) -> None:
        """Take every race waiting (waiting briefly for one when there is nothing to train on)."""
        for record in pool.receive(timeout=0.05 if block else 0.0):
            self._add_race(record)
        pool.set_frames_played(self.frames)

    def _add_race(self, record: RaceRecord) -> None:
        entry = self.cfg.map_cycle.entries[record.entry]
        steps = len(record.actions)
        self.frames += steps
        self.races += 1
        finished = record.terminated
        self._longest_race_steps = max(self._longest_race_steps, steps)
        if entry.is_exploration:
            self._interval.explo_steps += steps
            self._interval.random_steps += int(steps - np.count_nonzero(record.greedy))
        if entry.fill_buffer:
            added = self.memory.add_race(
                record.frames,
                record.floats,
                record.actions,
                record.rewards,
                record.terminated,
                record.greedy,
                record.stalled,
            )
            self.ratio.record_added(added)
        if record.start_m > 0:
            return  # a race started along the map (``rl/random_starts.py``): its time is not a lap
        limit = self.limits_ms.get(entry.short_name)
        scalars = race_scalars(
            entry, record.race_time_ms, finished, record.mean_q, limit, self._trained_maps, record.progress
        )
        self.writer.add_scalars(scalars, self.frames)
        news = self.status.race_log.add(entry, record.race_time_ms, finished)
        if news.map_best:
            self.writer.add_scalar(f"alltime_min_ms_{entry.short_name}", record.race_time_ms, self.frames)
            if limit:
                self.writer.add_scalar(
                    f"alltime_min_to_limit_{entry.short_name}", record.race_time_ms / limit, self.frames
                )
            weights = self.weight_versions.get(record.weights_version)
            save_best_race(
                self.run_dir,
                entry.short_name,
                race_time_ms=record.race_time_ms,
                actions=record.actions,
                online=weights if weights is not None else self.online.state_dict(),
                extra={
                    "frames": self.frames,
                    "weights_exact": weights is not None,
                    "kind": "explo" if entry.is_exploration else "eval",
                },
            )
        if news.kind_best and not entry.is_exploration:
            self._best_eval_time = time.monotonic()  # the clock of early stop and the plateau breaker

    def _set_scheduled(self, values: Any) -> None:
        lr = values.learning_rate
        if self._plateau_until is not None:
            if self.frames < self._plateau_until:
                lr *= self.cfg.training.plateau.lr_factor
            else:
                self._plateau_until = None
                self._event("plateau_end", "learning rate back on its schedule")
        self.learner.set_learning_rate(lr)
        self.status.learning_rate, self.status.epsilon = lr, values.epsilon
        if values.memory_size != self.memory.train.capacity:
            self.memory.set_capacity(values.memory_size)
        for sampler in (self.sampler, self.test_sampler):
            if sampler is not None:
                sampler.resize(values.batch_size)
        apply_freezing(self.online, self.cfg.nn, self.frames)

    def _train_one(self, gamma: float) -> None:
        batch, tensors = self.sampler.sample(gamma, self.rng)
        stats = self.learner.update(tensors)
        if not math.isfinite(stats.loss):
            raise NonFiniteLossError(
                f"non-finite loss {stats.loss} at batch {self.batches}; the last good checkpoint is kept"
            )
        self.memory.train.update_priorities(batch.index, stats.td_error.cpu().numpy())
        self.ratio.record_trained(self.sampler.batch_size)
        self.batches += 1
        self.status.loss = stats.loss
        self._interval.add(stats.loss, stats.grad_norm, stats.mean_q)

    def _backpressure_slack(self) -> float:
        """Transitions the learner may fall behind before collectors wait: one race's credit per collector, so a
        collector can finish the race it is driving while the learner trains on the last one (collecting and
        learning overlap instead of taking turns)."""
        perf = self.cfg.performance
        credit = self._longest_race_steps * self.cfg.memory.number_times_single_memory_is_used_before_discard
        return perf.gpu_collectors_count * credit

    def _publish(self, pool: Collectors) -> None:
        version = pool.publish(self.online)
        self.weight_versions[version] = {k: v.detach().cpu().clone() for k, v in self.online.state_dict().items()}
        while len(self.weight_versions) > KEPT_WEIGHT_VERSIONS:
            self.weight_versions.popitem(last=False)

    def _sync_status(self) -> None:
        s = self.status
        s.frames, s.batches, s.buffer_size = self.frames, self.batches, len(self.memory.train)

    def _log_training(self, values: Any, session_s: float, force_test_loss: bool = False) -> None:
        """Training scalars; the test loss every ``test_loss_every_batches`` batches (or now, when forced)."""
        self._sync_status()
        s = self.status
        scalars = {
            "Training/learning_rate": s.learning_rate,
            "RL/epsilon": values.epsilon,
            "RL/epsilon_boltzmann": values.epsilon_boltzmann,
            "Performance/learner_percentage_training": 100.0 * s.learner_busy,
            "Performance/transitions_learned_per_second": s.batches_per_s * self.sampler.batch_size,
            "Training/batch_size": self.sampler.batch_size,
            "cumul_number_frames_played": self.frames,
            "cumul_number_batches_done": self.batches,
            "cumul_training_hours": self.hours_before + session_s / 3600.0,
        }
        scalars.update(self._interval.scalars())
        self._interval = _IntervalStats()
        test = self.test_sampler
        due = self.batches - self._batches_at_test >= self.cfg.training.test_loss_every_batches or force_test_loss
        if test is not None and len(test.buffer) > 0 and self.batches and due:
            _, tensors = test.sample(values.gamma, self.rng)
            scalars["Training/loss_test"] = self.learner.test_loss(tensors)
            self._batches_at_test = self.batches
        self.writer.add_scalars(scalars, self.frames)

    def _checkpoint(self, session_s: float) -> None:
        counters = {
            "cumul_number_frames_played": self.frames,
            "cumul_number_batches_done": self.batches,
            "cumul_training_hours": self.hours_before + session_s / 3600.0,
            "races": self.races,
            "best_ms": self.status.race_log.best_ms,
            "code_version": code_version(),
        }
        save_checkpoint(
            self.run_dir, online=self.online, target=self.target, optimizer=self.optimizer, counters=counters
        )
        self.writer.flush()

    def _event(self, kind: str, message: str) -> None:
        self.manifest.log_event(kind, message, self.frames)
        self.writer.add_scalar(f"Events/{kind}", 1.0, self.frames)
        self.status.events.append(f"{kind}: {message}")

    def _frame_budget_played(self) -> bool:
        """``training.max_frames`` are played: the collectors wait while the learner trains what those frames are
        owed at the replay ratio, so a frame budget buys the same batches however far behind the learner was."""
        return self.cfg.training.max_frames is not None and self.frames >= self.cfg.training.max_frames

    def _stop_reason(self, session_s: float) -> str | None:
        t = self.cfg.training
        if self._frame_budget_played() and not self.ratio.learner_may_train():
            return f"max_frames {t.max_frames} reached"
        if t.max_batches is not None and self.batches >= t.max_batches:
            return f"max_batches {t.max_batches} reached"
        if t.max_minutes is not None and session_s >= 60 * t.max_minutes:
            return f"max_minutes {t.max_minutes} reached"
        stalled_min = (time.monotonic() - self._best_eval_time) / 60
        if t.early_stop_minutes is not None and stalled_min >= t.early_stop_minutes:
            self._event("early_stop", f"best eval time not improved for {t.early_stop_minutes} min")
            return f"early stop: no better eval time for {t.early_stop_minutes} min"
        plateau = t.plateau
        if plateau.minutes is not None and self._plateau_until is None and stalled_min >= plateau.minutes:
            self._plateau_until = self.frames + plateau.frames
            self._best_eval_time = time.monotonic()  # wait another full period before the next one
            self._event("plateau_breaker", f"lr × {plateau.lr_factor} for {plateau.frames} frames")
        return None
