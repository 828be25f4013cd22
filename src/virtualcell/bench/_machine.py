"""What a benchmark run records about where it ran: package versions, hardware and
the machine's load (the ``environment``, ``hardware`` and ``load_average`` fields of
``manifest.json``)."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import Any

from .._utils import available_cpus
from .._version import __version__
from ._task import package_version

__all__ = ["environment", "hardware", "load_average"]

#: Packages whose versions go into the manifest.
_PACKAGES = (
    "numpy",
    "scipy",
    "pandas",
    "scikit-learn",
    "anndata",
    "scanpy",
    "torch",
    "lightgbm",
    "joblib",
    "dask",
    "distributed",
    "arboreto",
    "celltypist",
    "scvi-tools",
    "cell-eval",
)


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        return None


def hardware(device: str) -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:  # pragma: no cover
        pass
    mem_gb = None
    try:
        mem_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        pass
    gpu = None
    if device.startswith("cuda") or device == "auto":
        try:
            import torch

            if torch.cuda.is_available():
                gpu = torch.cuda.get_device_name(0)
        except ImportError:  # pragma: no cover
            pass
    return {
        "cpu": cpu,
        "cpus_available": available_cpus(),
        "memory_gb": mem_gb,
        "gpu": gpu,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
    }


def environment() -> dict[str, str | None]:
    out: dict[str, str | None] = {"virtualcell": __version__}
    for pkg in _PACKAGES:
        out[pkg] = package_version(pkg)
    return out
