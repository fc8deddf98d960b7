"""The racing line of every map: its lap (the limit) against the centre-line expert's, and how long it takes.

For each built-in map, the real reference lines in ``../shared/maps`` (when present) and ``--generated`` maps from
the block generator (seeds from ``--first-seed``), computes the racing line from scratch (no cache) ``--repeats``
times and reports the median computation time, the limit, the expert's lap and their ratio. Also counts how many
generated maps the line finishes. Prints one JSON line.

    python benchmarks/racing_line.py [--repeats 3] [--generated 20] [--first-seed 1000] [--blocks 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from hairpin.config.sim import EnvConfig, RacingLineConfig
from hairpin.sim.expert import reference_lap
from hairpin.sim.generator import blocks_to_line, generate_blocks
from hairpin.sim.maps import BUILTIN_MAPS, load_map
from hairpin.sim.racing_line import racing_line
from hairpin.sim.track import Track

SHARED_MAPS = Path(__file__).resolve().parents[2] / "shared" / "maps"


def measure(track: Track, repeats: int) -> dict[str, object]:
    env, cfg = EnvConfig(), RacingLineConfig(cache=False)
    seconds = []
    line = None
    for _ in range(repeats):
        start = time.perf_counter()
        line = racing_line(track, env, cfg)
        seconds.append(time.perf_counter() - start)
        from hairpin.sim import racing_line as module

        module._MEMORY.clear()  # each repeat computes the line anew
    assert line is not None
    expert = reference_lap(track, env)
    expert_s = expert.race_time_ms / 1000 if expert.finished else None
    limit_s = line.lap_ms / 1000 if line.lap_ms is not None else None
    return {
        "limit_s": limit_s,
        "expert_s": expert_s,
        "limit_over_expert": round(limit_s / expert_s, 4) if limit_s and expert_s else None,
        "planned_s": round(line.planned_time_s, 3),
        "seconds_median": round(statistics.median(seconds), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--generated", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=1000)
    parser.add_argument("--blocks", type=int, default=20)
    args = parser.parse_args()
    racing_line(load_map("sprint"), EnvConfig(), RacingLineConfig(cache=False))  # compile the kernels first
    maps = {name: measure(load_map(name), args.repeats) for name in BUILTIN_MAPS}
    for path in sorted(SHARED_MAPS.glob("*.npy")) if SHARED_MAPS.is_dir() else []:
        maps[path.stem] = measure(Track.from_file(path), 1)
    generated = []
    for seed in range(args.first_seed, args.first_seed + args.generated):
        track = Track(name=f"gen-{seed}", points=blocks_to_line(generate_blocks(seed, args.blocks)))
        generated.append({"seed": seed, **measure(track, 1)})
    finished = [g for g in generated if g["limit_s"] is not None]
    ratios = [float(g["limit_over_expert"]) for g in finished if g["limit_over_expert"] is not None]  # type: ignore[arg-type]
    print(
        json.dumps(
            {
                "benchmark": "racing_line",
                "maps": maps,
                "generated": {
                    "maps": len(generated),
                    "finished": len(finished),
                    "limit_over_expert_median": round(statistics.median(ratios), 4) if ratios else None,
                    "seconds_median": statistics.median(float(g["seconds_median"]) for g in generated)  # type: ignore[arg-type]
                    if generated
                    else None,
                    "unfinished_seeds": [g["seed"] for g in generated if g["limit_s"] is None],
                },
            }
        )
    )


if __name__ == "__main__":
    main()
