"""Pictures of a lap for people: an animated GIF of the agent's and the human view, and a top-down map PNG."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from hairpin.config.sim import DriveConfig
from hairpin.sim import state as st
from hairpin.sim.drivers import make_driver
from hairpin.sim.expert import LapResult, drive_lap
from hairpin.sim.race import RaceSim, time_limit_s
from hairpin.sim.track import Track
from hairpin.version import code_version

__all__ = ["plot_map", "record_expert_lap", "side_by_side", "write_gif"]


def side_by_side(human: np.ndarray, agent: np.ndarray) -> np.ndarray:
    """One frame: the human view (S, S, 3) and the agent's grayscale view (1, H, W) scaled up to S × S."""
    size = human.shape[0]
    scale = max(size // agent.shape[-1], 1)
    gray = np.kron(agent[0], np.ones((scale, scale), np.uint8))
    pad = np.zeros((size, size), np.uint8)
    pad[: gray.shape[0], : gray.shape[1]] = gray[:size, :size]
    return np.concatenate([human, np.repeat(pad[:, :, None], 3, axis=2)], axis=1)


def write_gif(frames: list[np.ndarray], path: Path, fps: float) -> None:
    """Write RGB frames (H, W, 3) as an endlessly looping GIF."""
    if not frames:
        raise ValueError(f"no frames to write to {path}")
    images = [Image.fromarray(f).quantize(colors=64, method=Image.Quantize.MEDIANCUT) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0, optimize=False)


def plot_map(track: Track, path_xyz: np.ndarray, speeds: np.ndarray, title: str, out: Path) -> None:
    """Top-down PNG (x right, z up) of the road edges, checkpoints, start, finish and the driven line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    c, t = track.centre, track.tangent
    normal = np.stack([t[:, 1], -t[:, 0]], 1)  # right of the line
    xz = c[:, [0, 2]]
    fig, ax = plt.subplots(figsize=(8, 8), dpi=110)
    ax.fill(
        *np.concatenate([xz + normal * track.width_right[:, None], (xz - normal * track.width_left[:, None])[::-1]]).T,
        color="0.85",
        lw=0,
    )
    for side in (1, -1):
        width = track.width_right if side > 0 else track.width_left
        edge = xz + side * normal * width[:, None]
        ax.plot(edge[:, 0], edge[:, 1], color="0.3", lw=0.8)
    for s in track.checkpoints:
        i = int(s / 0.5)
        a, b = xz[i] - normal[i] * track.width_left[i], xz[i] + normal[i] * track.width_right[i]
        ax.plot([a[0], b[0]], [a[1], b[1]], color="tab:blue", lw=2)
    for i, colour, label in ((0, "tab:green", "start"), (len(xz) - 1, "black", "finish")):
        a, b = xz[i] - normal[i] * track.width_left[i], xz[i] + normal[i] * track.width_right[i]
        ax.plot([a[0], b[0]], [a[1], b[1]], color=colour, lw=3, label=label)
    segments = np.stack([path_xyz[:-1, [0, 2]], path_xyz[1:, [0, 2]]], 1)
    lines = LineCollection(list(segments), cmap="plasma", linewidths=1.6)
    lines.set_array(speeds[1:] * 3.6)
    ax.add_collection(lines)
    fig.colorbar(lines, ax=ax, shrink=0.7, label="speed (km/h)")
    ax.set_aspect("equal")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("z (m)")
    ax.set_title(title)
    ax.legend(loc="best")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def record_expert_lap(
    cfg: DriveConfig, out: Path, *, seed: int = 0, gif_every: int = 2, progress: Console | None = None
) -> dict[str, Any]:
    """Drive one lap of ``cfg.env.map`` by ``cfg.driver``; write ``lap.gif``, ``map.png``, ``lap.json`` into ``out``."""
    sim = RaceSim(cfg.env)
    track = sim.track_of(0)
    expert = make_driver(cfg.driver, track, cfg.env, cfg.expert, cfg.racing_line)  # may compute the racing line
    out.mkdir(parents=True, exist_ok=True)
    frames: list[np.ndarray] = []
    speeds: list[float] = [0.0]
    steps_per_s = 1.0 / (cfg.env.physics.tick_s * cfg.env.physics.ticks_per_step)
    limit_steps = time_limit_s(cfg.env, track) * steps_per_s

    with Progress(
        TextColumn("[bold]driving {task.description}"),
        BarColumn(),
        TextColumn("{task.fields[time]}"),
        console=progress,
        transient=True,
        disable=progress is None,
    ) as bar:
        task = bar.add_task(track.name, total=limit_steps, time="")

        def on_step(s: RaceSim) -> None:
            speeds.append(float(np.hypot(s.state[0, st.VX], s.state[0, st.VZ])))
            if len(speeds) % gif_every == 0:
                frames.append(side_by_side(s.render_rgb(0), s.image[0]))
            bar.update(task, advance=1, time=f"{s.state[0, st.RACE_TICKS] * cfg.env.physics.tick_s:6.2f} s")

        lap: LapResult = drive_lap(sim, expert, seed=seed, on_step=on_step)

    gif, png, summary_path = out / "lap.gif", out / "map.png", out / "lap.json"
    write_gif(frames, gif, fps=steps_per_s / gif_every)
    status = f"{lap.race_time_ms / 1000:.2f} s" if lap.finished else "DNF"
    title = f"{track.name}: {cfg.driver} lap {status} ({track.length_m:.0f} m)"
    plot_map(track, lap.path, np.array(speeds), title, png)
    summary = {
        "map": track.name,
        "length_m": track.length_m,
        "finished": lap.finished,
        "race_time_ms": lap.race_time_ms,
        "seed": seed,
        "driver": cfg.driver,
        "expert_noise": cfg.expert.noise,
        "code_version": code_version(),
        "files": {"gif": str(gif), "map_png": str(png), "summary": str(summary_path)},
    }
    summary_path.write_text(json.dumps(summary, indent=2))
    return summary
