"""The replay memory: a circular store of whole races, n-step sampling (uniform or prioritised, Schaul et al. 2016),
the held-out test split, and replay-ratio accounting with back-pressure.

Storage. One slot per observation in preallocated numpy arrays (``np.empty``: pages are touched only when
written). A race of T steps takes T + 1 contiguous slots: slot k holds obs_k and, for k < T, the action taken and
the reward received there; slot T holds the final observation. Frames are stored once: the next observation of
an n-step transition is the slot n′ further on, never a copy. The live slots run from a tail (oldest) to a head
(next written) around a ring of ``capacity_max`` slots; a race never straddles the ring's end: when it does not
fit there, the writer goes back to slot 0 and the slots it skips stay empty. Before writing, the oldest slots are
dropped from the tail until the stored slots fit the active capacity and the race's slots are free, so what is
left of an old race is always its newer part, whose later slots all survive: slot i + n′ always belongs to the
race of slot i. Changing the capacity moves nothing and takes effect at once: growing lets the buffer fill
further, shrinking drops from the tail. The ring wraps at ``capacity_max``, not at the active capacity, so that
growth is never held back by an old lap; the price is that after one lap every page of the ``capacity_max``
slots is in use (the schedule reaches that size anyway). A race longer than the capacity keeps its last
``capacity`` observations.

Bytes per step at 64×64 with 184 floats: 4096 (frame) + 736 (floats) + 8 (action) + 4 (reward) + 1 (greedy)
+ 8 (race id) + 4 (position) + 4 (steps to end) + 1 (finished) + 1 (stalled) + 4 (generation) = 4,867 B, so
1,000,000 steps take 4.87 GB
(``ReplayBuffer.nbytes_for``; plus 16 MiB for the sum tree when prioritised).

Chunks. A collector that sends fixed-size chunks of a long race calls ``add_race`` per chunk with
``terminated=False`` except on the chunk that ends with a finish; each chunk repeats the previous one's last
observation as its first. The last n − 1 transitions of a chunk then bootstrap from its final observation with a
shorter return, which is still a correct target.
"""

from __future__ import annotations

import math

import numpy as np

from hairpin.config.memory import MemoryConfig
from hairpin.obs import FloatLayout
from hairpin.rl.nstep import Batch, empty_batch, mini_race_times, nstep_returns, to_torch
from hairpin.rl.sumtree import SumTree

__all__ = ["Batch", "ReplayBuffer", "ReplayRatio", "SplitMemory", "to_torch"]

MINI_RACE_TIME = FloatLayout().mini_race_time  # slice of the float the mini-race time goes in
_EMPTY = -1  # steps_to_end of a slot that holds nothing


class ReplayBuffer:
    """Circular store of races with n-step sampling; the active capacity may change at any time."""

    def __init__(
        self,
        capacity_max: int,
        image_shape: tuple[int, ...],
        n_floats: int,
        *,
        n_steps: int,
        prioritized: bool = False,
        prio_alpha: float = 0.6,
        prio_beta: float = 1.0,
        prio_epsilon: float = 2e-3,
        step_s: float = 0.05,
        capacity: int | None = None,
        cut_at_exploration: bool = False,
        stall_step_reward: float | None = None,
    ):
        """``cut_at_exploration``: n-step returns stop before the first non-greedy action after the first;
        ``stall_step_reward``: a race that ended in a stall is terminal, the car standing there until its mini-race
        ends with this reward a step (the clock's); None: it bootstraps like any cut-off race (``rl/nstep.py``)."""
        if capacity_max < 2:
            raise ValueError(f"capacity_max must be >= 2 steps (one transition and its next obs), got {capacity_max}")
        if n_steps < 1:
            raise ValueError(f"n_steps must be >= 1, got {n_steps}")
        self.capacity_max, self.image_shape, self.n_floats = capacity_max, tuple(image_shape), n_floats
        self.n_steps, self.prioritized, self.step_s = n_steps, prioritized, step_s
        self.prio_alpha, self.prio_beta, self.prio_epsilon = prio_alpha, prio_beta, prio_epsilon
        self.cut_at_exploration, self.stall_step_reward = cut_at_exploration, stall_step_reward
        self._frames = np.empty((capacity_max, *self.image_shape), np.uint8)
        self._floats = np.empty((capacity_max, n_floats), np.float32)
        self._action = np.empty(capacity_max, np.int64)
        self._reward = np.empty(capacity_max, np.float32)
        self._greedy = np.ones(capacity_max, np.bool_)  # the action stored at the slot was the greedy one
        self._race_id = np.empty(capacity_max, np.int64)
        self._pos = np.empty(capacity_max, np.int32)  # position of the observation in its race
        self._steps_to_end = np.full(capacity_max, _EMPTY, np.int32)  # 0: the race's final obs; > 0: a transition
        self._finished = np.zeros(capacity_max, np.bool_)  # the race ended here with a finish (terminal)
        self._stalled = np.zeros(capacity_max, np.bool_)  # the race ended here, cut off for lack of progress
        self._generation = np.zeros(capacity_max, np.int32)  # times the slot was written: stale keys are ignored
        self._tree = SumTree(capacity_max) if prioritized else None
        self._max_priority = 1.0
        self.capacity = capacity_max
        self._tail = 0  # oldest live slot
        self._head = 0  # next slot written
        self._wrap_at: int | None = None  # when the live slots wrap: they are [tail, wrap_at) then [0, head)
        self.size = 0  # live slots (observations)
        self.n_transitions = 0  # live slots that start a transition
        self.n_races = 0  # races (or chunks) added, also the next race id
        if capacity is not None:
            self.set_capacity(capacity)

    @staticmethod
    def nbytes_for(capacity: int, image_shape: tuple[int, ...], n_floats: int) -> int:
        """Bytes of the arrays of a buffer of ``capacity`` steps (without the sum tree)."""
        per_step = math.prod(image_shape) + 4 * n_floats + 8 + 4 + 1 + 8 + 4 + 4 + 1 + 1 + 4
        return capacity * per_step

    @property
    def nbytes(self) -> int:
        """Bytes reserved by this buffer's arrays (virtual: untouched pages cost no memory)."""
        arrays = (self._frames, self._floats, self._action, self._reward, self._greedy, self._race_id, self._pos)
        flags = (self._steps_to_end, self._finished, self._stalled, self._generation)
        return sum(a.nbytes for a in arrays + flags)

    def __len__(self) -> int:
        """Transitions that can be sampled."""
        return self.n_transitions

    def add_race(
        self,
        frames: np.ndarray,
        floats: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        terminated: bool,
        greedy: np.ndarray | None = None,
        stalled: bool = False,
    ) -> int:
        """Store a race (or a chunk of one): frames (T+1, 1, H, W) uint8, floats (T+1, F), actions (T,), rewards (T,);
        ``greedy`` (T,) bool, whether each action was the greedy one (None: all were).

        ``terminated``: the race ended with a finish after the last action (discount 0 there); False for a race cut
        off (truncated) or a chunk the race goes on after. ``stalled``: it was cut off for lack of progress. Returns
        the transitions stored (T, or fewer when the race is longer than the capacity); a race with no step stores
        nothing.
        """
        T = len(actions)
        if frames.shape != (T + 1, *self.image_shape) or floats.shape != (T + 1, self.n_floats):
            raise ValueError(
                f"a race of {T} actions needs frames {(T + 1, *self.image_shape)} and floats {(T + 1, self.n_floats)}, "
                f"got {frames.shape} and {floats.shape}"
            )
        if rewards.shape != (T,) or frames.dtype != np.uint8:
            raise ValueError(f"rewards must be ({T},) and frames uint8, got {rewards.shape} and {frames.dtype}")
        if greedy is not None and greedy.shape != (T,):
            raise ValueError(f"greedy must be ({T},), got {greedy.shape}")
        if T == 0:
            return 0
        first = max(0, T + 1 - self.capacity)  # a race longer than the capacity keeps its last observations
        length = T + 1 - first
        start = self._make_room(length)
        stop = start + length
        self._frames[start:stop] = frames[first:]
        self._floats[start:stop] = floats[first:]
        self._action[start : stop - 1] = actions[first:]
        self._reward[start : stop - 1] = rewards[first:]
        self._greedy[start : stop - 1] = True if greedy is None else greedy[first:]
        self._action[stop - 1], self._reward[stop - 1] = 0, 0.0  # the final obs has no action
        self._greedy[stop - 1] = True
        self._race_id[start:stop] = self.n_races
        self._pos[start:stop] = np.arange(first, T + 1)
        self._steps_to_end[start:stop] = T - np.arange(first, T + 1)
        self._finished[start:stop] = False
        self._finished[stop - 1] = terminated
        self._stalled[start:stop] = False
        self._stalled[stop - 1] = stalled
        self._generation[start:stop] += 1
        if self._tree is not None:
            self._tree.set_range(start, stop, np.where(self._steps_to_end[start:stop] > 0, self._max_priority, 0.0))
        self.size += length
        self.n_transitions += length - 1
        self.n_races += 1
        self._head = stop
        return length - 1

    def set_capacity(self, capacity: int) -> None:
        """Hold at most ``capacity`` steps from now on; shrinking drops the oldest at once, nothing is moved."""
        if not 2 <= capacity <= self.capacity_max:
            raise ValueError(f"capacity must be in [2, {self.capacity_max}], got {capacity}")
        self.capacity = capacity
        self._drop_oldest(self.size - capacity)

    def empty_batch(self, batch_size: int, *, pinned: bool = False) -> Batch[np.ndarray]:
        """Arrays to pass as ``sample(out=...)``; ``pinned`` puts them in page-locked memory for fast GPU copies."""
        return empty_batch(batch_size, self.image_shape, self.n_floats, pinned=pinned)

    def sample(
        self,
        batch_size: int,
        gamma: float,
        rng: np.random.Generator,
        *,
        mini_race_steps: int | None = None,
        mini_race_oversample: tuple[int, int] = (0, 0),
        out: Batch[np.ndarray] | None = None,
    ) -> Batch[np.ndarray]:
        """Draw ``batch_size`` n-step transitions (uniformly or by priority), with the mini-race horizon if given;
        ``mini_race_oversample`` (L, z) draws the mini-race times as ``nstep.mini_race_times`` says.

        With ``out`` (from ``empty_batch``) the batch is written there and ``out`` returned: reusing arrays saves
        the page faults of fresh multi-megabyte allocations, most of the cost of a batch of 512 at 64×64.
        """
        if self.n_transitions == 0:
            raise ValueError("cannot sample from a replay buffer with no transition")
        if out is None:
            out = self.empty_batch(batch_size)
        elif out.img.shape != (batch_size, *self.image_shape) or out.floats.shape != (batch_size, self.n_floats):
            raise ValueError(f"out holds images {out.img.shape} and floats {out.floats.shape}, not {batch_size} rows")
        if self._tree is None:
            index = self._sample_uniform(batch_size, rng)  # (B,)
            out.weight[:] = 1.0
        else:
            index = self._tree.sample(batch_size, rng)  # (B,)
            probability = self._tree.get(index) / self._tree.total  # (B,)
            weight = (self.n_transitions * probability) ** -self.prio_beta  # (B,)
            out.weight[:] = weight / weight.max()
        steps_to_end = self._steps_to_end[index]  # (B,)
        finished = self._finished[index + steps_to_end]  # (B,) the race's final obs is terminal
        window = np.minimum(index[:, None] + np.arange(self.n_steps), self.capacity_max - 1)  # (B, n)
        time = None  # (B,) mini-race step of each observation
        if mini_race_steps is not None:
            time = mini_race_times(rng, batch_size, mini_race_steps, *mini_race_oversample)
        greedy = self._greedy[window] if self.cut_at_exploration else None  # (B, n)
        stalled = None if self.stall_step_reward is None else self._stalled[index + steps_to_end]  # (B,)
        nstep = nstep_returns(
            self._reward[window],
            steps_to_end,
            finished,
            gamma,
            time,
            mini_race_steps,
            greedy,
            stalled,
            self.stall_step_reward or 0.0,
        )
        next_index = index + nstep.n  # (B,)
        for source, rows, dest in (
            (self._frames, index, out.img),
            (self._floats, index, out.floats),
            (self._action, index, out.action),
            (self._frames, next_index, out.next_img),
            (self._floats, next_index, out.next_floats),
        ):
            np.take(source, rows, axis=0, out=dest, mode="clip")  # "clip": unbuffered; the rows are valid
        if time is not None:
            out.floats[:, MINI_RACE_TIME] = (time * self.step_s)[:, None]
            out.next_floats[:, MINI_RACE_TIME] = ((time + nstep.n) * self.step_s)[:, None]
        out.reward[:], out.discount[:] = nstep.reward, nstep.discount
        out.index[:] = self._generation[index].astype(np.int64) * self.capacity_max + index
        return out

    def update_priorities(self, index: np.ndarray, td_errors: np.ndarray) -> None:
        """Set the priorities of the sampled transitions ``index`` (B,) to (|δ| + ε)^α; no-op for uniform replay.

        Keys of slots written again since they were sampled are ignored.
        """
        if self._tree is None:
            return
        index, td_errors = np.asarray(index, np.int64), np.abs(np.asarray(td_errors, np.float64))
        slot, generation = index % self.capacity_max, index // self.capacity_max
        current = (self._generation[slot] == generation) & (self._steps_to_end[slot] > 0)
        priority = (td_errors[current] + self.prio_epsilon) ** self.prio_alpha
        self._tree.set(slot[current], priority)
        if priority.size:
            self._max_priority = max(self._max_priority, float(priority.max()))

    def race_of(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Race id and position in the race (B,), (B,) of the transitions ``index`` (keys from a batch)."""
        slot = np.asarray(index, np.int64) % self.capacity_max
        return self._race_id[slot], self._pos[slot].astype(np.int64)

    def _live_slot(self, offset: np.ndarray) -> np.ndarray:
        """Slots (B,) of the live offsets (B,) in [0, size), 0 being the oldest."""
        slot = self._tail + offset
        if self._wrap_at is not None:
            slot = np.where(slot < self._wrap_at, slot, slot - self._wrap_at)
        return slot

    def _sample_uniform(self, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """Slots (B,) of transitions drawn uniformly: live slots, rejecting final observations; exact fallback."""
        index = np.empty(batch_size, np.int64)
        got = 0
        for _ in range(4):  # one final observation per race: few draws are rejected
            draws = int((batch_size - got) * 1.25 * self.size / self.n_transitions) + 16
            candidates = self._live_slot(rng.integers(0, self.size, draws))
            candidates = candidates[self._steps_to_end[candidates] > 0][: batch_size - got]
            index[got : got + len(candidates)] = candidates
            got += len(candidates)
            if got == batch_size:
                return index
        index[got:] = rng.choice(np.flatnonzero(self._steps_to_end > 0), batch_size - got)
        return index

    def _make_room(self, length: int) -> int:
        """Drop the oldest slots until ``length`` more fit the capacity and a free run; returns where it starts."""
        self._drop_oldest(self.size + length - self.capacity)
        if self._head + length > self.capacity_max:  # back to slot 0; not wrapped yet, as size ≥ head
            if self.size == 0:
                self._tail = self._head = 0
            else:
                self._wrap_at, self._head = self._head, 0
        if self._wrap_at is not None and self._head + length > self._tail:
            self._drop_oldest(min(self._head + length, self._wrap_at) - self._tail)
        return self._head

    def _drop_oldest(self, n: int) -> None:
        """Drop the ``n`` oldest live slots (none when n ≤ 0)."""
        n = min(n, self.size)
        while n > 0:
            stop = self._head if self._wrap_at is None else self._wrap_at
            k = min(n, stop - self._tail)
            self._clear(self._tail, self._tail + k)
            self._tail, self.size, n = self._tail + k, self.size - k, n - k
            if self._tail == self._wrap_at:
                self._tail, self._wrap_at = 0, None
        if self.size == 0:
            self._tail = self._head = 0
            self._wrap_at = None

    def _clear(self, start: int, stop: int) -> None:
        """Empty the slots [start, stop)."""
        self.n_transitions -= int(np.count_nonzero(self._steps_to_end[start:stop] > 0))
        self._steps_to_end[start:stop] = _EMPTY
        self._finished[start:stop] = False
        self._stalled[start:stop] = False
        if self._tree is not None:
            self._tree.set_range(start, stop, 0.0)


def _test_capacity(capacity: int, ratio: float) -> int:
    """Capacity of the test buffer that goes with a train buffer of ``capacity`` steps."""
    return max(2, math.ceil(capacity * ratio))


class SplitMemory:
    """Routes each race, whole, to the train buffer or (with probability ``ratio``) to the held-out test buffer.

    Races are routed at random rather than every 1/ratio-th, so the test set cannot alias with the map cycle.
    Chunks of one race are routed one by one: each is a contiguous stretch of steps, never single frames.
    """

    def __init__(self, train: ReplayBuffer, test: ReplayBuffer | None, ratio: float, rng: np.random.Generator):
        if not 0 <= ratio < 1:
            raise ValueError(f"test ratio must be in [0, 1), got {ratio}")
        if test is None and ratio > 0:
            raise ValueError(f"a test ratio of {ratio} needs a test buffer")
        self.train, self.test, self.ratio, self.rng = train, test, ratio, rng
        self.races_train = 0
        self.races_test = 0

    @classmethod
    def from_config(
        cls,
        cfg: MemoryConfig,
        image_shape: tuple[int, ...],
        n_floats: int,
        rng: np.random.Generator,
        frames_played: float = 0,
        stall_step_reward: float | None = None,
    ) -> SplitMemory:
        """Train and test buffers sized by ``cfg`` after ``frames_played`` frames (the test one uniform), with
        terminal stalls when ``stall_step_reward`` is given (see ``ReplayBuffer``)."""
        capacity, ratio = cfg.capacity(frames_played), cfg.buffer_test_ratio
        train = ReplayBuffer(
            cfg.capacity_max,
            image_shape,
            n_floats,
            n_steps=cfg.n_steps,
            prioritized=cfg.prioritized,
            prio_alpha=cfg.prio_alpha,
            prio_beta=cfg.prio_beta,
            prio_epsilon=cfg.prio_epsilon,
            step_s=cfg.step_s,
            capacity=capacity,
            cut_at_exploration=cfg.cut_n_step_at_exploration,
            stall_step_reward=stall_step_reward,
        )
        test = None
        if ratio > 0:
            test_max, test_capacity = _test_capacity(cfg.capacity_max, ratio), _test_capacity(capacity, ratio)
            test = ReplayBuffer(
                test_max,
                image_shape,
                n_floats,
                n_steps=cfg.n_steps,
                step_s=cfg.step_s,
                capacity=test_capacity,
                cut_at_exploration=cfg.cut_n_step_at_exploration,
                stall_step_reward=stall_step_reward,
            )
        return cls(train, test, ratio, rng)

    def add_race(
        self,
        frames: np.ndarray,
        floats: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        terminated: bool,
        greedy: np.ndarray | None = None,
        stalled: bool = False,
    ) -> int:
        """Store a race in one of the buffers (see ``ReplayBuffer.add_race``); returns the transitions the train
        buffer received (0 when the race went to the test buffer), for ``ReplayRatio.record_added``."""
        to_test = self.rng.random() < self.ratio  # one draw per race, whatever the outcome
        if to_test and self.test is not None:
            self.races_test += 1
            self.test.add_race(frames, floats, actions, rewards, terminated, greedy, stalled)
            return 0
        self.races_train += 1
        return self.train.add_race(frames, floats, actions, rewards, terminated, greedy, stalled)

    def set_capacity(self, capacity: int) -> None:
        """Resize the train buffer to ``capacity`` steps and the test buffer in proportion."""
        self.train.set_capacity(capacity)
        if self.test is not None:
            self.test.set_capacity(_test_capacity(capacity, self.ratio))


class ReplayRatio:
    """How many transitions the learner may train on, by transitions added (the replay ratio).

    The first ``min_size`` transitions fill the buffer and earn no training, as Linesight's offset and
    SB3's ``learning_starts`` (no burst of ``times_used × min_size`` samples on the first data). After that each
    added transition allows ``times_used`` trained samples. A learner that falls behind slows the collectors
    down: they wait (``collectors_must_wait``) instead of dropping rollouts, so no rollout is lost silently and
    the replay ratio holds whatever the speed of the learner.
    """

    def __init__(self, times_used: float, min_size: int):
        if times_used <= 0 or min_size < 0:
            raise ValueError(f"need times_used > 0 and min_size >= 0, got {times_used} and {min_size}")
        self.times_used, self.min_size = times_used, min_size
        self.added = 0  # transitions added to the train buffer
        self.trained = 0  # transitions trained on (batches × batch size)

    @classmethod
    def from_config(cls, cfg: MemoryConfig) -> ReplayRatio:
        """The accounting ``cfg`` asks for."""
        return cls(cfg.number_times_single_memory_is_used_before_discard, cfg.memory_min_size)

    @property
    def budget(self) -> float:
        """Transitions the learner may have trained on by now."""
        return self.times_used * max(0, self.added - self.min_size)

    def record_added(self, n: int) -> None:
        """Count ``n`` transitions added to the train buffer."""
        self.added += n

    def record_trained(self, batch_size: int) -> None:
        """Count one batch of ``batch_size`` transitions trained on."""
        self.trained += batch_size

    def learner_may_train(self) -> bool:
        """Enough data and the learner is under its budget."""
        return self.added >= self.min_size and self.trained < self.budget

    def collectors_must_wait(self, slack: float) -> bool:
        """The learner is more than ``slack`` transitions behind its budget: collectors should wait, not drop."""
        return self.trained < self.budget - slack
