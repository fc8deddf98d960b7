"""The ``hairpin`` command. It loads each config once and hands the parts their sections; nothing imports it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from hairpin.config import ConfigError, dump_config, load_config
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
    import numpy as np

    from hairpin.sim.generator import blocks_to_line, generate_blocks

    codes = generate_blocks(seed, blocks)
    line = blocks_to_line(codes)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, line)
    length = (len(line) - 1) * 0.5
    console.print(f"wrote {out}: {len(line)} points, {length:.0f} m; blocks: {' '.join(codes)}")
    console.print(json.dumps({"seed": seed, "blocks": codes, "length_m": length}))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
