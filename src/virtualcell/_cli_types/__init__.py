"""Shared option types of the ``vcell`` commands: every value is checked at parse time.

A command declares its options with these factories instead of bare ``typer.Option``;
a bad value then stops the command before any work starts, with click's usage error
(``Error: Invalid value for '--genes': ...``, exit 2, no traceback; see ``cli.main``):

- numbers: :func:`int_range`, :func:`positive_int` (>= 1), :func:`non_negative_int` (>= 0),
  :func:`positive_float` (> 0), :func:`probability` (0..1), :func:`open_fraction`, :func:`seed_option`
  (0..2**32-1), :func:`seed_list`, :func:`float_list`, :func:`n_jobs_option`;
- names from a registry: :func:`registry_option` (one name) and :func:`registry_list`
  (comma-separated names); the message names the closest matches and every valid name;
- library checks: :func:`checked` turns a function that raises
  :class:`~virtualcell.ValidationError` into an option check (:func:`config_field`: a
  config dataclass's own rule for one field; :func:`device_option`: a device this
  machine has);
- files: :func:`data_argument` (an existing path or a registry dataset name),
  :func:`input_path` and :func:`input_argument` (an existing regular file / folder; FIFOs and devices are refused
  without opening them), :func:`output_path` (its folder exists and is writable, its
  suffix is one the command can write, it is not an existing folder when a file is
  expected, it is never an input, and an existing output is replaced only with
  :func:`overwrite_option`'s ``--overwrite``: the one output rule,
  :func:`virtualcell._utils.check_output`);
- reader options shared by every command that reads data: :func:`format_option`,
  :func:`orientation_option`, :func:`layer_option`, and :func:`read_data`, which reads
  the argument with them; :func:`json_option` for ``--json`` (print with
  :func:`virtualcell._utils.emit_json`); :func:`key_value_pairs` reads repeated
  ``KEY=VALUE`` options (method / policy options).

Choice options use ``Literal[...]`` annotations (typer turns them into real choices).
"""

from ._checks import (
    checked,
    config_field,
    device_option,
    json_option,
    key_value_pairs,
    registry_list,
    registry_option,
)
from ._commands import CheckedCommand, CheckedGroup, use_checked_commands
from ._numbers import (
    SEED_MAX,
    choice_list,
    float_list,
    int_range,
    n_jobs_option,
    non_negative_int,
    open_fraction,
    positive_float,
    positive_int,
    probability,
    seed_list,
    seed_option,
)
from ._outputs import FOLDER_FORMATS, output_path, overwrite_option
from ._paths import data_argument, input_argument, input_path
from ._readers import (
    FormatName,
    OrientationName,
    format_option,
    layer_option,
    orientation_option,
    read_data,
)

__all__ = [
    "FOLDER_FORMATS",
    "SEED_MAX",
    "CheckedCommand",
    "CheckedGroup",
    "FormatName",
    "OrientationName",
    "checked",
    "choice_list",
    "config_field",
    "data_argument",
    "device_option",
    "float_list",
    "format_option",
    "input_argument",
    "input_path",
    "int_range",
    "json_option",
    "key_value_pairs",
    "layer_option",
    "n_jobs_option",
    "non_negative_int",
    "open_fraction",
    "orientation_option",
    "output_path",
    "overwrite_option",
    "positive_float",
    "positive_int",
    "probability",
    "read_data",
    "registry_list",
    "registry_option",
    "seed_list",
    "seed_option",
    "use_checked_commands",
]
