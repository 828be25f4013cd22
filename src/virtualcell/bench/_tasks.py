"""The table of benchmark tasks: every task adapter the benchmark runs, in one place.

To add a task (annotation, ...),
write its adapter (a :class:`~virtualcell.bench.Task`; see ``docs/bench.md`` and the
adapters below) and add one line to :func:`_builtin`. Users add their own at run time
with ``vc.bench.TASKS.add(name, task)``.
"""

from __future__ import annotations

from collections.abc import Iterator

from .._utils import Entry, Registry
from ._task import Task

__all__ = ["TASKS"]


def _builtin() -> Iterator[Entry[Task]]:
    from ._agent import AGENT_TASK
    from ._design import DESIGN_TASK
    from ._grn import GRN_TASK
    from ._multiomic import MULTIOMIC_IMPUTE_TASK, MULTIOMIC_TASK
    from ._perturb import PERTURB_TASK
    from ._represent import REPRESENT_TASK
    from ._spatial_comm import SPATIAL_COMM_TASK

    for task in (
        GRN_TASK, REPRESENT_TASK, PERTURB_TASK, AGENT_TASK, DESIGN_TASK, SPATIAL_COMM_TASK,
        MULTIOMIC_TASK, MULTIOMIC_IMPUTE_TASK,
    ):  # fmt: skip
        yield Entry(task.name, task, task.description)
    from ._spatial_niches import SPATIAL_NICHES_TASK

    yield Entry(SPATIAL_NICHES_TASK.name, SPATIAL_NICHES_TASK, SPATIAL_NICHES_TASK.description)


#: ``name -> Task``: the tasks of the benchmark.
TASKS: Registry[Task] = Registry("benchmark task", builtins=_builtin)
