"""Perturbation-label normalisation on small AnnData in each published style."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from virtualcell._errors import ValidationError
from virtualcell.data import standardize_perturbations


def _adata(labels: list) -> ad.AnnData:
    obs = pd.DataFrame({"condition": labels}, index=[f"c{i}" for i in range(len(labels))])
    return ad.AnnData(X=np.zeros((len(labels), 2), dtype=np.float32), obs=obs)


def _out(adata: ad.AnnData, **kwargs) -> list:
    res = standardize_perturbations(adata, perturbation_key="condition", **kwargs)
    return [None if pd.isna(v) else v for v in res.obs["perturbation"].tolist()]


def test_gears_style():
    labels = ["ctrl", "KLF1+ctrl", "ctrl+CEBPE", "KLF1+CEBPE", "CEBPE+KLF1"]
    assert _out(_adata(labels)) == ["control", "KLF1", "CEBPE", "CEBPE+KLF1", "CEBPE+KLF1"]


def test_scperturb_style_underscore_combos():
    labels = ["control", "AHR", "AHR_KLF1", "KLF1_AHR", "HLA-A"]
    assert _out(_adata(labels)) == ["control", "AHR", "AHR+KLF1", "AHR+KLF1", "HLA-A"]


def test_guide_names_adamson_and_replogle():
    labels = [
        "ATF6_pDS269",  # Adamson plasmid ids
        "SPI1_pBA581",
        "62(mod)_pBA581",  # Adamson non-targeting guide: number + plasmid -> control
        "5_AAAS_P1P2_ENSG00000094914",  # Replogle gene_transcript
        "non-targeting_00012",
        "PAX6_sg2",
    ]
    out = _out(_adata(labels))
    assert out == ["ATF6", "SPI1", "control", "AAAS", "control", "PAX6"]


def test_explicit_separator_and_comma_lists():
    assert _out(_adata(["A,B", "B", "NT"])) == ["A+B", "B", "control"]
    # with '+' given explicitly, '_' stays part of the token
    assert _out(_adata(["X_Y", "ctrl"]), separator_in="+") == ["X_Y", "control"]


def test_control_values_case_insensitive_and_custom():
    assert _out(
        _adata(["Non-Targeting", "CONTROL", "GFP"]),
        control_values=("control", "non-targeting", "gfp"),
    ) == [
        "control",
        "control",
        "control",
    ]


def test_unmapped_labels_reported_and_input_untouched():
    adata = _adata(["A", None, "", "ctrl"])
    before = adata.obs["condition"].copy()
    res = standardize_perturbations(adata, perturbation_key="condition")
    assert res is not adata
    pd.testing.assert_series_equal(adata.obs["condition"], before)
    assert "perturbation" not in adata.obs
    report = res.uns["vc"]["perturbation_labels"]
    assert report["n_unmapped_cells"] == 2
    assert report["n_control_cells"] == 1
    assert report["mapping"]["A"] == "A"
    assert res.obs["perturbation"].isna().sum() == 2


def test_inplace_keeps_original_column():
    adata = _adata(["ctrl", "A+B"])
    adata.obs["perturbation"] = adata.obs["condition"]
    out = standardize_perturbations(adata, perturbation_key="perturbation", inplace=True)
    assert out is adata
    assert adata.obs["perturbation"].tolist() == ["control", "A+B"]
    assert adata.obs["perturbation_original"].tolist() == ["ctrl", "A+B"]


def test_missing_column_is_clear():
    with pytest.raises(ValidationError, match="no perturbation column 'nope'"):
        standardize_perturbations(_adata(["A"]), perturbation_key="nope")


def test_common_control_abbreviations_are_controls():
    """``NTC`` (non-targeting control), ``scrambled`` guides and ``non targeting`` with a
    space are controls (they were read as perturbations of genes named so, and a file
    with only them had 'no control cells'); a gene of the data keeps its name."""
    labels = ["NTC", "scrambled", "Non Targeting", "NTC_3", "KLF1"]
    assert _out(_adata(labels)) == ["control"] * 4 + ["KLF1"]
    assert _out(_adata(["NTC", "KLF1"]), genes=["NTC", "KLF1"]) == ["NTC", "KLF1"]


NO_GUIDE = ["no_guide", "no-guide", "No Guide", "None", "unassigned", "multiplet", "Multiple",
            "NA", "", "no_guide_2"]  # fmt: skip


@pytest.mark.parametrize("genes", [None, ["KLF1", "AHR", "no", "guide"]])
def test_cells_without_a_guide_are_unassigned_never_genes(genes):
    """``no_guide`` split on ``_`` was read as the gene ``no`` (``guide`` dropped as a
    guide suffix); ``unassigned`` / ``multiplet`` as genes of those names. Even when
    ``no`` and ``guide`` are measured genes the whole label is the unassigned word."""
    labels = ["control", "KLF1", "KLF1_AHR", *NO_GUIDE, "no_guide", np.nan]
    adata = _adata(labels)
    res = standardize_perturbations(adata, perturbation_key="condition", genes=genes)
    out = [None if pd.isna(v) else v for v in res.obs["perturbation"].tolist()]
    assert out[:3] == ["control", "KLF1", "AHR+KLF1"]
    assert out[3:] == [None] * (len(labels) - 3)
    report = res.uns["vc"]["perturbation_labels"]
    assert report["n_unmapped_cells"] == len(labels) - 3
    assert report["unassigned"]["no_guide"] == 2 and report["unassigned"]["NaN"] == 1
    assert report["unassigned"]["multiplet"] == 1 and report["unassigned"]["no-guide"] == 1
    assert set(res.obs["perturbation"].dropna()) == {"control", "KLF1", "AHR+KLF1"}


def test_unassigned_words_can_be_switched_off():
    out = _out(_adata(["ctrl", "KLF1", "multiplet", "None"]), unassigned_values=("None",))
    assert out == ["control", "KLF1", "multiplet", None]


def test_unassigned_word_that_cannot_be_told_apart_is_an_error():
    """A measured gene spelt like an unassigned word, or a label whose only "gene" left
    after dropping guide suffixes is a piece of one (``no_guide_x`` -> ``no``)."""
    with pytest.raises(ValidationError, match=r"obs\['condition'\].*'NONE' is a measured gene"):
        _out(_adata(["ctrl", "KLF1", "NONE"]), genes=["KLF1", "NONE"])
    with pytest.raises(ValidationError, match=r"'no_guide_sg1' would be read as the gene 'no'"):
        _out(_adata(["ctrl", "KLF1", "no_guide_sg1"]))


def test_is_unassigned():
    from virtualcell.data import is_unassigned

    assert all(is_unassigned(v) for v in [*NO_GUIDE, None, np.nan, "MULTIPLET-3"])
    assert not any(
        is_unassigned(v) for v in ["KLF1", "NOG", "NT", "control", "no", "NAA10", "NA14"]
    )


def test_mixed_combination_spellings_in_one_column():
    """``A|B`` next to ``A_B`` (and ``A+B``, ``A,B``): with the separator detected as
    ``|``, ``A_B`` was one "gene" ``A_B``; the measured genes now cut it. A token that is a
    measured gene stays whole (``HLA_A``); one that cuts two ways is refused."""
    genes = ["KLF1", "AHR", "CEBPE", "HLA_A", "HLA", "A"]
    labels = ["ctrl", "KLF1|AHR", "AHR_CEBPE", "CEBPE+KLF1", "KLF1,CEBPE", "KLF1_sg2",
              "HLA_A|KLF1", "X_Y"]  # fmt: skip
    assert _out(_adata(labels), genes=genes) == [
        "control", "AHR+KLF1", "AHR+CEBPE", "CEBPE+KLF1", "CEBPE+KLF1", "KLF1",
        "HLA_A+KLF1", "X_Y",
    ]  # fmt: skip
    # without var_names nothing decides how '_' cuts: kept as written
    assert _out(_adata(["ctrl", "KLF1|AHR", "AHR_CEBPE"])) == ["control", "AHR+KLF1", "AHR_CEBPE"]
    with pytest.raises(ValidationError, match=r"'KLF1\|HLA_A_AHR' = "):
        _out(
            _adata(["ctrl", "KLF1|HLA_A_AHR"]), genes=["KLF1", "HLA", "A", "AHR", "HLA_A", "A_AHR"]
        )


def test_pertpy_negative_is_unassigned_negative_control_is_control():
    """pertpy's ``assign_to_max_guide`` labels cells with no guide above its threshold
    ``Negative`` (its default ``no_grna_assigned_key``): those cells carry no known guide,
    so they are not controls (they were, through the control word ``negative``).
    Negative-control guides spelt ``negative_control`` / ``NegCtrl`` stay controls."""
    out = _out(_adata(["negative_control", "NegCtrl", "KLF1", "Negative", "negative"]))
    assert out == ["control", "control", "KLF1", None, None]
