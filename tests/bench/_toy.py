"""A toy benchmark task for the runner tests: instant cells with known values.

Methods: ``mean`` and ``zero`` (baselines), ``good`` (always 0.1 above ``mean``),
``noisy`` (``mean`` plus seeded noise), ``broken`` (raises), ``picky`` (not applicable
on split ``b``). The metric ``score`` of ``mean`` on dataset ``d`` split ``s`` with seed
``k`` is ``base[d] + 0.01 * k`` (+ 0.02 on split ``b``; ``base`` = 0.5, 0.6, 0.4, 0.55
for ``d1`` .. ``d4``); ``error`` is ``1 - score``. Environment variable ``VC_TOY_SLEEP`` makes every cell sleep that many
seconds (the resume test kills a run in the middle).
"""

from __future__ import annotations

import functools
import os
import time

import numpy as np

from virtualcell.bench import Dataset, Method, Metric, Task

BASE = {"d1": 0.5, "d2": 0.6, "d3": 0.4, "d4": 0.55}


def load(name: str) -> dict:
    return {"name": name, "base": BASE[name]}


def datasets(preset, user):
    if user is not None:
        return [Dataset("user", functools.partial(load, "d1"), "user", "user")]
    return [
        *(
            Dataset(d, functools.partial(load, d), f"toy {d}", "simulated", splits=("a", "b"))
            for d in BASE
        ),
        Dataset("gone", functools.partial(load, "d1"), "missing", unavailable="not here"),
    ]


def methods():
    return [
        Method("mean", baseline=True),
        Method("zero", baseline=True),
        Method("good"),
        Method("noisy", presets=("demo", "full")),
        Method("broken"),
        Method("picky"),
        Method("needs_pkg", peer=True, requires=("surely_not_a_module_xyz",)),
    ]


def applicable(data, split, method):
    return "only on split a" if method == "picky" and split == "b" else None


def score(data, split, method, seed):
    base = data["base"] + 0.01 * seed + (0.02 if split == "b" else 0.0)
    if method == "mean":
        return base
    if method == "zero":
        return 0.0
    if method in ("good", "picky"):
        return base + 0.1
    if method == "noisy":
        return base + float(np.random.default_rng(seed).normal(0, 0.05))
    raise RuntimeError(f"method {method} is broken on purpose")


def run(data, *, split, method, seed, options, context):
    time.sleep(float(os.environ.get("VC_TOY_SLEEP", "0")))
    value = score(data, split, method, seed)
    return [{"metric": "score", "value": value}, {"metric": "error", "value": 1 - value}]


def describe(data):
    return {"base": data["base"]}


TOY = Task(
    name="toy",
    version="1",
    description="Toy task with known values",
    metrics=(Metric("score", True, 1.0, "toy score"), Metric("error", False, None, "1 - score")),
    datasets=datasets,
    methods=methods,
    run=run,
    applicable=applicable,
    describe=describe,
    user_flags=("label_key",),
    required_flags=("label_key",),
)
