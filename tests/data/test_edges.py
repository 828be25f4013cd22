"""The one edge-table format (vc.data._edges): readers, metrics, simulator and GRN
evaluation accept the same columns and sign words."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import virtualcell as vc
from virtualcell.data._edges import COLUMN_ALIASES, normalize_edge_table, parse_signs


def test_aliases_map_to_the_canonical_columns():
    table = pd.DataFrame(
        {
            "Gene1": [" A", "B"],
            "Gene2": ["B", "C"],
            "Type": ["+", "repression"],
            "EdgeWeight": ["0.5", 2],
        }
    )
    out = normalize_edge_table(table, what="t", need_score=True)
    assert list(out.columns) == ["regulator", "target", "sign", "score"]
    assert out["regulator"].tolist() == ["A", "B"]  # stripped
    assert out["sign"].tolist() == [1, -1] and out["score"].tolist() == [0.5, 2.0]
    assert set(COLUMN_ALIASES.values()) == {"regulator", "target", "sign", "score", "label"}


def test_sign_words_numbers_and_unknowns():
    words = ["+", "-", "+1", "-1", "activation", "Repressor", "inhibition", "?", "", "0", 3.5, -2]
    np.testing.assert_array_equal(parse_signs(words), [1, -1, 1, -1, 1, -1, -1, 0, 0, 0, 1, -1])
    with pytest.raises(vc.ValidationError, match=r"unknown sign value\(s\) \['sideways'\]"):
        parse_signs(["+", "sideways"])


def test_errors_name_the_table_and_its_columns():
    with pytest.raises(vc.ValidationError, match=r"scores lacks column\(s\) \['score'\]"):
        normalize_edge_table(
            pd.DataFrame({"TF": ["A"], "target": ["B"]}), what="scores", need_score=True
        )
    with pytest.raises(vc.ValidationError, match="several columns meaning"):
        normalize_edge_table(pd.DataFrame({"Gene1": ["A"], "source": ["A"], "target": ["B"]}))
    with pytest.raises(vc.ValidationError, match="must be a pandas DataFrame"):
        normalize_edge_table([("A", "B")])
    with pytest.raises(vc.ValidationError, match="non-numeric"):
        normalize_edge_table(pd.DataFrame({"regulator": ["A"], "target": ["B"], "score": ["x"]}))


def test_every_consumer_reads_the_same_beeline_style_table(tmp_path):
    """Reader, metrics, GRN evaluation and simulator agree on one Gene1/Gene2/Type table."""
    truth = pd.DataFrame(
        {"Gene1": ["A", "A", "B"], "Gene2": ["B", "C", "C"], "Type": ["+", "-", "activator"]}
    )
    path = tmp_path / "refNetwork.csv"
    truth.to_csv(path, index=False)
    read = vc.data.read_network(path)
    assert read["sign"].tolist() == [1, -1, 1]
    genes = ["A", "B", "C", "D"]
    scores = pd.DataFrame(
        {"source": ["A", "B", "A", "D"], "to": ["B", "C", "D", "A"], "importance": [4, 3, 2, 1]}
    )
    direct = vc.metrics.auprc(truth, scores, genes=genes)
    assert direct == pytest.approx(vc.metrics.auprc(read, scores, genes=genes))
    assert vc.grn.evaluate(scores, truth, genes=genes)["auprc"] == pytest.approx(direct)
    grn = vc.sim.GRN.from_edges(truth)
    assert grn.edges["sign"].tolist() == [1, -1, 1]
    assert vc.metrics.signed_accuracy(truth, truth.assign(Type=["+", "+", "+"])) == pytest.approx(
        2 / 3
    )
