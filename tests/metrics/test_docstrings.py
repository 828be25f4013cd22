"""Each metric's docstring states its direction and best value as ``METRIC_SPECS`` does.

The project rule: metrics are defined once and their exact definitions documented. The
direction and bound of every reported metric live in :data:`vc.metrics.METRIC_SPECS`;
the function computing it must say the same in its docstring ("higher is better" /
"lower is better", and the bound as an end of its range), so that the two cannot drift.
"""

from __future__ import annotations

import inspect

import pytest

import virtualcell as vc

#: Reported metric name -> the exported function computing it (where the names differ).
FUNCTION_OF = {
    "mse_top20_de": "mse_top_de",
    "l2": "l2_top_expressed",
    "pds": "discrimination_score",
    "pearson_delta_top20_de": "pearson_delta_top_de",
    "hits": "hits_at_budget",
}
PAIRS = sorted(
    (name, FUNCTION_OF.get(name, name))
    for name in vc.metrics.METRIC_SPECS
    if FUNCTION_OF.get(name, name) in vc.metrics.__all__
)


def test_the_pairs_cover_the_metric_functions():
    # the reported metrics computed by one function each (task-level rates such as
    # success_rate or novel_flagged are computed by their task, not here)
    assert len(PAIRS) >= 20, PAIRS


@pytest.mark.parametrize(("name", "function"), PAIRS)
def test_docstring_states_the_direction_and_bound_of_the_spec(name, function):
    spec = vc.metrics.metric_spec(name)
    doc = " ".join(inspect.getdoc(getattr(vc.metrics, function)).split())
    said = "higher is better" if spec.higher_is_better else "lower is better"
    other = "lower is better" if spec.higher_is_better else "higher is better"
    assert said in doc, f"{function}: docstring does not say {said!r} ({name})"
    assert other not in doc, f"{function}: docstring says {other!r}, the spec does not"
    if spec.bound == 1.0:
        assert "1]" in doc or "at most 1" in doc.lower(), f"{function}: range not up to 1"
    elif spec.bound == 0.0:
        assert "[0," in doc, f"{function}: range does not start at 0"
