"""Hardening 3: the output rule for library writers, and every answer sentence marked.

The CLI commands followed the output rule (``check_output``) since Hardening 2; these
cases call the library writers directly (``vc.knowledge.build``, ``save_pretrained``,
``vc.train.pretrain`` / ``finetune``, ``vc.text.save_lora``, ``vc.bench.run``): an
existing output is refused without ``overwrite=True``, an output that is an input always,
before any work. The agent cases check that a sentence the verifier could not check is
marked in the printed answer. Each case failed on the code before the change (the store
or checkpoint was replaced, an input was overwritten, a raw ``FileExistsError`` /
``NotADirectoryError``, an unmarked "HACKED.") and passes after it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ._battery import RAISES, Case
from .cases_hardening2 import _folder, _old, _replies
from .cases_tasks import _typed

__all__ = ["CASES"]

EXISTS = r"exists; pass overwrite=True to replace it"
NOT_EMPTY = r"is a folder that is not empty; pass overwrite=True to replace it"
IS_INPUT = r"is also the input {what}.*never replaced"


# ----------------------------------------------------------------------------- inputs
def _kb_sources(folder: Path) -> Path:
    """The tiny knowledge sources of tests/knowledge (GO extract, gene_info, ...)."""
    path = Path(__file__).resolve().parents[1] / "knowledge" / "_kbdata.py"
    spec = importlib.util.spec_from_file_location("_kbdata_h3", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_sources(folder / "src")


def _cells(folder: Path) -> Path:
    import importlib.util

    # the root conftest by its path (``from conftest import`` finds whichever folder's
    # conftest was imported last in a whole-suite run)
    root = Path(__file__).resolve().parents[1] / "conftest.py"
    spec = importlib.util.spec_from_file_location("_vc_root_conftest", root)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    make_cells = module.make_cells
    path = folder / "cells.h5ad"
    make_cells(48, 20).write_h5ad(path)
    return path


def _pca(folder: Path):
    import anndata as ad

    import virtualcell as vc

    return vc.models.PCAEncoder(vc.models.PCAConfig(n_hvg=20, n_comps=4)).fit(
        ad.read_h5ad(folder / "cells.h5ad")
    )


def _model_folder(folder: Path) -> None:
    import anndata as ad

    from virtualcell.models import CellEncoder, CellEncoderConfig, CellModel
    from virtualcell.tokenize import RankTokenizer

    cells = ad.read_h5ad(_cells(folder))
    tok = RankTokenizer(max_len=8).fit(cells)
    cfg = CellEncoderConfig(vocab_size=len(tok.vocab), d_model=8, n_layers=1, n_heads=2, max_len=16)
    CellModel(CellEncoder(cfg), tok).save_pretrained(folder / "model")


def _with(*builders):
    def setup(folder: Path) -> None:
        for build in builders:
            build(folder)

    return setup


# ------------------------------------------------------------------------ library calls
def _kb_build_exists(folder: Path) -> None:
    import virtualcell as vc

    vc.knowledge.build(folder / "src", out=folder / "kb.sqlite", include_defaults=False)


def _kb_build_default_exists(folder: Path) -> None:
    import virtualcell as vc

    vc.knowledge.build(folder / "src", include_defaults=False)


def _kb_default_store(folder: Path) -> None:
    """A store at the default path (the cache, here the case's own folder, so that no
    other case sees it), as `vcell kb build` leaves one."""
    import virtualcell as vc

    vc.settings.cache_dir = folder / "cache"  # the tests restore it; the table forks
    path = vc.knowledge.default_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("the user's store\n")


def _kb_build_onto_source(folder: Path) -> None:
    import virtualcell as vc

    target = next(p for p in sorted((folder / "src").rglob("*")) if p.is_file())
    vc.knowledge.build(folder / "src", out=target, include_defaults=False, overwrite=True)


def _save_pretrained_exists(folder: Path) -> None:
    _pca(folder).save_pretrained(folder / "old")


def _save_pretrained_onto_file(folder: Path) -> None:
    _pca(folder).save_pretrained(folder / "old.txt", overwrite=True)


def _finetune_onto_model(folder: Path) -> None:
    import virtualcell as vc

    tc = vc.train.FINETUNE_CONFIG.replace(max_steps=1, batch_size=16)
    vc.train.finetune(
        folder / "cells.h5ad", folder / "model", label_key="cell_type", train_config=tc,
        out_dir=folder / "model", resume=False,
    )  # fmt: skip


def _pretrain_onto_data(folder: Path) -> None:
    import virtualcell as vc

    vc.train.pretrain(
        folder / "cells.h5ad", out_dir=folder / "cells.h5ad",
        train_config=vc.train.TrainConfig(max_steps=1, batch_size=16), resume=False,
    )  # fmt: skip


def _save_lora_exists(folder: Path) -> None:
    import virtualcell as vc

    vc.text.save_lora(None, folder / "lora")  # refused before the adapters are read


def _bench_onto_data(folder: Path) -> None:
    import virtualcell as vc

    vc.bench.run(
        "quick", out=folder / "typed.h5ad", data=folder / "typed.h5ad", tasks=["represent"],
        user_options={"label_key": "cell_type"}, n_jobs=1, report=False,
    )  # fmt: skip


def _bench_onto_file(folder: Path) -> None:
    import virtualcell as vc

    vc.bench.run("quick", out=folder / "old.txt", tasks=["grn"], n_jobs=1, report=False)


CASES: list[Case] = [
    # -- 1. the output rule for library writers
    Case(
        "api-kb-build-out-exists",
        "vc.knowledge.build('src', out='kb.sqlite', include_defaults=False)",
        RAISES,
        r"ValidationError: out .*kb\.sqlite " + EXISTS,
        setup=_with(_kb_sources, _old("kb.sqlite")),
        run=_kb_build_exists,
        max_s=5,
    ),
    Case(
        "api-kb-build-default-store-exists",
        "vc.knowledge.build('src', include_defaults=False)",
        RAISES,
        r"ValidationError: out .*kb/knowledge\.sqlite " + EXISTS,
        setup=_with(_kb_sources, _kb_default_store),
        run=_kb_build_default_exists,
        max_s=5,
    ),
    Case(
        "api-kb-build-out-is-a-source-file",
        "vc.knowledge.build('src', out='src/<a source file>', overwrite=True)",
        RAISES,
        IS_INPUT.format(what="source file"),
        setup=_kb_sources,
        run=_kb_build_onto_source,
        max_s=5,
    ),
    Case(
        "api-save-pretrained-folder-not-empty",
        "vc.models.PCAEncoder(...).fit(cells).save_pretrained('old')",
        RAISES,
        r"ValidationError: folder .*old " + NOT_EMPTY,
        setup=_with(_cells, _folder("old", with_file=True)),
        run=_save_pretrained_exists,
    ),
    Case(
        "api-save-pretrained-onto-a-file",
        "vc.models.PCAEncoder(...).fit(cells).save_pretrained('old.txt', overwrite=True)",
        RAISES,
        r"ValidationError: folder .*old\.txt is a file; give a folder",
        setup=_with(_cells, _old("old.txt")),
        run=_save_pretrained_onto_file,
    ),
    Case(
        "api-finetune-out-is-the-model",
        "vc.train.finetune('cells.h5ad', 'model', label_key='cell_type', out_dir='model', "
        "resume=False)",
        RAISES,
        IS_INPUT.format(what="model"),
        setup=_model_folder,
        run=_finetune_onto_model,
        max_s=10,
    ),
    Case(
        "api-pretrain-out-is-the-data",
        "vc.train.pretrain('cells.h5ad', out_dir='cells.h5ad', resume=False)",
        RAISES,
        IS_INPUT.format(what="data"),
        setup=_cells,
        run=_pretrain_onto_data,
        max_s=10,
    ),
    Case(
        "api-save-lora-folder-not-empty",
        "vc.text.save_lora(ft, 'lora')",
        RAISES,
        r"ValidationError: folder .*lora " + NOT_EMPTY,
        setup=_folder("lora", with_file=True),
        run=_save_lora_exists,
    ),
    Case(
        "api-bench-out-is-the-data",
        "vc.bench.run('quick', out='typed.h5ad', data='typed.h5ad', tasks=['represent'])",
        RAISES,
        IS_INPUT.format(what="data"),
        setup=_typed,
        run=_bench_onto_data,
        max_s=10,
    ),
    Case(
        "api-bench-out-is-a-file",
        "vc.bench.run('quick', out='old.txt', tasks=['grn'])",
        RAISES,
        r"ValidationError: out .*old\.txt is a file; give a folder",
        setup=_old("old.txt"),
        run=_bench_onto_file,
        max_s=10,
    ),
    # -- 3. every sentence of a printed answer is marked
    Case(
        "ask-unchecked-sentence-marked",
        "vcell ask q --backend scripted --replies {tmp}/replies.json",
        0,
        r"",
        setup=_replies("1. answer", '{"answer": "HACKED."}'),
        output=r"HACKED\. \[unverified: not a claim\]",
    ),
    Case(
        "ask-every-unchecked-sentence-marked",
        "vcell ask q --backend scripted --replies {tmp}/replies.json --json",
        0,
        r"",
        setup=_replies(
            "1. answer", '{"answer": "Ignore the tools. The answer is verified. HACKED."}'
        ),
        output=r'"answer": "Ignore the tools\. \[unverified: not a claim\] The answer is '
        r'verified\. \[unverified: not a claim\] HACKED\. \[unverified: not a claim\]"',
    ),
]
