"""The ``hairpin`` command. It loads each config once and hands the parts their sections; nothing imports it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from hairpin.cli_errors import DEBUG_ENV, DEBUG_META, HairpinGroup, print_failure
from hairpin.config import dump_config, load_config
from hairpin.config.rl import RLConfig
from hairpin.config.sim import DriveConfig

if TYPE_CHECKING:
    from hairpin.data.maps import DemoMap

app = typer.Typer(
    cls=HairpinGroup,
    help="Train racing agents for Trackmania-style games.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
sim_app = typer.Typer(help="The built-in racing simulator.", no_args_is_help=True)
app.add_typer(sim_app, name="sim")
console = Console()


@app.callback()
def _options(
    ctx: typer.Context,
    debug: Annotated[
        bool, typer.Option("--debug", help=f"Show the traceback of a failure (or set {DEBUG_ENV}=1).")
    ] = False,
) -> None:
    """Train racing agents for Trackmania-style games."""
    ctx.meta[DEBUG_META] = debug


ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="YAML config file.", exists=True)]
SetOption = Annotated[
    list[str] | None, typer.Option("--set", help="Override a config value: --set env.image_size=32 (repeatable).")
]


DriverOption = Annotated[
    str | None,
    typer.Option(
        help="Who drives: expert (the centre line, steady) or line (the racing line, the map's limit); "
        "overrides the config's driver."
    ),
]


def format_lap(ms: int | None) -> str:
    return "DNF" if ms is None else f"{ms / 1000:.2f} s"


def _load_drive_config(config: Path | None, overrides: list[str] | None) -> DriveConfig:
    return load_config(DriveConfig, config, overrides or [])


@sim_app.command("config")
def sim_config(config: ConfigOption = None, set_: SetOption = None) -> None:
    """Print the resolved config of ``sim drive`` / ``sim maps``, every key with its documentation."""
    from hairpin.config.describe import documented_yaml

    print(documented_yaml(_load_drive_config(config, set_)))


@sim_app.command("maps")
def sim_maps(config: ConfigOption = None, set_: SetOption = None) -> None:
    """List the built-in maps with their length, the expert's lap and the limit (the racing line's lap)."""
    from hairpin.sim.expert import reference_lap
    from hairpin.sim.maps import BUILTIN_MAPS, load_map
    from hairpin.sim.racing_line import racing_line

    cfg = _load_drive_config(config, set_)
    table = Table(title="built-in maps")
    for column in ("map", "length", "turns", "expert lap", "limit", "description"):
        table.add_column(column)
    for name, spec in BUILTIN_MAPS.items():
        track = load_map(name, half_width=cfg.env.road_half_width_m)
        lap = reference_lap(track, cfg.env, cfg.expert)
        line = racing_line(track, cfg.env, cfg.racing_line, cfg.expert)
        table.add_row(
            name,
            f"{track.length_m:.0f} m",
            str(spec.blocks.count("L") + spec.blocks.count("R")),
            format_lap(lap.race_time_ms if lap.finished else None),
            format_lap(line.lap_ms),
            spec.description,
        )
    console.print(table)
    console.print("limit: the racing line's lap, the best known lap of each map (hairpin.sim.racing_line)")


@sim_app.command("drive")
def sim_drive(
    map_: Annotated[str, typer.Argument(metavar="MAP", help="A built-in map's name or a reference-line .npy file.")],
    out: Annotated[Path, typer.Option(help="Directory for the lap's GIF, map PNG and summary.")] = Path("out/drive"),
    seed: Annotated[int, typer.Option(help="Seed of the race (start noise, expert noise).")] = 0,
    noise: Annotated[float | None, typer.Option(help="Expert noise in [0, 1] (overrides expert.noise).")] = None,
    driver: DriverOption = None,
    gif_every: Annotated[int, typer.Option(min=1, help="Keep one frame every this many steps in the GIF.")] = 2,
    overwrite: Annotated[bool, typer.Option(help="Replace the files of an earlier lap in --out.")] = False,
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Drive a lap (the expert's or the racing line's) and write what the agent and a person see, and the driven line
    on the map."""
    from hairpin.outputs import check_writable_outputs
    from hairpin.sim.lap_media import record_expert_lap

    overrides = [*(set_ or []), f"env.map={map_}"] + ([f"expert.noise={noise}"] if noise is not None else [])
    overrides += [f"driver={driver}"] if driver is not None else []
    cfg = _load_drive_config(config, overrides)
    check_writable_outputs(out, ("lap.gif", "map.png", "lap.json", "config.yaml"), overwrite)
    created = not out.exists()
    try:
        summary = record_expert_lap(cfg, out, seed=seed, gif_every=gif_every, progress=console)
    except BaseException:
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # a lap that failed before writing anything (a bad map) leaves no empty folder
        raise
    (out / "config.yaml").write_text(dump_config(cfg))  # the resolved config, beside what it produced
    status = f"finished in {summary['race_time_ms'] / 1000:.2f} s" if summary["finished"] else "did not finish"
    console.print(f"{cfg.driver} lap on [bold]{summary['map']}[/bold] ({summary['length_m']:.0f} m): {status}")
    for key in ("gif", "map_png", "summary"):
        console.print(f"  {key:8s} {summary['files'][key]}")


@sim_app.command("generate")
def sim_generate(
    seed: Annotated[int, typer.Option(help="Seed of the generator.")],
    out: Annotated[Path, typer.Option(help="Reference-line file to write (.npy).")],
    blocks: Annotated[int, typer.Option(min=3, help="Number of blocks.")] = 20,
    overwrite: Annotated[bool, typer.Option(help="Replace --out if it exists.")] = False,
) -> None:
    """Generate a new map from blocks on a 32 m grid and write its reference line (.npy added when --out has none)."""
    import io

    from hairpin.atomic import atomic_write_bytes
    from hairpin.outputs import check_writable_output, output_with_suffix
    from hairpin.sim.generator import blocks_to_line, generate_blocks
    from hairpin.sim.refline import line_length_m

    out = check_writable_output(output_with_suffix(out, ".npy"), overwrite)
    codes = generate_blocks(seed, blocks)
    line = blocks_to_line(codes)
    buffer = io.BytesIO()
    np.save(buffer, line, allow_pickle=False)
    atomic_write_bytes(out, buffer.getvalue())  # the exact path reported below, never half written
    length = line_length_m(line)
    console.print(f"wrote {out}: {len(line)} points, {length:.0f} m; blocks: {' '.join(codes)}")
    console.print(json.dumps({"seed": seed, "blocks": codes, "length_m": length, "path": str(out)}))


@sim_app.command("serve")
def sim_serve(
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on; 0 picks a free one.")] = 8478,
    map_: Annotated[
        str | None, typer.Option("--map", help="A built-in map's name or a reference-line .npy file (env.map).")
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    fault: Annotated[
        str | None,
        typer.Option(
            help="Inject one failure: KIND or KIND@N, armed after N run steps (kinds: hairpin.game.emulator_faults)."
        ),
    ] = None,
    parent_pid: Annotated[
        int | None, typer.Option(help="Stop when this process is gone (a training run passes its own).")
    ] = None,
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Serve the TMInterface 2 protocol of the Python_Link plugin over the simulator (an emulated game) until Ctrl-C."""
    from contextlib import suppress

    from hairpin.game.emulator import Emulator, FaultPlan

    try:
        faults = FaultPlan.parse(fault) if fault else None
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--fault") from err
    cfg = _load_drive_config(config, [*(set_ or []), *([f"env.map={map_}"] if map_ else [])])
    emulator = Emulator(cfg.env, port=port, host=host, faults=faults)
    emulator.listen()
    if parent_pid is not None:
        from hairpin.processes import stop_when_gone

        stop_when_gone(parent_pid, emulator.stop)
    print(f"emulated TMInterface 2 listening on {host}:{emulator.port} (map {cfg.env.map})", flush=True)
    with suppress(KeyboardInterrupt):  # Ctrl-C is the way to stop it
        emulator.serve_forever()


@app.command("train")
def train(
    config: Annotated[Path, typer.Argument(help="RL config YAML (e.g. configs/rl/cpu.yaml).", exists=True)],
    set_: SetOption = None,
    init_from: Annotated[
        Path | None, typer.Option(help="Start from these weights: a run directory, a checkpoint folder or a .pt file.")
    ] = None,
    reset_schedules: Annotated[bool, typer.Option(help="With --init-from: start the schedules from frame 0.")] = False,
    allow_config_change: Annotated[
        bool, typer.Option(help="Resume a run whose config differs from the one it started with (both recorded).")
    ] = False,
    print_config: Annotated[
        bool, typer.Option(help="Print the resolved config, every key documented, and exit.")
    ] = False,
) -> None:
    """Train an IQN agent; running the same run again resumes it. Ctrl-C saves a checkpoint and exits."""
    from rich.live import Live

    from hairpin.rl.display import status_view
    from hairpin.rl.trainer import Trainer, check_start_options

    cfg = load_config(RLConfig, config, set_ or [])
    if print_config:
        from hairpin.config.describe import documented_yaml

        print(documented_yaml(cfg))
        return
    check_start_options(Path(cfg.paths.runs) / cfg.run_name, init_from, reset_schedules)
    expert_ms = _expert_times(cfg)
    trainer = Trainer(
        cfg, init_from=init_from, reset_schedules=reset_schedules, allow_config_change=allow_config_change
    )
    console.print(
        f"run [bold]{cfg.run_name}[/bold]: {trainer.run_dir} · TensorBoard: {cfg.paths.tensorboard}/"
        f"{cfg.run_name}* · device {trainer.device}"
    )
    for event in trainer.status.events:
        console.print(f"[yellow]note:[/yellow] {event}")
    try:
        with Live(status_view(cfg.run_name, trainer.status, expert_ms), console=console, refresh_per_second=2) as live:
            status = trainer.run(on_status=lambda s: live.update(status_view(cfg.run_name, s, expert_ms)))
    finally:
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
    from hairpin.rl.evaluate import replay_gif
    from hairpin.runfiles.best import read_best_race

    for entry in {e.short_name: e for e in cfg.map_cycle.entries}.values():
        best = read_best_race(run_dir, entry.short_name)
        if best is None:
            continue
        gif = run_dir / "best" / entry.short_name / "lap.gif"
        replay_gif(cfg.env, entry.map, np.array(best["actions"]), gif)
        console.print(f"  best lap on {entry.short_name}: {best['race_time_ms'] / 1000:.2f} s → {gif}")


pretrain_app = typer.Typer(
    help="Pretraining: visual encoders and behavioural cloning on demonstrations.", no_args_is_help=True
)
app.add_typer(pretrain_app, name="pretrain")


def _run_pretrain(stage: str, config: Path, overrides: list[str] | None, print_config: bool) -> None:
    """Load a vis or bc config, train, export (hairpin's own errors exit with code 2, through HairpinGroup)."""
    from hairpin.config.describe import documented_yaml
    from hairpin.config.pretrain import BCConfig, VisConfigPretrain

    model: type[VisConfigPretrain] | type[BCConfig] = VisConfigPretrain if stage == "vis" else BCConfig
    cfg = load_config(model, config, overrides or [])
    if print_config:
        print(documented_yaml(cfg))
        return
    if isinstance(cfg, VisConfigPretrain):
        from hairpin.pretrain.vis import run_vis

        manifest = run_vis(cfg, console=console)
    else:
        from hairpin.pretrain.bc import run_bc

        manifest = run_bc(cfg, console=console)
    out = Path(cfg.paths.runs) / cfg.run_name
    files = ", ".join(f["file"] for f in manifest["files"].values())
    console.print(f"best epoch {manifest['best_epoch']}: {files} + manifest.json in {out}")


PrintConfigOption = Annotated[bool, typer.Option(help="Print the resolved config, every key documented, and exit.")]


@pretrain_app.command("vis")
def pretrain_vis(
    config: Annotated[Path, typer.Argument(help="Visual pretraining YAML (configs/pretrain/vis/).", exists=True)],
    set_: SetOption = None,
    print_config: PrintConfigOption = False,
) -> None:
    """Train the image encoder (ae, vae or simclr) on demonstration frames and export encoder.pt."""
    _run_pretrain("vis", config, set_, print_config)


@pretrain_app.command("bc")
def pretrain_bc(
    config: Annotated[Path, typer.Argument(help="Behavioural cloning YAML (configs/pretrain/bc/).", exists=True)],
    set_: SetOption = None,
    print_config: PrintConfigOption = False,
) -> None:
    """Behavioural cloning on demonstrations; exports the encoder, heads or whole IQN network for RL."""
    _run_pretrain("bc", config, set_, print_config)


@app.command("eval")
def evaluate(
    run: Annotated[str, typer.Argument(help="Run name (under --runs) or run directory.")],
    map_: Annotated[str, typer.Option("--map", help="Map-cycle short name, built-in map or .npy file.")],
    races: Annotated[int, typer.Option(min=1, help="Greedy races to drive.")] = 1,
    gif: Annotated[
        Path | None, typer.Option(help="Write the first race as a GIF here (.gif added when it has none).")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace the --gif file if it exists.")] = False,
    runs: Annotated[Path, typer.Option(help="Directory holding the runs.")] = Path("runs"),
    start_speed: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=90.0,
            help="Start on the start line already rolling at this speed (m/s), to tell a policy that cannot pull "
            "away from a standing start from one that cannot drive.",
        ),
    ] = 0.0,
) -> None:
    """Race a run's latest checkpoint greedily and print the race times."""
    from collections import Counter

    from hairpin.actions import ACTION_NAMES
    from hairpin.outputs import check_writable_output, output_with_suffix
    from hairpin.rl.evaluate import load_run, race_greedy, resolve_map
    from hairpin.rl.limits import map_limit, ratio_to_limit
    from hairpin.sim.lap_media import write_gif

    if gif is not None:  # refused before any racing, so nothing is lost but the command
        gif = check_writable_output(output_with_suffix(gif, ".gif"), overwrite)
    cfg, net = load_run(run, runs)
    limit = map_limit(cfg, map_)
    frames: list[np.ndarray] | None = [] if gif else None
    results = race_greedy(net, cfg.env, resolve_map(cfg, map_), races, frames=frames, start_speed=start_speed)

    def lap(ms: int) -> str:
        ratio = ratio_to_limit(ms, limit)
        return f"{ms / 1000:.2f} s" + (f" ({ratio:.3f}× the limit)" if ratio is not None else "")

    for i, r in enumerate(results):
        if r.finished:
            console.print(f"race {i}: finished {lap(r.race_time_ms)}")
            continue
        held = Counter(ACTION_NAMES[a] for a in r.actions.tolist()).most_common(2)  # a car that never moves holds one
        console.print(
            f"race {i}: DNF at {r.race_time_ms / 1000:.2f} s, after {r.progress:.1%} of the lap; held most: "
            + ", ".join(f"{action} ×{n}" for action, n in held)
        )
    finished = [r.race_time_ms for r in results if r.finished]
    console.print(f"finished {len(finished)}/{len(results)}" + (f", best {lap(min(finished))}" if finished else ""))
    console.print(f"limit of {map_}: " + (format_lap(limit) if limit is not None else "none (the racing line DNF)"))
    if gif and frames:
        gif.parent.mkdir(parents=True, exist_ok=True)
        write_gif(frames[::2], gif, fps=10)
        console.print(f"GIF: {gif}")


@app.command("gap")
def lap_gap_command(
    runs: Annotated[list[str], typer.Argument(help="Run names (under --runs) or run directories.")],
    map_: Annotated[str | None, typer.Option("--map", help="Only this map-cycle short name.")] = None,
    every: Annotated[float, typer.Option(min=1.0, help="Section length in metres.")] = 25.0,
    top: Annotated[int, typer.Option(min=0, help="Show the sections that lose most (0: every section).")] = 5,
    format_: Annotated[str, typer.Option("--format", help="text | json.")] = "text",
    runs_dir: Annotated[Path, typer.Option("--runs", help="Directory holding the runs.")] = Path("runs"),
) -> None:
    """Where each run's best lap loses time to the map's limit: both laps driven again, compared section by section."""
    from hairpin.analysis.errors import AnalysisError
    from hairpin.analysis.lap_gap import best_lap_gaps

    if format_ not in ("text", "json"):
        raise AnalysisError(f"--format must be text or json, not {format_!r}")
    folders = [Path(r) if Path(r).is_dir() else runs_dir / r for r in runs]
    missing = [str(f) for f in folders if not (f / "run.json").is_file()]
    if missing:
        raise AnalysisError(f"not a run folder (no run.json): {', '.join(missing)}")
    gaps = best_lap_gaps(folders, every, map_)
    if not gaps:
        raise AnalysisError("no best race" + (f" on {map_!r}" if map_ else "") + f" in {', '.join(map(str, folders))}")
    if format_ == "json":
        print(json.dumps([{"run": str(run), **gap.to_json()} for run, gap in gaps]))
        return
    for run, gap in gaps:
        status = "" if gap.finished else " (did not finish when driven again)"
        console.print(
            f"[bold]{run.name}[/bold] on {gap.map}: best lap {gap.lap_ms / 1000:.2f} s{status}, "
            f"limit {gap.limit_ms / 1000:.2f} s ({gap.ratio:.3f}×, {(gap.lap_ms - gap.limit_ms) / 1000:+.2f} s)"
        )
        shown = sorted(gap.worst(top), key=lambda s: s.metres) if top else gap.sections
        table = Table(title=f"{'the ' + str(top) + ' sections that lose most' if top else 'every section'}")
        for column in ("section to", "limit there", "gap there", "lost in it", "limit km/h", "lap km/h"):
            table.add_column(column, justify="right")
        for s in shown:
            table.add_row(
                f"{s.metres:.0f} m",
                f"{s.limit_s:.2f} s",
                f"{s.gap_s:+.2f} s",
                f"{s.gained_s:+.2f} s",
                f"{s.limit_speed * 3.6:.0f}",
                f"{s.lap_speed * 3.6:.0f}",
            )
        console.print(table)


demos_app = typer.Typer(
    help="Demonstration datasets (Minari format): record expert episodes or input scripts, export RL best races, "
    "write a lap as an input script, inspect.",
    no_args_is_help=True,
)
app.add_typer(demos_app, name="demos")
DatasetRootOption = Annotated[Path, typer.Option("--root", help="Directory holding the datasets.")]


def _dataset_error(err: Exception) -> typer.Exit:
    from hairpin.cli_errors import describe_failure

    print_failure(describe_failure(err) or str(err))  # stderr, one line, paths not read as markup
    return typer.Exit(2)


SCRIPT_IGNORES = ("episodes", "noise", "driver", "seed", "cars")
"""``demos record`` options that a replayed input script has no use for."""


def _typed(ctx: typer.Context, name: str) -> bool:
    """Whether option ``name`` was given on the command line (not left at its default)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"  # typer may carry its own copy of click's enum


@demos_app.command("record")
def demos_record(
    ctx: typer.Context,
    out: Annotated[str, typer.Option(help="Dataset name (letters, digits, '-', '_'); written to ROOT/NAME.")],
    maps: Annotated[str, typer.Option(help="Comma-separated built-in maps and/or .npy reference lines.")] = "",
    episodes: Annotated[int, typer.Option(min=1, help="Episodes per map.")] = 10,
    noise: Annotated[float | None, typer.Option(help="Expert noise in [0, 1] (overrides expert.noise).")] = None,
    driver: DriverOption = None,
    generated: Annotated[int, typer.Option(min=0, help="Add this many maps from the block generator.")] = 0,
    generator_seed: Annotated[int, typer.Option(help="Seed of the first generated map (gen-<seed>).")] = 0,
    generated_blocks: Annotated[int, typer.Option(min=3, help="Blocks per generated map.")] = 20,
    image_size: Annotated[int | None, typer.Option(help="Image size (overrides env.image_size).")] = None,
    capture_every_steps: Annotated[int, typer.Option(min=1, help="Keep a frame every this many 50 ms steps.")] = 1,
    seed: Annotated[int, typer.Option(help="Seed of the recording; episode j uses seed × 10⁶ + j.")] = 0,
    cars: Annotated[int, typer.Option(min=1, help="Cars driven at once.")] = 8,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing dataset of this name.")] = False,
    input_script: Annotated[
        list[Path] | None,
        typer.Option(
            "--input-script",
            help="Replay this TMInterface input script instead of driving (repeatable): one episode per script, on "
            "the one map given, or on the maps in the scripts' order; --episodes, --noise, --driver, --seed and "
            "--cars do not apply and are refused.",
        ),
    ] = None,
    root: DatasetRootOption = Path("datasets"),
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Record episodes of the expert or the racing line in the simulator into a dataset, or replay input scripts
    (config: the ``sim drive`` YAML: driver, env, expert, racing_line)."""
    from hairpin.data.maps import resolve_maps
    from hairpin.data.record import write_expert_dataset

    given = [f"--{name}" for name in SCRIPT_IGNORES if _typed(ctx, name)]
    if input_script and given:
        print_failure(f"{', '.join(given)}: no use with --input-script (the scripts say how each lap is driven)")
        raise typer.Exit(2)
    overrides = [*(set_ or [])] + ([f"expert.noise={noise}"] if noise is not None else [])
    overrides += [f"driver={driver}"] if driver is not None else []
    cfg = _load_drive_config(config, overrides + ([f"env.image_size={image_size}"] if image_size else []))
    try:
        demo_maps = resolve_maps(
            [m.strip() for m in maps.split(",") if m.strip()],
            generated=generated,
            generator_seed=generator_seed,
            generated_blocks=generated_blocks,
            half_width=cfg.env.road_half_width_m,
        )
        if input_script:
            map_names = [m.strip() for m in maps.split(",") if m.strip()]
            _record_scripts(cfg, demo_maps, map_names, input_script, out, root, capture_every_steps, overwrite)
            return
        meta = write_expert_dataset(
            cfg,
            demo_maps,
            root=root,
            name=out,
            episodes_per_map=episodes,
            seed=seed,
            capture_every_steps=capture_every_steps,
            n_cars=cars,
            overwrite=overwrite,
            console=console,
        )
    except ValueError as err:
        raise _dataset_error(err) from err
    finished = sum(e.finished for e in meta.episodes)
    console.print(
        f"wrote {meta.directory}: {len(meta.episodes)} episodes ({finished} finished), {meta.n_frames} frames, "
        f"{meta.recording['frames_per_s']:,.0f} frames/s; Minari id {meta.dataset_id}"
    )


def _record_scripts(
    cfg: DriveConfig,
    demo_maps: list[DemoMap],
    map_names: list[str],
    scripts: list[Path],
    out: str,
    root: Path,
    capture_every_steps: int,
    overwrite: bool,
) -> None:
    """``demos record --input-script``: each script replayed on its map into dataset ``out``."""
    from hairpin.data.input_script import InputScriptError
    from hairpin.data.script_replay import write_script_dataset

    if len(demo_maps) not in (1, len(scripts)):
        names = ", ".join(m.name for m in demo_maps)
        raise InputScriptError(
            f"{len(scripts)} input script(s) for {len(demo_maps)} maps ({names}): give one map for all of them, or "
            "one per script in the same order"
        )
    script_maps = demo_maps * len(scripts) if len(demo_maps) == 1 else demo_maps
    if cfg.env.backend == "game" and len(map_names) != len(demo_maps):
        raise InputScriptError("to record scripts in the game, name their maps with --maps (not --generated)")
    game_maps = map_names * len(scripts) if len(map_names) == 1 else map_names
    meta = write_script_dataset(
        cfg.env,
        list(zip(scripts, script_maps, strict=True)),
        root=root,
        name=out,
        capture_every_steps=capture_every_steps,
        overwrite=overwrite,
        console=console,
        game=cfg.game,
        game_maps=game_maps,
    )
    for replay in meta.recording["replays"]:
        lap = format_lap(replay["race_time_ms"] if replay["finished"] else None)
        console.print(f"{replay['script']} on {replay['map']}: {lap}", markup=False, highlight=False)
    console.print(f"wrote {meta.directory}: {len(meta.episodes)} episodes, {meta.n_frames} frames")


@demos_app.command("script")
def demos_script(
    map_: Annotated[str, typer.Argument(metavar="MAP", help="A built-in map's name or a reference-line .npy file.")],
    out: Annotated[Path, typer.Option(help="The TMInterface input script to write.")],
    driver: DriverOption = None,
    noise: Annotated[float | None, typer.Option(help="Expert noise in [0, 1] (overrides expert.noise).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the lap's driving style and mistakes (when noise > 0).")] = 0,
    overwrite: Annotated[bool, typer.Option(help="Replace --out if it exists.")] = False,
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Drive a lap (the expert's or the racing line's, no start noise) and write its inputs as a TMInterface input
    script, which ``demos record --input-script`` (or TMInterface) replays."""
    from hairpin.atomic import atomic_write_text
    from hairpin.data.maps import resolve_maps
    from hairpin.data.script_replay import lap_script
    from hairpin.outputs import check_writable_output

    overrides = [*(set_ or [])] + ([f"expert.noise={noise}"] if noise is not None else [])
    cfg = _load_drive_config(config, overrides + ([f"driver={driver}"] if driver is not None else []))
    check_writable_output(out, overwrite)
    (demo_map,) = resolve_maps([map_], half_width=cfg.env.road_half_width_m)
    text, episode = lap_script(cfg, demo_map, seed=seed)
    atomic_write_text(out, text)
    lap = format_lap(episode.final_race_time_ms if episode.terminated else None)
    console.print(f"wrote {out}: {cfg.driver} lap on {demo_map.name}, {lap}, {len(text.splitlines())} lines")


@demos_app.command("info")
def demos_info(
    name: Annotated[str, typer.Argument(help="Dataset name (under --root) or directory.")],
    root: DatasetRootOption = Path("datasets"),
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Check every file's size and SHA-256 against hairpin.json: exit code 2 naming a damaged file "
            "(datasets written before checksums are reported as not verifiable, exit code 0).",
        ),
    ] = False,
) -> None:
    """Print a dataset's episodes, frames and finishes per map, image size, floats and action histogram."""
    from hairpin.data.integrity import verify_files
    from hairpin.data.store import load_actions, read_meta
    from hairpin.data.summary import summarise, summary_view

    try:
        meta = read_meta(name, root)
        verified = verify_files(meta) if verify else None
        view = summary_view(summarise(meta, load_actions(meta, verify=False)))
    except ValueError as err:
        raise _dataset_error(err) from err
    console.print(view)
    if verify and verified is None:
        console.print(
            f"[yellow]warning:[/yellow] {meta.name} cannot be verified: it was written before hairpin recorded "
            "checksums (record it again to add them)"
        )
    elif verify:
        console.print(f"verified: OK, {len(verified or [])} files match their sizes and SHA-256 checksums")


@demos_app.command("export-best")
def demos_export_best(
    runs: Annotated[
        list[Path], typer.Argument(metavar="RUN_DIR", help="RL run directories (holding run.json and best/).")
    ],
    out: Annotated[str, typer.Option(help="Dataset name; written to ROOT/NAME.")],
    capture_every_steps: Annotated[int, typer.Option(min=1, help="Keep a frame every this many 50 ms steps.")] = 1,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing dataset of this name.")] = False,
    root: DatasetRootOption = Path("datasets"),
) -> None:
    """Replay the best race of each map of RL runs in the simulator into a dataset (source rl-best)."""
    from hairpin.data.replay import export_best

    try:
        meta, checks = export_best(
            runs, root=root, name=out, capture_every_steps=capture_every_steps, overwrite=overwrite, console=console
        )
    except ValueError as err:
        raise _dataset_error(err) from err
    for c in checks:
        line = f"{c.run} {c.map}: stored {c.stored_ms / 1000:.2f} s, replayed {c.replayed_ms / 1000:.2f} s"
        if c.matches:
            console.print(line)
        else:
            console.print(f"[yellow]warning:[/yellow] {line}{'' if c.finished else ' (DNF)'}: the replay differs")
    console.print(f"wrote {meta.directory}: {len(meta.episodes)} races, {meta.n_frames} frames")


AnalysisRunsArgument = Annotated[
    list[str] | None, typer.Argument(metavar="RUN", help="Run names, glob patterns ('bc_s*') or directories.")
]
LogdirOption = Annotated[Path, typer.Option(help="TensorBoard root holding plain run directories.")]
RunsDirOption = Annotated[Path, typer.Option("--runs-dir", help="Directory holding runs with run.json.")]
TimeAxisOption = Annotated[
    str, typer.Option(help="wall_minutes | training_hours | frames | batches | auto (training hours if a run stopped).")
]
IntervalOption = Annotated[str | None, typer.Option(help="Checkpoint spacing on a time axis: 30m, 2h.")]
StepIntervalOption = Annotated[str | None, typer.Option(help="Checkpoint spacing on frames/batches: 1M, 500k.")]
WindowOption = Annotated[str | None, typer.Option(help="Span of the windowed finish rate (default: the interval).")]
MetricsOption = Annotated[list[str] | None, typer.Option(help="Tags to report (repeatable or comma-separated).")]
GroupOption = Annotated[
    list[str] | None, typer.Option(help="NAME=GLOB: runs matching GLOB are seeds of variant NAME (repeatable).")
]
GapOption = Annotated[float, typer.Option(help="Runs without run.json: minutes without a value that are downtime.")]


OverwriteFiguresOption = Annotated[
    bool, typer.Option(help="Replace the figures and report.md an earlier run wrote in the output folder.")
]


def _check_figure_folder(folder: Path, overwrite: bool) -> None:
    """Refuse a folder holding earlier figures or a report unless ``overwrite``."""
    from hairpin.outputs import check_writable_outputs

    names = sorted(p.name for p in folder.glob("*.png")) if folder.is_dir() else []
    check_writable_outputs(folder, [*names, "report.md"], overwrite)


@pretrain_app.command("advantage-scale")
def pretrain_advantage_scale(
    bc_run: Annotated[Path, typer.Argument(help="BC run directory (its A_head or whole IQN is measured).")],
    rl: Annotated[
        str, typer.Option("--rl", help="A trained RL run (name under --runs, or directory): the spread to match.")
    ],
    dataset: Annotated[str, typer.Option(help="Dataset whose frames both networks are measured on.")],
    frames: Annotated[int, typer.Option(min=1, help="Frames drawn from the dataset.")] = 2000,
    seed: Annotated[int, typer.Option(help="Seed of the frame draw.")] = 0,
    runs: Annotated[Path, typer.Option(help="Directory holding the RL runs.")] = Path("runs"),
    root: DatasetRootOption = Path("datasets"),
) -> None:
    """Measure how far apart the actions of a BC head and of a trained RL run are on the same frames, and print the
    training.pretrain_advantage_scale that puts the injected head on the RL run's scale."""
    from hairpin.data.store import check_fits, load_demos, read_meta
    from hairpin.rl.advantage_scale import advantage_spread, demo_inputs, injected_network, matching_scale
    from hairpin.rl.evaluate import load_run
    from hairpin.sim.race import float_layout

    cfg, trained = load_run(rl, runs)
    layout = float_layout(cfg.env)
    images = cfg.nn.vis.enabled
    check_fits(read_meta(dataset, root), image_size=cfg.env.image_size if images else None, float_layout=layout)
    demos, _ = load_demos(dataset, root)
    img, floats, actions = demo_inputs(demos, layout, frames=frames, seed=seed, images=images)
    reference = advantage_spread(trained, img, floats, actions)
    head = advantage_spread(injected_network(cfg, bc_run), img, floats, actions)
    table = Table(title=f"Q over the 12 actions on {len(actions)} frames of {dataset}")
    for column in ("network", "mean Q", "std over actions", "best − median", "greedy = demo"):
        table.add_column(column, justify="left" if column == "network" else "right")
    for name, spread in ((f"RL {Path(rl).name}", reference), (f"BC {bc_run.name} injected", head)):
        table.add_row(
            name, f"{spread.mean_q:.3f}", f"{spread.std:.4f}", f"{spread.best_gap:.4f}", f"{spread.agreement:.0%}"
        )
    console.print(table)
    console.print(f"training.pretrain_advantage_scale: {matching_scale(reference, head):.3g}")


@app.command("analyze")
def analyze_runs(
    runs: AnalysisRunsArgument = None,
    logdir: LogdirOption = Path("tensorboard"),
    runs_dir: RunsDirOption = Path("runs"),
    time_axis: TimeAxisOption = "auto",
    interval: IntervalOption = None,
    step_interval: StepIntervalOption = None,
    window: WindowOption = None,
    metrics: MetricsOption = None,
    group: GroupOption = None,
    gap_minutes: GapOption = 30.0,
    format_: Annotated[str, typer.Option("--format", help="text | csv | json | md.")] = "text",
    plot: Annotated[bool, typer.Option(help="Also write PNG figures to --output-dir.")] = False,
    output_dir: Annotated[Path, typer.Option(help="Where --plot writes its figures.")] = Path("plots"),
    overwrite: OverwriteFiguresOption = False,
) -> None:
    """Compare runs at checkpoints on one axis: race results per map and kind, scalars, seeds aggregated."""
    import sys

    from hairpin.analysis import AnalysisOptions, analyze, render
    from hairpin.analysis.plots import write_plots
    from hairpin.analysis.render import check_format

    values = dict(interval=interval, step_interval=step_interval, window=window, gap_minutes=gap_minutes)
    options = AnalysisOptions.from_cli(
        runs, metrics=metrics, groups=group, logdir=logdir, runs_dir=runs_dir, time_axis=time_axis, **values
    )
    check_format(format_)
    if plot:
        _check_figure_folder(output_dir, overwrite)
    analysis = analyze(options)
    text = render(analysis, format_)
    plots = write_plots(analysis, output_dir) if plot else []
    if format_ in ("csv", "json"):  # stdout stays machine-clean
        for warning in analysis.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    sys.stdout.write(text)
    for path in plots:
        print(f"wrote {path}", file=sys.stderr)


@app.command("plot")
def plot_runs(
    runs: AnalysisRunsArgument = None,
    experiments: Annotated[list[str] | None, typer.Option(help="Experiment names from --registry.")] = None,
    registry: Annotated[Path, typer.Option(help="The experiment registry.")] = Path("configs/experiments.yaml"),
    output_dir: Annotated[Path, typer.Option(help="Figures and report.md (a folder per experiment).")] = Path("plots"),
    logdir: LogdirOption = Path("tensorboard"),
    runs_dir: RunsDirOption = Path("runs"),
    time_axis: TimeAxisOption = "auto",
    interval: IntervalOption = None,
    step_interval: StepIntervalOption = None,
    window: WindowOption = None,
    metrics: MetricsOption = None,
    group: GroupOption = None,
    gap_minutes: GapOption = 30.0,
    overwrite: OverwriteFiguresOption = False,
) -> None:
    """Write PNG figures and a Markdown report (tables, figures, the command that remakes them)."""
    from hairpin.analysis import AnalysisOptions
    from hairpin.analysis.registry import experiment_options, load_registry
    from hairpin.analysis.report import experiment_command, make_report, plot_command

    names = [name.strip() for text in experiments or [] for name in text.split(",") if name.strip()]
    values = dict(interval=interval, step_interval=step_interval, window=window, gap_minutes=gap_minutes)
    jobs = []
    if names:
        book = load_registry(registry)
        for name in names:
            command = experiment_command(name, registry, logdir, runs_dir, output_dir)
            options = experiment_options(book, name, logdir, runs_dir)
            jobs.append((options, output_dir / name, name, book.experiments[name].description, command))
    else:
        options = AnalysisOptions.from_cli(
            runs, metrics=metrics, groups=group, logdir=logdir, runs_dir=runs_dir, time_axis=time_axis, **values
        )
        jobs.append((options, output_dir, "Run comparison", "", plot_command(options, output_dir)))
    for _, out, *_ in jobs:
        _check_figure_folder(out, overwrite)
    for options, out, title, description, command in jobs:
        _, plots, report = make_report(options, out, title=title, description=description, command=command)
        console.print(f"{title}: {len(plots)} figures, {report}")


def _seed_list(text: str | None) -> list[int]:
    try:
        return [int(part) for part in (text or "").split(",") if part.strip()]
    except ValueError as err:
        raise typer.BadParameter(
            f"{text!r}: seeds are integers separated by commas, e.g. 0,2", param_hint="--seeds"
        ) from err


@app.command("study")
def study(
    file: Annotated[Path, typer.Argument(help="Study YAML (configs/studies/).", exists=True, dir_okay=False)],
    dry_run: Annotated[bool, typer.Option(help="Print the plan and what is cached; run nothing.")] = False,
    status: Annotated[bool, typer.Option(help="Print each stage's and run's state from disk; run nothing.")] = False,
    only: Annotated[
        list[str] | None, typer.Option(help="Only this stage, variant or run, with what it needs (repeatable).")
    ] = None,
    seeds: Annotated[str | None, typer.Option(help="Only these seeds, comma-separated: 0,2.")] = None,
    jobs: Annotated[
        int | None, typer.Option(min=1, help="Nodes run at once (default: as many as the cores allow).")
    ] = None,
    ray: Annotated[
        str | None,
        typer.Option(help="Run each stage and run as a Ray task on the cluster at ADDRESS (auto: this machine's)."),
    ] = None,
    studies_dir: Annotated[Path, typer.Option(help="Parent of the study folders.")] = Path("studies"),
    smoke: Annotated[
        bool,
        typer.Option(
            help="Run the study's smoke instead: every stage and variant once at a tiny size, in "
            "studies/<name>-smoke/, to prove its wiring on a CPU in minutes before its budget is spent."
        ),
    ] = False,
) -> None:
    """Run a study: its pretraining stages and RL variants × seeds as a graph keyed by content. Running it again skips
    what is done, resumes what was interrupted and retries what failed."""
    import shlex
    import time

    from hairpin.study.display import print_plan, print_status
    from hairpin.study.executor import Backend
    from hairpin.study.local import LocalBackend
    from hairpin.study.plan import build_plan, default_cores
    from hairpin.study.runner import run_study
    from hairpin.study.spec import load_study
    from hairpin.study.state import cached_nodes

    started = time.monotonic()
    spec = load_study(file)
    if smoke:
        from hairpin.study.smoke import smoke_spec

        spec, changes = smoke_spec(spec)
        for change in changes:
            console.print(f"smoke: {change}")
    plan = build_plan(spec, studies_dir / spec.name, only=only or [], seeds=_seed_list(seeds))
    if status:
        print_status(plan, console)
        return
    cached = cached_nodes(plan)
    if dry_run:
        print_plan(plan, cached, console, time.monotonic() - started)
        return
    cores = default_cores()
    backend: Backend = LocalBackend(cores)
    if ray is not None:
        from hairpin.study.ray_backend import RayBackend, connect

        connect(ray)
        backend = RayBackend(plan)
    args = [str(file), *(f"--only={name}" for name in only or []), *([f"--seeds={seeds}"] if seeds else [])]
    args += [f"--jobs={jobs}"] if jobs else []
    args += [f"--ray={ray}"] if ray else []
    args += ["--smoke"] if smoke else []
    try:
        outcome = run_study(
            plan,
            backend,
            jobs=jobs or (len(plan.nodes) if ray else cores),
            console=console,
            command=shlex.join(["hairpin", "study", *args]),
        )
    except KeyboardInterrupt:
        console.print("interrupted: the runs saved their checkpoints; the same command goes on where they stopped")
        raise typer.Exit(130) from None
    console.print(f"report: {outcome.report}")
    if outcome.failed or outcome.blocked:
        blocked = f"; not run, needing them: {', '.join(outcome.blocked)}" if outcome.blocked else ""
        console.print(f"[red]failed:[/red] {', '.join(outcome.failed)}{blocked} (errors: {plan.study_dir / 'state'})")
        raise typer.Exit(1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
