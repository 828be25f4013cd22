"""Which torch device to run on: one rule for training and inference."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .._errors import ValidationError

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["DEVICE_CHOICES", "DEVICE_PATTERN", "check_device", "resolve_device"]

#: Device names accepted by ``--device`` (plus ``cuda:N``).
DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def check_device(name: str) -> str:
    """Return ``name`` if it is a device this machine has; else :class:`ValidationError`.

    ``auto`` is always valid (a GPU when there is one, else the CPU).

    Parameters
    ----------
    name
        Device name: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` (case and
        surrounding spaces ignored).

    Returns
    -------
    str
        The normalised name (lower case, stripped).
    """
    import torch

    text = str(name).strip().lower()
    if not DEVICE_PATTERN.match(text):
        raise ValidationError(
            f"device {name!r} is not one of {', '.join(DEVICE_CHOICES)} or cuda:N"
        )
    if text.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValidationError(
                f"device {name!r}: CUDA is not available here (torch {torch.__version__}"
                f"{'' if torch.version.cuda else ', a CPU-only build'}); use --device cpu or auto"
            )
        index = int(text.split(":")[1]) if ":" in text else 0
        if index >= torch.cuda.device_count():
            raise ValidationError(
                f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s) here"
            )
    if text == "mps" and not (
        getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    ):
        raise ValidationError(f"device {name!r}: Apple MPS is not available here; use cpu or auto")
    return text


def resolve_device(name: str, *, local_rank: int = 0) -> torch.device:
    """The ``torch.device`` for ``name`` (checked by :func:`check_device`); ``auto`` is GPU
    ``local_rank`` when CUDA is available, else the CPU.

    Parameters
    ----------
    name
        Device name accepted by :func:`check_device`.
    local_rank
        Index of the GPU that ``auto`` selects (and makes current) when CUDA is available:
        the process's local rank in distributed training, 0 otherwise.

    Returns
    -------
    torch.device
        The device to place tensors on.
    """
    import torch

    text = check_device(name)
    if text == "auto":
        if torch.cuda.is_available():
            torch.cuda.set_device(local_rank)
            return torch.device("cuda", local_rank)
        return torch.device("cpu")
    return torch.device(text)
