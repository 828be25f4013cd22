"""Dataset registry: bundled, mirrored and downloadable datasets (``vc.datasets``)."""

__all__: list[str] = []
