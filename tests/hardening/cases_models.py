"""The models battery: bad option values, data files, output folders, resume rules,
checkpoint-folder attacks and library calls of the model, training, embedding and GRN
commands and APIs (``vcell embed``, ``pretrain``, ``finetune``, ``grn``; ``vc.train``,
``vc.tl.embed``, ``vc.grn``, ``vc.models``, ``vc.pl``).

Placeholders in ``argv``: ``{cells}`` counts, ``{scaled}`` scaled X with counts in
``.raw``, ``{corrupt}`` a damaged h5ad, ``{ckpt}`` a checkpoint, ``{tuned}`` a fine-tuned
checkpoint, ``{run}`` a finished run (``RUN_ARGS``, seed 0), ``{other}`` a folder of
unrelated files, ``{file}`` a plain file, ``{empty}`` an empty folder, ``{atk:NAME}`` a
copy of the checkpoint attacked as NAME (see :data:`ATTACKS`), ``{out}`` a fresh output
path. The inputs are built once per process and copied (symbolic links kept) into each
case's folder, so the runner checks that none of them changes.
"""

from __future__ import annotations

import atexit
import functools
import json
import re
import shlex
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import virtualcell as vc

from ._battery import RAISES, Case

__all__ = ["CASES"]


# ----------------------------------------------------------------------------- inputs
def _root_conftest():
    """tests/conftest.py as a module (its name ``conftest`` is shared by sub-folders)."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "conftest.py"
    spec = importlib.util.spec_from_file_location("_vc_tests_root_conftest", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.cache
def _inputs() -> Path:
    """The battery's input files, built once per process (tiny)."""
    from virtualcell.cli import main
    from virtualcell.models import CellEncoder, CellEncoderConfig, CellModel
    from virtualcell.tokenize import RankTokenizer

    root = Path(tempfile.mkdtemp(prefix="vc-battery-models-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    cells = _root_conftest().make_cells(48, 20)
    cells.write_h5ad(root / "cells.h5ad")
    scaled = cells.copy()
    scaled.raw = cells.copy()
    scaled.X = scaled.X.toarray() - 1.0
    scaled.write_h5ad(root / "scaled.h5ad")
    (root / "corrupt.h5ad").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00garbage" * 64)
    tok = RankTokenizer(max_len=8).fit(cells)
    cfg = CellEncoderConfig(vocab_size=len(tok.vocab), d_model=8, n_layers=1, n_heads=2, max_len=16)
    model = CellModel(CellEncoder(cfg), tok)
    model.save_pretrained(root / "ckpt")
    tc = vc.train.FINETUNE_CONFIG.replace(max_steps=1, batch_size=16)
    vc.train.finetune(cells, model, label_key="cell_type", train_config=tc, out_dir=root / "tuned")
    code = main(["pretrain", str(root / "cells.h5ad"), "--out", str(root / "run"), *RUN_ARGS])
    assert code == 0, "the battery's finished run could not be made"
    (root / "other").mkdir()
    (root / "other" / "notes.txt").write_text("my notes")
    (root / "file.txt").write_text("a file")
    (root / "empty").mkdir()
    for name, edit in ATTACKS.items():
        folder = root / f"atk-{name}"
        shutil.copytree(root / "ckpt", folder)
        doc = json.loads((folder / "config.json").read_text())
        edit(doc, folder)
        (folder / "config.json").write_text(json.dumps(doc))
    return root


def _copy_inputs(folder: Path) -> None:
    shutil.copytree(_inputs(), folder, symlinks=True, dirs_exist_ok=True)


_NAMES = {
    "cells": "cells.h5ad", "scaled": "scaled.h5ad", "corrupt": "corrupt.h5ad", "ckpt": "ckpt",
    "tuned": "tuned", "run": "run", "other": "other", "file": "file.txt", "empty": "empty",
    "out": "out",
}  # fmt: skip


def _fill(arg: str) -> str:
    """An argument with its placeholders as paths under the case's folder (``{tmp}``)."""
    arg = re.sub(r"\{atk:(\w+)\}", r"{tmp}/atk-\1", arg)
    for key, name in _NAMES.items():
        arg = arg.replace("{" + key + "}", "{tmp}/" + name)
    return arg


def _quote(word: str) -> str:
    return word if re.fullmatch(r"[\w{}/.:=+-]+", word) else shlex.quote(word)


def _fixtures(folder: Path) -> dict[str, Any]:
    import anndata as ad

    return {"root": folder, "adata": ad.read_h5ad(folder / "cells.h5ad"), "ckpt": folder / "ckpt"}


def _library_call(call: Callable[[dict[str, Any]], Any]) -> Callable[[Path], Any]:
    return lambda folder: call(_fixtures(folder))


def _case(
    id: str,
    message: str,
    *,
    argv: tuple[str, ...] | None = None,
    call: Callable[[dict[str, Any]], Any] | None = None,
    exit_code: int = 2,
    output: str | None = None,
) -> Case:
    """A case in the shared format from a command line (``argv``) or a library call."""
    outputs = () if output is None else (_fill(output).removeprefix("{tmp}/"),)
    if argv is not None:
        text = "vcell " + " ".join(_quote(_fill(a)) for a in argv)
        return Case(id, text, exit_code, message, setup=_copy_inputs, outputs=outputs)
    assert call is not None
    return Case(id, _describe(call), RAISES, message, setup=_copy_inputs,
                run=_library_call(call), outputs=outputs)  # fmt: skip


def _describe(call: Callable[..., Any]) -> str:
    """The lambda's expression as written in :data:`CASES` (``f["adata"]`` shown as
    ``adata``)."""
    import inspect

    line = inspect.getsource(call).strip()
    found = re.search(r"lambda f: (.*)\)\),?$", line)
    text = found.group(1) + ")" if found else line
    return re.sub(r'f\["(\w+)"\]', r"\1", text)


TINY = ("--d-model", "8", "--n-heads", "2", "--n-layers", "1", "--max-len", "8")
RUN_ARGS = ("--max-steps", "2", "--batch-size", "16", *TINY)


def _attack_files(c, f):
    c["files"]["model.safetensors"] = "abc"


def _attack_traversal(c, f):
    c["files"]["../../../../etc/hostname"] = {"sha256": "0" * 64, "size": 1}


def _attack_huge(c, f):
    c["model"]["d_model"] = 2**36


def _attack_symlink(c, f):
    (f / "vocab.json").unlink()
    (f / "vocab.json").symlink_to("/etc/hostname")


def _attack_vocab_key(c, f):
    from virtualcell._utils import sha256_file

    path = f / "vocab.json"
    doc = json.loads(path.read_text())
    doc["evil"] = 1
    path.write_text(json.dumps(doc))
    c["files"]["vocab.json"] = {"sha256": sha256_file(path), "size": path.stat().st_size}


#: Checkpoint-folder attacks: name -> edit of (config.json dict, folder).
ATTACKS = {
    "files_str": _attack_files,
    "traversal": _attack_traversal,
    "huge": _attack_huge,
    "symlink": _attack_symlink,
    "vocab_key": _attack_vocab_key,
}

CELLS_EMBED = ("embed", "{cells}", "--model", "{ckpt}")

CASES: list[Case] = [
    # ---- option values (parse time, before any work)
    _case("embed-batch-size-0", r"--batch-size.*greater than or equal to 1",
         argv=(*CELLS_EMBED, "--out", "{out}.h5ad", "--batch-size", "0"), output="{out}.h5ad"),
    _case("embed-batch-size-negative", r"--batch-size",
         argv=(*CELLS_EMBED, "--out", "{out}.h5ad", "--batch-size", "-3"), output="{out}.h5ad"),
    _case("embed-out-missing-dir", r"--out.*folder .*missing_dir does not exist",
         argv=(*CELLS_EMBED, "--out", "{tmp}/missing_dir/x.h5ad")),
    _case("embed-out-csv", r"--out.*'e\.csv': its suffix \(\.csv\) must be one of \.h5ad, \.zarr",
         argv=(*CELLS_EMBED, "--out", "{tmp}/e.csv"), output="{tmp}/e.csv"),
    _case("embed-model-missing", r"--model.*does not exist",
         argv=("embed", "{cells}", "--model", "{tmp}/nope", "--out", "{out}.h5ad")),
    _case("embed-model-is-file", r"--model.*is a file, not a checkpoint folder",
         argv=("embed", "{cells}", "--model", "{file}", "--out", "{out}.h5ad")),
    _case("embed-device-cuda", r"--device.*CUDA is not available here",
         argv=(*CELLS_EMBED, "--out", "{out}.h5ad", "--device", "cuda"), output="{out}.h5ad"),
    _case("grn-n-jobs-0", r"--n-jobs.*n_jobs must be a number of workers \(>= 1, or -1 for all",
         argv=("grn", "{cells}", "--method", "pearson", "--n-jobs", "0")),
    _case("grn-seed-negative", r"--seed'.*not in \[0, 4294967295\]",
         argv=("grn", "{cells}", "--method", "pearson", "--seed", "-1")),
    _case("grn-method-unknown", r"unknown GRN method 'nope'.*Available: attention",
         argv=("grn", "{cells}", "--method", "nope")),
    _case("grn-out-xlsx", r"'e\.xlsx': its suffix \(\.xlsx\) must be one of \.csv, \.tsv, \.parquet",
         argv=("grn", "{cells}", "--method", "pearson", "--out", "{tmp}/e.xlsx")),
    _case("grn-out-missing-dir", r"folder .*nodir does not exist",
         argv=("grn", "{cells}", "--method", "pearson", "--out", "{tmp}/nodir/e.csv")),
    _case("pretrain-lr-negative", r"--lr.*TrainConfig\.lr must be > 0, got -1\.0",
         argv=("pretrain", "{cells}", "--out", "{out}", "--lr", "-1"), output="{out}"),
    _case("pretrain-lr-zero", r"TrainConfig\.lr must be > 0, got 0\.0",
         argv=("pretrain", "{cells}", "--out", "{out}", "--lr", "0"), output="{out}"),
    _case("pretrain-max-steps-0", r"TrainConfig\.max_steps must be >= 1, got 0",
         argv=("pretrain", "{cells}", "--out", "{out}", "--max-steps", "0"), output="{out}"),
    _case("pretrain-heads-vs-width", r"d_model=32 is not divisible by n_heads=3",
         argv=("pretrain", "{cells}", "--out", "{out}", "--n-heads", "3", "--d-model", "32"),
         output="{out}"),
    _case("pretrain-d-model-0", r"CellEncoderConfig\.d_model must be >= 1, got 0",
         argv=("pretrain", "{cells}", "--out", "{out}", "--d-model", "0"), output="{out}"),
    _case("pretrain-device-cuda", r"--device.*CUDA is not available here.*use --device cpu",
         argv=("pretrain", "{cells}", "--out", "{out}", "--device", "cuda"), output="{out}"),
    _case("pretrain-device-unknown", r"device 'tpu' is not one of auto, cpu, cuda, mps",
         argv=("pretrain", "{cells}", "--out", "{out}", "--device", "tpu"), output="{out}"),
    _case("pretrain-tokenizer-unknown", r"--tokenizer.*'word' is not one of",
         argv=("pretrain", "{cells}", "--out", "{out}", "--tokenizer", "word"), output="{out}"),
    _case("pretrain-mae-needs-values", r"objective 'mae' regresses values; the rank tokenizer",
         argv=("pretrain", "{cells}", "--out", "{out}", "--objective", "mae", *RUN_ARGS),
         output="{out}"),
    _case("pretrain-resume-and-overwrite", r"give --resume or --overwrite, not both",
         argv=("pretrain", "{cells}", "--out", "{out}", "--resume", "--overwrite"),
         output="{out}"),
    _case("pretrain-scaled-x", r"X holds negative values .*--layer raw",
         argv=("pretrain", "{scaled}", "--out", "{out}", *RUN_ARGS), output="{out}"),
    _case("pretrain-layer-unknown", r"layer 'nope' not found; the file has 'raw'",
         argv=("pretrain", "{scaled}", "--out", "{out}", "--layer", "nope", *RUN_ARGS),
         output="{out}"),
    # ---- output folders and resume rules
    _case("pretrain-out-is-file", r"--out.*is a file; give a folder",
         argv=("pretrain", "{cells}", "--out", "{file}", *RUN_ARGS)),
    _case("pretrain-out-unrelated", r"not part of a virtualcell run \('notes\.txt'\)",
         argv=("pretrain", "{cells}", "--out", "{other}", *RUN_ARGS)),
    _case("pretrain-out-missing-parent", r"--out.*folder .*noparent does not exist",
         argv=("pretrain", "{cells}", "--out", "{tmp}/noparent/ck", *RUN_ARGS)),
    _case("pretrain-changed-seed", r"holds a run with other settings \(seed 0 -> 1\); pass --resume",
         argv=("pretrain", "{cells}", "--out", "{run}", *RUN_ARGS, "--seed", "1")),
    _case("pretrain-max-steps-below-checkpoint", r"at step 2, past max_steps=1; give max_steps > 2",
         argv=("pretrain", "{cells}", "--out", "{run}", *RUN_ARGS, "--max-steps", "1",
               "--resume")),
    _case("pretrain-resume-nothing", r"nothing to resume: no checkpoint under",
         argv=("pretrain", "{cells}", "--out", "{empty}", *RUN_ARGS, "--resume")),
    # ---- data files
    _case("embed-corrupt-h5ad", r"cannot read .*corrupt\.h5ad as h5ad",
         argv=("embed", "{corrupt}", "--model", "{ckpt}", "--out", "{out}.h5ad"),
         output="{out}.h5ad"),
    _case("pretrain-corrupt-h5ad", r"cannot read .*corrupt\.h5ad as h5ad",
         argv=("pretrain", "{corrupt}", "--out", "{out}", *RUN_ARGS), output="{out}"),
    _case("embed-scaled-x", r"X holds negative values .*--layer raw",
         argv=("embed", "{scaled}", "--model", "{ckpt}", "--out", "{out}.h5ad"),
         output="{out}.h5ad"),
    _case("finetune-label-missing", r"label_key 'nope' not in obs columns",
         argv=("finetune", "{cells}", "--model", "{ckpt}", "--label", "nope", "--out", "{out}"),
         output="{out}"),
    _case("finetune-task-unknown", r"--task.*'ranking' is not one of",
         argv=("finetune", "{cells}", "--model", "{ckpt}", "--label", "cell_type", "--out",
               "{out}", "--task", "ranking"), output="{out}"),
    _case("finetune-regression-on-text", r"obs\['cell_type'\] is not numeric",
         argv=("finetune", "{cells}", "--model", "{ckpt}", "--label", "cell_type", "--out",
               "{out}", "--task", "regression"), output="{out}"),
    _case("finetune-already-tuned", r"model is already fine-tuned",
         argv=("finetune", "{cells}", "--model", "{tuned}", "--label", "cell_type", "--out",
               "{out}"), output="{out}"),
    # ---- checkpoint-folder attacks
    _case("ckpt-not-a-checkpoint", r"config\.json: missing; not a virtualcell checkpoint",
         argv=("embed", "{cells}", "--model", "{empty}", "--out", "{out}.h5ad"),
         output="{out}.h5ad"),
    _case("ckpt-files-entry-string", r"files\['model\.safetensors'\]: must be an object",
         argv=("embed", "{cells}", "--model", "{atk:files_str}", "--out", "{out}.h5ad"),
         output="{out}.h5ad"),
    _case("ckpt-path-traversal", r"'\.\./\.\./\.\./\.\./etc/hostname' points outside the checkpoint",
         argv=("embed", "{cells}", "--model", "{atk:traversal}", "--out", "{out}.h5ad"),
         output="{out}.h5ad"),
    _case("ckpt-huge-d-model", r"about .* parameters, above the limit of 2e\+09 \(d_model=68719476736",
         argv=("embed", "{cells}", "--model", "{atk:huge}", "--out", "{out}.h5ad"),
         output="{out}.h5ad"),
    _case("ckpt-symlinked-vocab", r"'vocab\.json' is a symbolic link",
         argv=("embed", "{cells}", "--model", "{atk:symlink}", "--out", "{out}.h5ad"),
         output="{out}.h5ad"),
    _case("ckpt-vocab-unknown-key", r"vocab\.json: unknown key\(s\) \['evil'\]",
         argv=("embed", "{cells}", "--model", "{atk:vocab_key}", "--out", "{out}.h5ad"),
         output="{out}.h5ad"),
    # ---- API calls with wrong types or values
    _case("api-trainconfig-negative", r"TrainConfig\.max_steps must be >= 1, got -1",
         call=lambda f: vc.train.TrainConfig(max_steps=-1, batch_size=0)),
    _case("api-trainconfig-str", r"TrainConfig\.lr must be a finite number, got '0\.1'",
         call=lambda f: vc.train.TrainConfig(lr="0.1")),
    _case("api-embed-not-anndata", r"adata must be an AnnData, got str",
         call=lambda f: vc.tl.embed("cells.h5ad", f["ckpt"])),
    _case("api-embed-batch-size-0", r"batch_size must be a positive integer, got 0",
         call=lambda f: vc.tl.embed(f["adata"], f["ckpt"], batch_size=0)),
    _case("api-embed-model-type", r"model must be a CellModel, a PCAEncoder or a checkpoint folder",
         call=lambda f: vc.tl.embed(f["adata"], 42)),
    _case("api-pretrain-objective", r"'classification' is not a pretraining objective",
         call=lambda f: vc.train.pretrain(f["adata"], objective="classification")),
    _case("api-pretrain-config-dict", r"train_config must be a TrainConfig, got dict",
         call=lambda f: vc.train.pretrain(f["adata"], train_config={"max_steps": 2})),
    _case("api-pretrain-model-config", r"d_model=32 is not divisible by n_heads=3",
         call=lambda f: vc.train.pretrain(f["adata"], model_config={"d_model": 32, "n_heads": 3})),
    _case("api-finetune-model-type", r"model must be a CellModel or a checkpoint folder, got int",
         call=lambda f: vc.train.finetune(f["adata"], 123, label_key="cell_type")),
    _case("api-infer-n-jobs", r"n_jobs must be a number of workers .*got 0",
         call=lambda f: vc.grn.infer(f["adata"], method="pearson", n_jobs=0)),
    _case("api-infer-grn-not-anndata", r"adata must be an AnnData, got ndarray",
         call=lambda f: vc.tl.infer_grn(np.zeros((5, 3)))),
    _case("api-encoder-config-type", r"CellEncoderConfig\.d_model must be an integer, got 'x'",
         call=lambda f: vc.models.CellEncoderConfig(vocab_size=10, d_model="x")),
    _case("api-heatmap-not-table", r"grn_heatmap needs a non-empty DataFrame",
         call=lambda f: vc.pl.grn_heatmap("table")),
]  # fmt: skip
