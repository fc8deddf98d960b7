"""The ``hairpin`` command. It loads each config once and hands the parts their sections; nothing imports it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from hairpin.config import ConfigError, dump_config, load_config
from hairpin.config.rl import RLConfig
from hairpin.config.sim import DriveConfig

app = typer.Typer(help="Train racing agents for Trackmania-style games.", no_args_is_help=True, add_completion=False)
sim_app = typer.Typer(help="The built-in racing simulator.", no_args_is_help=True)
app.add_typer(sim_app, name="sim")
console = Console()

ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="YAML config file.", exists=True)]
SetOption = Annotated[
    list[str] | None, typer.Option("--set", help="Override a config value: --set env.image_size=32 (repeatable).")
]


def _load_drive_config(config: Path | None, overrides: list[str] | None) -> DriveConfig:
    try:
        return load_config(DriveConfig, config, overrides or [])
    except ConfigError as err:
        console.print(f"[red]config error:[/red] {err}")
        raise typer.Exit(2) from err


@sim_app.command("config")
def sim_config(config: ConfigOption = None, set_: SetOption = None) -> None:
    """Print the resolved config of ``sim drive`` / ``sim maps``, every key with its documentation."""
    from hairpin.config.describe import documented_yaml

    print(documented_yaml(_load_drive_config(config, set_)))


@sim_app.command("maps")
def sim_maps(config: ConfigOption = None, set_: SetOption = None) -> None:
    """List the built-in maps with their length and the expert's lap time."""
    from hairpin.sim.expert import reference_lap
    from hairpin.sim.maps import BUILTIN_MAPS, load_map

    cfg = _load_drive_config(config, set_)
    table = Table(title="built-in maps")
    for column in ("map", "length", "turns", "expert lap", "description"):
        table.add_column(column)
    for name, spec in BUILTIN_MAPS.items():
        track = load_map(name)
        lap = reference_lap(track, cfg.env, cfg.expert)
        time = f"{lap.race_time_ms / 1000:.2f} s" if lap.finished else "DNF"
        table.add_row(
            name,
            f"{track.length_m:.0f} m",
            str(spec.blocks.count("L") + spec.blocks.count("R")),
            time,
            spec.description,
        )
    console.print(table)


@sim_app.command("drive")
def sim_drive(
    map_: Annotated[str, typer.Argument(metavar="MAP", help="A built-in map's name or a reference-line .npy file.")],
    out: Annotated[Path, typer.Option(help="Directory for the lap's GIF, map PNG and summary.")] = Path("out/drive"),
    seed: Annotated[int, typer.Option(help="Seed of the race (start noise, expert noise).")] = 0,
    noise: Annotated[float | None, typer.Option(help="Expert noise in [0, 1] (overrides expert.noise).")] = None,
    gif_every: Annotated[int, typer.Option(min=1, help="Keep one frame every this many steps in the GIF.")] = 2,
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Drive an expert lap and write what the agent and a person see, and the driven line on the map."""
    from hairpin.sim.lap_media import record_expert_lap

    overrides = [*(set_ or []), f"env.map={map_}"] + ([f"expert.noise={noise}"] if noise is not None else [])
    cfg = _load_drive_config(config, overrides)
    try:
        summary = record_expert_lap(cfg, out, seed=seed, gif_every=gif_every, progress=console)
    except ValueError as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from err
    (out / "config.yaml").write_text(dump_config(cfg))  # the resolved config, beside what it produced
    status = f"finished in {summary['race_time_ms'] / 1000:.2f} s" if summary["finished"] else "did not finish"
    console.print(f"expert lap on [bold]{summary['map']}[/bold] ({summary['length_m']:.0f} m): {status}")
    for key in ("gif", "map_png", "summary"):
        console.print(f"  {key:8s} {summary['files'][key]}")


@sim_app.command("generate")
def sim_generate(
    seed: Annotated[int, typer.Option(help="Seed of the generator.")],
    out: Annotated[Path, typer.Option(help="Reference-line file to write (.npy).")],
    blocks: Annotated[int, typer.Option(min=3, help="Number of blocks.")] = 20,
) -> None:
    """Generate a new map from blocks on a 32 m grid and write its reference line."""
    from hairpin.sim.generator import blocks_to_line, generate_blocks

    codes = generate_blocks(seed, blocks)
    line = blocks_to_line(codes)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, line)
    length = (len(line) - 1) * 0.5
    console.print(f"wrote {out}: {len(line)} points, {length:.0f} m; blocks: {' '.join(codes)}")
    console.print(json.dumps({"seed": seed, "blocks": codes, "length_m": length}))


@app.command("train")
def train(
    config: Annotated[Path, typer.Argument(help="RL config YAML (e.g. configs/rl/cpu.yaml).", exists=True)],
    set_: SetOption = None,
    init_from: Annotated[
        Path | None, typer.Option(help="Start from these weights: a run directory, a checkpoint folder or a .pt file.")
    ] = None,
    reset_schedules: Annotated[bool, typer.Option(help="With --init-from: start the schedules from frame 0.")] = False,
    print_config: Annotated[
        bool, typer.Option(help="Print the resolved config, every key documented, and exit.")
    ] = False,
) -> None:
    """Train an IQN agent; running the same run again resumes it. Ctrl-C saves a checkpoint and exits."""
    from rich.live import Live

    from hairpin.rl.display import status_view
    from hairpin.rl.trainer import Trainer

    try:
        cfg = load_config(RLConfig, config, set_ or [])
    except ConfigError as err:
        console.print(f"[red]config error:[/red] {err}")
        raise typer.Exit(2) from err
    if print_config:
        from hairpin.config.describe import documented_yaml

        print(documented_yaml(cfg))
        return
    expert_ms = _expert_times(cfg)
    trainer = Trainer(cfg, init_from=init_from, reset_schedules=reset_schedules)
    console.print(
        f"run [bold]{cfg.run_name}[/bold]: {trainer.run_dir} · TensorBoard: {cfg.paths.tensorboard}/"
        f"{cfg.run_name}* · device {trainer.device}"
    )
    with Live(status_view(cfg.run_name, trainer.status, expert_ms), console=console, refresh_per_second=2) as live:
        status = trainer.run(on_status=lambda s: live.update(status_view(cfg.run_name, s, expert_ms)))
    if not console.is_terminal:
        console.line()  # a Live display written to a file or pipe ends without a newline
    console.print(f"stopped: {status.stop_reason}")
    _write_best_gifs(cfg, trainer.run_dir)
    console.print(f"  run.json, checkpoints: {trainer.run_dir}")
    console.print(f"  TensorBoard:          tensorboard --logdir {cfg.paths.tensorboard}")
    if status.stop_reason and status.stop_reason.startswith("non-finite"):
        raise typer.Exit(1)


def _expert_times(cfg: RLConfig) -> dict[str, int]:
    from hairpin.sim.expert import reference_lap
    from hairpin.sim.maps import load_map

    times = {}
    for entry in cfg.map_cycle.entries:
        lap = reference_lap(load_map(entry.map, half_width=cfg.env.road_half_width_m), cfg.env)
        if lap.finished:
            times[entry.short_name] = lap.race_time_ms
    return times


def _write_best_gifs(cfg: RLConfig, run_dir: Path) -> None:
    from hairpin.rl.checkpoint import read_best_race
    from hairpin.rl.evaluate import replay_gif

    for entry in {e.short_name: e for e in cfg.map_cycle.entries}.values():
        best = read_best_race(run_dir, entry.short_name)
        if best is None:
            continue
        gif = run_dir / "best" / entry.short_name / "lap.gif"
        replay_gif(cfg.env, entry.map, np.array(best["actions"]), gif)
        console.print(f"  best lap on {entry.short_name}: {best['race_time_ms'] / 1000:.2f} s → {gif}")


@app.command("eval")
def evaluate(
    run: Annotated[str, typer.Argument(help="Run name (under --runs) or run directory.")],
    map_: Annotated[str, typer.Option("--map", help="Map-cycle short name, built-in map or .npy file.")],
    races: Annotated[int, typer.Option(min=1, help="Greedy races to drive.")] = 1,
    gif: Annotated[Path | None, typer.Option(help="Write the first race as a GIF here.")] = None,
    runs: Annotated[Path, typer.Option(help="Directory holding the runs.")] = Path("runs"),
) -> None:
    """Race a run's latest checkpoint greedily and print the race times."""
    from hairpin.rl.checkpoint import CheckpointError
    from hairpin.rl.evaluate import load_run, race_greedy, resolve_map
    from hairpin.rl.run_manifest import RunManifestError
    from hairpin.sim.lap_media import write_gif

    try:
        cfg, net = load_run(run, runs)
        frames: list[np.ndarray] | None = [] if gif else None
        results = race_greedy(net, cfg.env, resolve_map(cfg, map_), races, frames=frames)
    except (CheckpointError, RunManifestError, ValueError) as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from err
    for i, r in enumerate(results):
        console.print(f"race {i}: {'finished' if r.finished else 'DNF'} {r.race_time_ms / 1000:.2f} s")
    finished = [r.race_time_ms for r in results if r.finished]
    console.print(
        f"finished {len(finished)}/{len(results)}" + (f", best {min(finished) / 1000:.2f} s" if finished else "")
    )
    if gif and frames:
        write_gif(frames[::2], gif, fps=10)
        console.print(f"GIF: {gif}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
