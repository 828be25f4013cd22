from __future__ import annotations

import json

from virtualcell.cli import main


def test_kb_build_search_gene_verify(tiny_sources, tmp_path, capsys):
    out = tmp_path / "kb.sqlite"
    assert (
        main(["kb", "build", "--source", str(tiny_sources), "--out", str(out), "--no-defaults"])
        == 0
    )
    text = capsys.readouterr().out
    assert "annotations" in text and "10" in text and "GO 2099-01-01" in text
    assert (
        main(
            [
                "kb",
                "search",
                "insulin secretion",
                "--json",
                "-k",
                "2",
                "--kb",
                str(out),
                "--mode",
                "lexical",
            ]
        )
        == 0
    )
    hits = json.loads(capsys.readouterr().out)
    assert hits[0]["id"] == "GO:0030073" and hits[0]["citations"]
    assert main(["kb", "gene", "EKLF", "--kb", str(out)]) == 0
    assert "KLF1: KLF transcription factor 1" in capsys.readouterr().out
    assert (
        main(
            ["kb", "verify", "TP53 represses MDM2", "--json", "--kb", str(out), "--mode", "lexical"]
        )
        == 0
    )
    v = json.loads(capsys.readouterr().out)
    assert v["label"] == "contradicted" and "PMID:10566557" in v["evidence"][0]["citations"]


def test_kb_errors_exit_2(tmp_path, capsys):
    assert main(["kb", "search", "x", "--kb", str(tmp_path / "none.sqlite")]) == 2
    assert "vcell kb build" in capsys.readouterr().err
