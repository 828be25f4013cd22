"""The unified benchmark and main job (``vc.bench``, CLI ``vcell bench``).

A registry of tasks x datasets x methods x splits x metrics (:data:`TASKS`, one
:class:`Task` adapter per task), a runner that executes the grid with seeds on local
processes or a Dask cluster, measures each cell's wall time and peak memory, stores every
finished cell at once (an interrupted run resumes; a rerun recomputes nothing), and writes
a tidy ``results.parquet`` / ``results.csv`` and a self-contained ``report.html`` +
``report.md`` with a leaderboard per task, each method beside its baselines::

    import virtualcell as vc
    res = vc.bench.run("quick", out="results/quick", figures=vc.pl.bench_figures)
    res.table.head()          # task, dataset, split, method, seed, metric, value, ...

Presets: ``quick`` (seconds, the tests), ``demo`` (data shipped with the install; the
main job of ``make demo``), ``full`` (every reachable dataset). See ``docs/bench.md``
for the adapter contract a new task implements.
"""

from ._plan import Plan, plan
from ._presets import PRESETS, Preset
from ._runner import BenchResult, report, run
from ._stats import breakdown, leaderboard, normalised, reference_for
from ._store import RESULT_COLUMNS, read_results
from ._task import Dataset, Method, Metric, RunContext, Task, UserData
from ._tasks import TASKS

__all__ = [
    "PRESETS",
    "RESULT_COLUMNS",
    "TASKS",
    "BenchResult",
    "Dataset",
    "Method",
    "Metric",
    "Plan",
    "Preset",
    "RunContext",
    "Task",
    "UserData",
    "breakdown",
    "leaderboard",
    "normalised",
    "plan",
    "read_results",
    "reference_for",
    "report",
    "run",
]
