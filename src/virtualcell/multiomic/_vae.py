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
    **_: Any,
) -> np.ndarray:
    """Posterior mean of a joint VAE of the modalities (NB / Poisson likelihoods)."""
    import torch
    from torch import nn

    gen = torch.Generator().manual_seed(int(seed))
    torch.manual_seed(int(seed))
    names = list(mats)
    kinds = [modality_kind(m) for m in names]
    counts = [torch.from_numpy(_counts(mats[m])) for m in names]
    totals = [c.sum(dim=1, keepdim=True).clamp_min(1.0) for c in counts]
    inputs = torch.cat([torch.log1p(c / t * 1e4) for c, t in zip(counts, totals, strict=True)], 1)
    n, d_in = inputs.shape
    sizes = [c.shape[1] for c in counts]

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

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            h = self.encoder(x)
            return self.mu(h), self.logvar(h).clamp(-10, 10)

    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    warmup = max(1, n_steps // 3)

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

    net.train()
    for step in range(int(n_steps)):
        idx = torch.randint(0, n, (min(int(batch_size), n),), generator=gen)
        mu, logvar = net(inputs[idx])
        z = mu + torch.randn(mu.shape, generator=gen) * torch.exp(0.5 * logvar)
        rec = sum(nll(m, z, idx) for m in range(len(names)))
        kl = -0.5 * (1 + logvar - mu**2 - logvar.exp()).sum(1)
        loss = (rec + min(1.0, step / warmup) * kl).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        mu, _ = net(inputs)
    return mu.numpy().astype(np.float64)
