"""More than one modality per cell (``vc.multiomic``): RNA + protein (CITE-seq) and
RNA + chromatin accessibility co-embedded, and protein imputed from RNA.

Multi-modal data are read from MuData ``.h5mu`` files; ground truth comes from the
simulator's protein and accessibility layers.
"""

__all__: list[str] = []
