"""Preprocessing wrappers over scanpy that record what was done (``vc.pp``).

Every function works in place, keeps raw counts in ``layers["counts"]``, refuses
unsuitable input with a :class:`~virtualcell.VirtualCellError` (e.g. logging data twice,
normalising negative values), and appends a record (step, parameters, cells/genes before
and after) to ``uns["vc"]["preprocessing"]``; :func:`history` lists them in order.
"""

from ._normalize import highly_variable, log1p, normalize, standard, variable_gene_mask
from ._qc import qc
from ._record import history

__all__ = [
    "highly_variable",
    "history",
    "log1p",
    "normalize",
    "qc",
    "standard",
    "variable_gene_mask",
]
