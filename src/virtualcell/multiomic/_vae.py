"""A small joint variational autoencoder of paired modalities (totalVI / MultiVI style).

One encoder reads every modality of a cell (``log1p`` of its counts scaled to 10,000, the
modalities concatenated) and outputs a Gaussian posterior over a ``n_latent``-dimensional
cell state ``z``; one decoder per modality maps ``z`` to the share of the cell's counts
each feature receives (a softmax), so the expected count of feature ``f`` is that share
times the cell's observed total of the modality. Likelihoods: negative binomial with a
learned dispersion per feature for ``rna`` and ``protein``; Poisson for ``atac`` reads.
The loss is the negative log-likelihood summed over every feature of every modality plus
the KL divergence to a standard normal prior (its weight warmed up from 0 to 1 over the
first third of training). Each modality's likelihood is in its own counts, so a modality
weighs by how much information its counts carry rather than by a fixed share. The
embedding is the posterior mean. Trained with Adam on CPU in seconds to a minute at
5,000 cells.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._utils import log
from ._modality import modality_kind

__all__ = ["joint_vae"]


def _counts(x: Any) -> np.ndarray:
    return np.asarray(x.toarray() if hasattr(x, "toarray") else x, dtype=np.float32)


def joint_vae(
    mats: dict[str, Any],
    *,
    n_comps: int = 20,
    seed: int = 0,
    n_latent: int = 10,
    n_hidden: int = 128,
    n_steps: int = 1500,
    batch_size: int = 128,
    lr: float = 1e-3,
    modality_dropout: float = 0.5,
    val_fraction: float = 0.0,
    eval_every: int = 100,
    patience: int = 3,
    warmup_steps: int | None = None,
    per_modality: bool = False,
    **_: Any,
) -> Any:
    """Posterior mean of a joint VAE of the modalities (NB / Poisson likelihoods).

    ``modality_dropout``: share of the training cells whose encoder sees one modality only
    (chosen uniformly; the others' inputs zeroed and flagged absent), every modality still
    reconstructed, so that the encoder also gives the posterior from one modality alone.
    ``val_fraction`` > 0: that share of the cells is held out of the gradient steps; every
    ``eval_every`` steps after the KL warm-up their loss is measured, the weights with the
    lowest one are kept, and training stops after ``patience`` evaluations without
    improvement (training length chosen by validation loss; ``n_steps`` is the cap).
    ``warmup_steps``: KL warm-up length (default a third of ``n_steps``).
    With ``per_modality`` returns ``(z, {modality: z_m})`` (``None`` instead of the dict
    when ``modality_dropout`` is 0: the encoder never learnt to read one modality).
    """
    import copy

    import torch
    from torch import nn

    gen = torch.Generator().manual_seed(int(seed))
    torch.manual_seed(int(seed))
    names = list(mats)
    kinds = [modality_kind(m) for m in names]
    counts = [torch.from_numpy(_counts(mats[m])) for m in names]
    totals = [c.sum(dim=1, keepdim=True).clamp_min(1.0) for c in counts]
    inputs = torch.cat([torch.log1p(c / t * 1e4) for c, t in zip(counts, totals, strict=True)], 1)
    n = inputs.shape[0]
    n_mod = len(names)
    sizes = [c.shape[1] for c in counts]
    owner = torch.repeat_interleave(torch.arange(n_mod), torch.tensor(sizes))  # feature -> mod
    d_in = inputs.shape[1] + n_mod

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = nn.Sequential(
                nn.Linear(d_in, n_hidden), nn.LayerNorm(n_hidden), nn.ReLU(),
                nn.Linear(n_hidden, n_hidden), nn.LayerNorm(n_hidden), nn.ReLU(),
            )  # fmt: skip
            self.mu = nn.Linear(n_hidden, n_latent)
            self.logvar = nn.Linear(n_hidden, n_latent)
            self.decoders = nn.ModuleList(
                nn.Sequential(nn.Linear(n_latent, n_hidden), nn.ReLU(), nn.Linear(n_hidden, s))
                for s in sizes
            )
            self.log_theta = nn.ParameterList(nn.Parameter(torch.zeros(s)) for s in sizes)

        def forward(self, x: torch.Tensor, present: torch.Tensor) -> tuple[torch.Tensor, ...]:
            h = self.encoder(torch.cat([x * present[:, owner], present], dim=1))
            return self.mu(h), self.logvar(h).clamp(-10, 10)

    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    warmup = max(1, int(warmup_steps) if warmup_steps is not None else int(n_steps) // 3)
    n_val = min(round(float(val_fraction) * n), n - 2) if val_fraction > 0 else 0
    if n_val > 0:
        perm = torch.randperm(n, generator=gen)
        val_idx, train_idx = perm[:n_val], perm[n_val:]
    else:
        val_idx, train_idx = torch.arange(0), torch.arange(n)
    drop = float(modality_dropout) if n_mod > 1 else 0.0

    def nll(m: int, z: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        y = counts[m][idx]
        mean = torch.softmax(net.decoders[m](z), dim=1) * totals[m][idx]
        if kinds[m] == "atac":
            return -(y * torch.log(mean + 1e-8) - mean - torch.lgamma(y + 1)).sum(1)
        theta = torch.exp(net.log_theta[m])
        log_p = (
            torch.lgamma(y + theta) - torch.lgamma(theta) - torch.lgamma(y + 1)
            + theta * (torch.log(theta + 1e-8) - torch.log(theta + mean + 1e-8))
            + y * (torch.log(mean + 1e-8) - torch.log(theta + mean + 1e-8))
        )  # fmt: skip
        return -log_p.sum(1)

    def all_present(k: int) -> torch.Tensor:
        return torch.ones(k, n_mod)

    def loss_of(idx: torch.Tensor, present: torch.Tensor, beta: float, sample: bool) -> Any:
        mu, logvar = net(inputs[idx], present)
        z = mu + torch.randn(mu.shape, generator=gen) * torch.exp(0.5 * logvar) if sample else mu
        rec = sum(nll(m, z, idx) for m in range(n_mod))
        kl = -0.5 * (1 + logvar - mu**2 - logvar.exp()).sum(1)
        return (rec + beta * kl).mean()

    best, best_state, bad, best_step = float("inf"), None, 0, 0
    step = -1
    net.train()
    for step in range(int(n_steps)):
        pick = torch.randint(
            0, len(train_idx), (min(int(batch_size), len(train_idx)),), generator=gen
        )
        idx = train_idx[pick]
        present = all_present(len(idx))
        if drop > 0:
            alone = torch.rand(len(idx), generator=gen) < drop
            keep = torch.randint(0, n_mod, (len(idx),), generator=gen)
            one = nn.functional.one_hot(keep, n_mod).float()
            present = torch.where(alone[:, None], one, present)
        loss = loss_of(idx, present, min(1.0, step / warmup), sample=True)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if n_val and step >= warmup and (step + 1) % int(eval_every) == 0:
            net.eval()
            with torch.no_grad():
                val = float(loss_of(val_idx, all_present(n_val), 1.0, sample=False))
            net.train()
            if val < best - 1e-3 * abs(best if np.isfinite(best) else 0.0):
                best, best_state, bad, best_step = val, copy.deepcopy(net.state_dict()), 0, step + 1
            else:
                bad += 1
                if bad >= int(patience):
                    break
    if best_state is not None:
        net.load_state_dict(best_state)
        log(
            f"joint_vae: trained {step + 1} steps, kept step {best_step} (validation loss {best:.4g})"
        )
    net.eval()
    with torch.no_grad():
        z = net(inputs, all_present(n))[0].numpy().astype(np.float64)
        if not per_modality:
            return z
        if drop <= 0:
            return z, None
        parts = {}
        for m, name in enumerate(names):
            one = torch.zeros(n, n_mod)
            one[:, m] = 1.0
            parts[name] = net(inputs, one)[0].numpy().astype(np.float64)
    return z, parts
