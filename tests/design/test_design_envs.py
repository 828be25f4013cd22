"""Screen environments: hidden truth, noisy measurements, specs, validation."""

from __future__ import annotations

import numpy as np
import pytest

import virtualcell as vc
from virtualcell import ValidationError


def test_knockout_screen_truth_and_view(tiny_knockout):
    env = tiny_knockout
    assert env.spec.name == "sim_knockout" and env.spec.kind == "single"
    assert len(env.candidates) == 30 and env.n_hits == 2  # ceil(5% of 30)
    hits = env.hits
    truth = env.truth()
    # the hits are the candidates with the largest true phenotype
    assert set(hits) == set(truth.sort_values(ascending=False).index[:2])
    view = env.view()
    # the public view carries no truth
    assert not any(hasattr(view, a) for a in ("hits", "truth", "_truth"))
    assert view.n_hits == 2 and view.candidates == env.candidates
    d = env.spec.to_dict()
    assert d["name"] == "sim_knockout" and d["seed"] == 0 and d["params"]["n_genes"] == 30


def test_measurement_is_noisy_not_the_truth(tiny_knockout):
    env = tiny_knockout
    truth = env.truth().sort_values()
    strong, weak = list(truth.index[-4:]), list(truth.index[:4])
    labels = strong + weak
    m1, cells = env.measure(labels, round=1)
    m2, _ = env.measure(labels, round=2)
    v1 = np.array([m.phenotype for m in m1])
    v2 = np.array([m.phenotype for m in m2])
    assert not np.allclose(v1, v2)  # a new round, new cells: new noise
    assert not np.allclose(v1, truth.loc[labels].to_numpy())
    # but the measurement tracks the truth: the strongest knockouts measure stronger
    mean = (v1 + v2) / 2
    assert mean[:4].mean() > mean[4:].mean()
    assert cells.n_obs == 8 * 20 + 50  # cells per knockout + the batch's control arm
    again, _ = env.measure(labels, round=1)  # same round, same seed: reproducible
    np.testing.assert_allclose([m.phenotype for m in again], v1)


def test_same_seed_same_truth_other_seed_other_truth(tiny_options):
    TINY = tiny_options
    a = vc.design.make_env("sim_knockout", seed=3, **TINY)
    b = vc.design.make_env("sim_knockout", seed=3, **TINY)
    c = vc.design.make_env("sim_knockout", seed=4, **TINY)
    assert a.hits == b.hits
    np.testing.assert_allclose(a.truth(), b.truth())
    assert not np.allclose(a.truth().to_numpy(), c.truth().reindex(a.candidates).to_numpy())


def test_pair_screen_measures_singles_first(tiny_pairs):
    env = tiny_pairs
    assert env.spec.kind == "pair" and len(env.candidates) == 15  # 6 choose 2
    assert all("+" in c for c in env.candidates)
    first, _cells = env.initial()
    assert sorted(m.perturbation for m in first) == sorted(env.pool)
    assert all(m.round == 0 for m in first)


def test_program_screen_excludes_the_program(tiny_options):
    TINY = tiny_options
    env = vc.design.make_env("sim_program", seed=0, program_size=4, **TINY)
    program = set(env.phenotype.program)
    assert len(program) == 4 and not program & set(env.candidates)


def test_dream4_screen(shared_data):
    env = vc.design.make_env("dream4", seed=0)
    assert len(env.candidates) == 120  # 100 singles + 20 dual knockouts
    assert env.n_hits == 6
    m, cells = env.measure(env.hits[:2] + env.candidates[:2], round=1)
    assert cells.n_obs == 2 + 4 * 2  # 2 replicates of the control and of each knockout
    values = {x.perturbation: x.phenotype for x in m}
    assert min(values[h] for h in env.hits[:2]) > 0


@pytest.mark.parametrize(
    ("name", "options", "match"),
    [
        ("sim_knockout", {"n_gens": 10}, "no option"),
        ("sim_knockout", {"cells": 0}, "cells"),
        ("sim_knockout", {"hit_fraction": 0}, "hit_fraction"),
        ("nope", {}, "unknown screen environment"),
    ],
)
def test_bad_environment_options(name, options, match):
    with pytest.raises(ValidationError, match=match):
        vc.design.make_env(name, seed=0, **options)


def test_bad_seed(tiny_options):
    TINY = tiny_options
    with pytest.raises(ValidationError, match="seed"):
        vc.design.make_env("sim_knockout", seed=-1, **TINY)
