"""Dataset registry: bundled, mirrored and downloadable datasets (``vc.datasets``).

``names()`` lists the registry, ``info(name)`` describes an entry, ``load(name)`` returns
AnnData; each dataset also has its own function (``vc.datasets.norman2019()``).
``read(source)`` takes a path *or* a registry name (the data layer's
:func:`virtualcell.data.read` takes paths only). Files are
looked up in the ``VIRTUALCELL_DATA`` mirror, then the cache, then downloaded with a
sha256 check (see :func:`fetch`).
"""

from ._api import (
    adamson2016,
    krumsiek11,
    norman2019,
    pbmc68k_reduced,
    replogle2022_k562_essential,
    replogle2022_rpe1,
    segerstolpe2016,
    tabula_sapiens_blood,
    tenx_10k_subset,
    wu2020,
    zheng68k,
)
from ._download import cache_folder, fetch, sha256sum
from ._entries import DatasetEntry, RemoteFile
from ._read import is_dataset_name, read
from ._registry import info, load, names, table

__all__ = [
    "DatasetEntry",
    "RemoteFile",
    "adamson2016",
    "cache_folder",
    "fetch",
    "info",
    "is_dataset_name",
    "krumsiek11",
    "load",
    "names",
    "norman2019",
    "pbmc68k_reduced",
    "read",
    "replogle2022_k562_essential",
    "replogle2022_rpe1",
    "segerstolpe2016",
    "sha256sum",
    "table",
    "tabula_sapiens_blood",
    "tenx_10k_subset",
    "wu2020",
    "zheng68k",
]
