"""Benchmarks and the main end-to-end job (``vc.bench``).

:func:`demo` runs the main job of the README's first command on the bundled data:
each stage (data, representation, ...) writes a section of a report, a JSON of the
numbers it measured and its plots into one output folder.
"""

from ._demo import DemoResult, demo

__all__ = ["DemoResult", "demo"]
