"""Checkpoint folders: ``config.json`` + ``model.safetensors`` + ``vocab.json``; never pickle.

Layout (``format_version`` 1)::

    folder/
      config.json        {"format_version", "architecture", "model": {...}, "tokenizer": {...},
                          "training": {...}, "extra": {...}, "files": {name: {"sha256", "size"}},
                          "virtualcell_version"}
      model.safetensors  the network's state dict (safetensors: tensors only, no code)
      vocab.json         the tokenizer (``Tokenizer.to_dict``: kind, parameters, vocabulary)

Reading checks ``config.json`` against a schema before anything else is touched: known
top-level keys only, each of the right JSON type; ``files`` may list only
``model.safetensors`` and ``vocab.json``, as plain names inside the folder (no ``..``, no
absolute path, no symbolic link), each with an integer ``size`` and a 64-hex ``sha256``.
Then every listed file is verified (present, same size, same sha256). The model config is
validated by its dataclass (types, ranges and a parameter cap,
:data:`virtualcell.models.MAX_PARAMETERS`) before any weight is allocated. Any problem is
one :class:`~virtualcell.DataFormatError` naming the file and the field.

Writing is crash-safe: ``config.json`` is the commit marker. It is removed first, each
file is written atomically (temporary sibling, fsync, rename), and ``config.json`` is
written last, so a folder whose writer was killed has either a complete, verifiable
checkpoint or no ``config.json`` at all (and is then refused as "not a checkpoint").
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import DataFormatError
from .._utils import atomic_path, check_output, clean_stale_temps, sha256_file, write_json

if TYPE_CHECKING:
    from ..tokenize import Tokenizer

__all__ = [
    "CONFIG_NAME",
    "FORMAT_VERSION",
    "VOCAB_NAME",
    "WEIGHTS_NAME",
    "check_saveable",
    "check_state_dict",
    "read_config",
    "read_tensors",
    "read_vocab",
    "safe_member",
    "write_folder",
]

FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
VOCAB_NAME = "vocab.json"

#: Top-level keys of ``config.json`` and their JSON types (``None``: any).
_CONFIG_SCHEMA: dict[str, tuple[type, ...]] = {
    "format_version": (int,),
    "architecture": (str,),
    "model": (dict,),
    "files": (dict,),
    "tokenizer": (dict,),
    "training": (dict,),
    "extra": (dict,),
    "virtualcell_version": (str,),
}
_REQUIRED = ("format_version", "architecture", "model", "files")
#: Top-level keys of ``vocab.json`` (``Tokenizer.to_dict``) and their JSON types.
_VOCAB_SCHEMA: dict[str, tuple[type, ...]] = {
    "format_version": (int,),
    "kind": (str,),
    "class": (str,),
    "params": (dict,),
    "vocab": (dict, type(None)),
    "state": (dict,),
}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_JSON_TYPE = {int: "an integer", str: "a string", dict: "an object", type(None): "null"}


def _type_name(types: tuple[type, ...]) -> str:
    return " or ".join(_JSON_TYPE.get(t, t.__name__) for t in types)


def _check_keys(
    path: Path, doc: Any, schema: Mapping[str, tuple[type, ...]], required: tuple[str, ...]
) -> None:
    if not isinstance(doc, dict):
        raise DataFormatError(f"{path}: expected a JSON object, got {type(doc).__name__}")
    unknown = sorted(set(doc) - set(schema))
    if unknown:
        raise DataFormatError(f"{path}: unknown key(s) {unknown}; allowed: {sorted(schema)}")
    for key in required:
        if key not in doc:
            raise DataFormatError(f"{path}: missing required key {key!r}")
    for key, value in doc.items():
        types = schema[key]
        bad_bool = isinstance(value, bool) and bool not in types
        if bad_bool or not isinstance(value, types):
            raise DataFormatError(
                f"{path}: {key!r} must be {_type_name(types)}, got {json.dumps(value)[:60]}"
            )


def safe_member(folder: Path, name: Any, *, where: str) -> Path:
    """``folder / name`` when ``name`` is a plain file name inside ``folder`` (not a
    symbolic link, no separators, not hidden); else :class:`DataFormatError`.

    Parameters
    ----------
    folder
        The checkpoint folder.
    name
        File name as read from a checkpoint's JSON (anything; only a non-empty ``str``
        without path separators or a leading dot passes).
    where
        What the name came from (e.g. ``"config.json: vocab"``), quoted in the error.

    Returns
    -------
    pathlib.Path
        ``folder / name``.
    """
    if (
        not isinstance(name, str)
        or not name
        or name != Path(name).name
        or "/" in name
        or "\\" in name
        or name.startswith(".")
    ):
        raise DataFormatError(
            f"{where}: file name {name!r} points outside the checkpoint folder; only plain "
            "file names inside it are allowed"
        )
    path = folder / name
    if path.is_symlink():
        raise DataFormatError(
            f"{where}: {name!r} is a symbolic link; checkpoint files must be regular files "
            "inside the folder"
        )
    try:
        inside = path.resolve().parent == folder.resolve()
    except OSError:  # pragma: no cover - e.g. a symlink loop in the folder's parents
        inside = False
    if not inside:  # pragma: no cover - plain names checked above cannot escape
        raise DataFormatError(f"{where}: {name!r} resolves outside the checkpoint folder")
    return path


def check_saveable(folder: str | Path, *, overwrite: bool) -> Path:
    """The output rule for ``save_pretrained(folder)``: a file, or a folder that is not
    empty, is refused unless ``overwrite`` (checked before anything is written)."""
    return check_output(
        folder, overwrite=overwrite, kind="folder", name="folder",
        hint="pass overwrite=True to replace it",
    )  # fmt: skip


def write_folder(
    folder: str | Path,
    config: dict[str, Any],
    tensors: dict[str, Any],
    *,
    tokenizer: Tokenizer | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a checkpoint folder; ``config`` gets ``format_version`` and file checksums.

    ``config.json`` is removed first and written last (see the module docstring), every
    file atomically, so a killed save never leaves a folder that loads half-written.
    A folder that is not empty is refused unless ``overwrite`` (:func:`check_saveable`).
    """
    from safetensors.torch import save_file

    from .._version import __version__

    folder = check_saveable(folder, overwrite=overwrite)
    folder.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(folder)
    (folder / CONFIG_NAME).unlink(missing_ok=True)
    with atomic_path(folder / WEIGHTS_NAME) as part:
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(part))
    names = [WEIGHTS_NAME]
    if tokenizer is not None:
        write_json(folder / VOCAB_NAME, tokenizer.to_dict(), indent=None)
        names.append(VOCAB_NAME)
    else:
        (folder / VOCAB_NAME).unlink(missing_ok=True)
    files = {
        name: {"sha256": sha256_file(folder / name), "size": (folder / name).stat().st_size}
        for name in names
    }
    full = {
        "format_version": FORMAT_VERSION,
        **config,
        "files": files,
        "virtualcell_version": __version__,
    }
    write_json(folder / CONFIG_NAME, full)
    return folder


def _published_hint(folder: Path, config: Any = None) -> str:
    """``"; it looks like a published X folder: pass x:FOLDER"`` for a Geneformer or scGPT
    folder given without its prefix (else ``""``)."""
    if (folder / "best_model.pt").is_file() and (folder / "vocab.json").is_file():
        return f"; it looks like a published scGPT folder: pass scgpt:{folder}"
    bert = isinstance(config, dict) and config.get("model_type") == "bert"
    if bert or any(folder.glob("token_dict*")):
        return f"; it looks like a published Geneformer folder: pass geneformer:{folder}"
    return ""


def read_config(folder: str | Path) -> dict[str, Any]:
    """Read ``config.json``, check it against the schema and verify the files it lists
    (plain names inside the folder, size, sha256)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataFormatError(f"checkpoint folder not found: {folder}")
    cfg_path = folder / CONFIG_NAME
    if cfg_path.is_symlink() or not cfg_path.is_file():
        raise DataFormatError(
            f"{cfg_path}: missing; not a virtualcell checkpoint folder{_published_hint(folder)}"
        )
    try:
        config = json.loads(cfg_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataFormatError(f"{cfg_path}: not valid JSON ({e}); the file is corrupt") from None
    if isinstance(config, dict) and config.get("format_version") != FORMAT_VERSION:
        raise DataFormatError(
            f"{cfg_path}: unsupported checkpoint format_version {config.get('format_version')!r} "
            f"(this virtualcell reads {FORMAT_VERSION}){_published_hint(folder, config)}"
        )
    _check_keys(cfg_path, config, _CONFIG_SCHEMA, _REQUIRED)
    allowed = (WEIGHTS_NAME, VOCAB_NAME)
    for name, meta in config["files"].items():
        where = f"{cfg_path}: files[{name!r}]"
        p = safe_member(folder, name, where=where)
        if name not in allowed:
            raise DataFormatError(f"{where}: unexpected file; a checkpoint lists only {allowed}")
        if not isinstance(meta, dict) or set(meta) != {"sha256", "size"}:
            raise DataFormatError(
                f"{where}: must be an object with exactly 'sha256' and 'size', got "
                f"{json.dumps(meta)[:60]}"
            )
        size, digest = meta["size"], meta["sha256"]
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise DataFormatError(f"{where}.size must be a non-negative integer, got {size!r}")
        if not isinstance(digest, str) or not _SHA256.match(digest):
            raise DataFormatError(
                f"{where}.sha256 must be 64 lower-case hex digits, got {json.dumps(digest)[:60]}"
            )
        if not p.is_file():
            raise DataFormatError(f"{p}: listed in {CONFIG_NAME} but missing")
        found = p.stat().st_size
        if found != size:
            raise DataFormatError(
                f"{p}: size {found} bytes, {CONFIG_NAME} records {size} "
                "(truncated or replaced file)"
            )
        actual = sha256_file(p)
        if actual != digest:
            raise DataFormatError(
                f"{p}: sha256 {actual[:12]}... does not match {digest[:12]}... "
                f"recorded in {CONFIG_NAME} (the file was modified or is corrupt)"
            )
    if WEIGHTS_NAME not in config["files"]:
        raise DataFormatError(f"{cfg_path}: no {WEIGHTS_NAME} listed under 'files'")
    return config


def read_vocab(folder: str | Path) -> Tokenizer:
    """The tokenizer saved in ``folder/vocab.json`` (schema-checked, then loaded)."""
    from ..tokenize import Tokenizer

    path = Path(folder) / VOCAB_NAME
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataFormatError(f"{path}: not valid JSON ({e})") from None
    _check_keys(path, doc, _VOCAB_SCHEMA, ("format_version", "kind", "params"))
    vocab = doc.get("vocab")
    if vocab is not None:
        genes, special = vocab.get("genes"), vocab.get("special_tokens")
        for key, value in (("genes", genes), ("special_tokens", special)):
            if not isinstance(value, list) or not all(isinstance(g, str) for g in value):
                raise DataFormatError(f"{path}: vocab.{key} must be a list of strings")
    _check_params(path, doc)
    try:
        return Tokenizer.from_dict(doc)
    except DataFormatError as e:
        raise DataFormatError(f"{path}: {e}") from None
    except (TypeError, ValueError, KeyError, AttributeError) as e:
        raise DataFormatError(f"{path}: invalid tokenizer ({type(e).__name__}: {e})") from None


def _check_params(path: Path, doc: dict[str, Any]) -> None:
    """Each tokenizer parameter must have the JSON type of its constructor default."""
    import inspect

    from .. import tokenize

    cls = getattr(tokenize, str(doc.get("class", "")), None)
    if not (isinstance(cls, type) and issubclass(cls, tokenize.Tokenizer)):
        return  # the kind decides; Tokenizer.from_dict reports an unknown one
    defaults = {
        name: p.default
        for name, p in inspect.signature(cls.__init__).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    for name, value in doc["params"].items():
        if name not in defaults:
            raise DataFormatError(
                f"{path}: params.{name} is not a {cls.__name__} parameter; "
                f"known: {sorted(defaults)}"
            )
        default = defaults[name]
        if isinstance(default, bool):
            ok, kind = isinstance(value, bool), "true/false"
        elif isinstance(default, int | float):
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            kind = "a number"
        elif isinstance(default, str):
            ok, kind = isinstance(value, str), "a string"
        else:
            ok, kind = True, ""
        if not ok:
            raise DataFormatError(
                f"{path}: params.{name} must be {kind} (default {default!r}), "
                f"got {json.dumps(value)[:60]}"
            )


def read_tensors(folder: str | Path) -> dict[str, Any]:
    """Load ``model.safetensors`` (CPU tensors); corrupt files raise DataFormatError."""
    from safetensors.torch import load_file

    path = Path(folder) / WEIGHTS_NAME
    try:
        return load_file(str(path), device="cpu")
    except Exception as e:  # safetensors raises its own error types
        raise DataFormatError(f"{path}: cannot be read as safetensors ({e})") from None


def check_state_dict(expected: dict[str, Any], found: dict[str, Any], path: Path) -> None:
    """Raise DataFormatError if tensor names or shapes in ``found`` differ from ``expected``.

    Parameters
    ----------
    expected
        State dict of a network built from the checkpoint's config (name -> tensor).
    found
        State dict read from the weights file (name -> tensor).
    path
        The weights file, named in the error.

    Returns
    -------
    None
        Returns only when every name and shape matches.
    """
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    if missing or extra:
        raise DataFormatError(
            f"{path}: weights do not match config.json: missing tensors {missing[:5]}, "
            f"unexpected tensors {extra[:5]}"
        )
    for name, tensor in expected.items():
        if tuple(found[name].shape) != tuple(tensor.shape):
            raise DataFormatError(
                f"{path}: tensor {name!r} has shape {tuple(found[name].shape)} but config.json "
                f"implies {tuple(tensor.shape)} (config and weights do not match)"
            )
