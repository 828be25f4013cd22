"""Preprocessing wrappers over scanpy that record what was done (``vc.pp``)."""

__all__: list[str] = []
