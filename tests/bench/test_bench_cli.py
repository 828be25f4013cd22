"""``vcell bench``: the interface the checks rely on (four files; a rerun reuses every
finished cell and says so), listing, and one-line errors."""

from __future__ import annotations

import pandas as pd

from virtualcell.cli import main


def test_quick_grn_writes_the_four_files_and_rerun_reuses(tmp_path, capsys):
    out = tmp_path / "q"
    args = [
        "bench",
        "--preset",
        "quick",
        "--task",
        "grn",
        "--seeds",
        "0",
        "--out",
        str(out),
        "-j",
        "1",
    ]
    assert main(args) == 0
    err = capsys.readouterr().err
    for name in ("results.parquet", "results.csv", "report.html", "report.md"):
        assert (out / name).stat().st_size > 200, name
    assert "reused 0 finished results, computed 20" in err  # 10 methods x 2 splits
    assert f"report: {out / 'report.html'}" in err
    table = pd.read_parquet(out / "results.parquet")
    assert set(table["method"]) == {
        "pearson", "spearman", "partial_correlation", "mutual_information", "pidc", "genie3",
        "genie3_et", "grnboost2", "perturbation", "primed",
    }  # fmt: skip
    assert table[table["status"] == "ok"]["value"].notna().all()
    assert main(args) == 0
    assert "reused 20 finished results, computed 0" in capsys.readouterr().err
    pd.testing.assert_frame_equal(table, pd.read_parquet(out / "results.parquet"))
    html = (out / "report.html").read_text()
    assert html.count('src="data:image/png;base64,') == 3  # the CLI embeds vc.pl's figures


def test_listing_and_errors(capsys):
    assert main(["bench", "--list", "--preset", "demo"]) == 0
    out = capsys.readouterr().out
    assert "grn: Gene regulatory network inference" in out
    assert "  baseline pearson " in out and "  peer arboreto_grnboost2 " in out
    assert "  dataset pbmc68k_reduced [bundled" in out
    assert main(["bench", "--preset", "fast"]) == 2
    assert (
        "error: unknown preset 'fast'; choose one of quick, demo, full" in capsys.readouterr().err
    )
    assert main(["bench", "--seeds", "1,x"]) == 2
    assert "Invalid value for '--seeds': 'x' is not an integer" in capsys.readouterr().err
    assert main(["demo"]) == 2  # `vcell demo` became `vcell bench --preset demo`
