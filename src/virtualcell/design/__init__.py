"""Closed-loop experiment design (``vc.design``): virtual screens with a hidden truth,
policies that choose the next perturbations, and discovery curves.

An environment (:data:`ENVS`) holds a screen's hidden truth and answers each proposed
batch with noisy measurements; a policy (:data:`POLICIES`) proposes the next batch from
the history (``propose(history, budget) -> perturbations``); :func:`run_screen` closes
the loop and scores the discovery curve against the true hits; :func:`evaluate` puts
screen results in the evaluation contract (:class:`virtualcell.metrics.EvalResult`)::

    import virtualcell as vc
    res = vc.design.run_screen("sim_knockout", "active_ucb", rounds=3, batch=8, seed=0)
    print(res.hit_rate, res.curve)
    results = vc.design.compare(["sim_knockout"], ["random", "prior"], seeds=[0, 1])
    print(vc.design.summarize(results))

Every policy is a :class:`Policy` (abstract ``propose``). The LLM agent policy is
``vc.agent.AgentPolicy`` (one layer up): pass an instance as the policy; it is not in
:data:`POLICIES`, which only this package fills. CLI: ``vcell design`` (``--policy agent``
builds one). See ``docs/design.md``.
"""

from ._active import ActivePolicy, candidate_features, predict_candidates, virtual_cell_scores
from ._dream4 import Dream4Screen
from ._env import EnvSpec, History, Measurement, ScreenEnv, ScreenView
from ._phenotypes import Impact, Interaction, Phenotype, Program, readout_genes
from ._policies import Policy, PriorPolicy, RandomPolicy, network_prior
from ._registry import ENVS, POLICIES, make_env, make_policy
from ._run import ScreenResult, compare, evaluate, run_screen, summarize
from ._sim import SimKnockoutScreen, SimPairScreen, SimProgramScreen
from ._tools import gene_neighbors, screen_results

__all__ = [
    "ENVS",
    "POLICIES",
    "ActivePolicy",
    "Dream4Screen",
    "EnvSpec",
    "History",
    "Impact",
    "Interaction",
    "Measurement",
    "Phenotype",
    "Policy",
    "PriorPolicy",
    "Program",
    "RandomPolicy",
    "ScreenEnv",
    "ScreenResult",
    "ScreenView",
    "SimKnockoutScreen",
    "SimPairScreen",
    "SimProgramScreen",
    "candidate_features",
    "compare",
    "evaluate",
    "gene_neighbors",
    "make_env",
    "make_policy",
    "network_prior",
    "predict_candidates",
    "readout_genes",
    "run_screen",
    "screen_results",
    "summarize",
    "virtual_cell_scores",
]
