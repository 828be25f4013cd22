"""Oracle models: transformer encoders and generators of cells, and their baselines (``vc.models``).

Each model is a frozen config dataclass, a plain ``torch.nn.Module`` readable in one file,
and the AnnData-aware :class:`CellModel` wrapper (tokenizer + network, checkpoint folders):

* :class:`CellEncoder` — bidirectional transformer, MLM / MAE pretraining heads;
* :class:`CellGPT` — causal transformer, next-token prediction, ``generate``;
* :class:`CellPredictor` — a pretrained base network plus a prediction head;
* :class:`CellText` — cells and sentences in one space (CLIP-style), wrapped with its
  cell encoder by :class:`CellTextModel`;
* :class:`PCAEncoder` — PCA on highly variable genes (baseline), ``scvi_embed`` (optional);
* :class:`GeneformerModel`, :class:`ScGPTModel` — published Geneformer / scGPT checkpoints
  read in their own layouts (``load("geneformer:PATH")``, ``load("scgpt:PATH")``) with
  their own tokenizers; pickled gene dictionaries only through :func:`read_plain_pickle`.

:data:`ARCHITECTURES` lists the networks a checkpoint folder may hold. Training
(:func:`virtualcell.train.pretrain`, :func:`virtualcell.train.finetune`) lives one layer
up, in :mod:`virtualcell.train`; the AnnData-in entry point is :func:`virtualcell.tl.embed`.

Names are loaded lazily so that importing ``vc.models`` does not import torch.
"""

from __future__ import annotations

from .._utils import lazy_exports

_EXPORTS = {
    "CONFIG_NAME": "._checkpoint",
    "VOCAB_NAME": "._checkpoint",
    "WEIGHTS_NAME": "._checkpoint",
    "check_state_dict": "._checkpoint",
    "safe_member": "._checkpoint",
    "DEVICE_PATTERN": "._device",
    "resolve_device": "._device",
    "check_device": "._device",
    "ARCHITECTURES": "._architectures",
    "CellEncoder": "._encoder",
    "CellEncoderConfig": "._encoder",
    "CellGPT": "._gpt",
    "CellGPTConfig": "._gpt",
    "CellModel": "._wrapper",
    "CellPredictor": "._predictor",
    "CellPredictorConfig": "._predictor",
    "CellText": "._clip",
    "CellTextConfig": "._clip",
    "CellTextModel": "._clip",
    "DEVICE_CHOICES": "._device",
    "GeneformerConfig": "._geneformer",
    "GeneformerModel": "._geneformer",
    "GeneformerNetwork": "._geneformer",
    "GeneformerTokenizer": "._geneformer",
    "MAX_PARAMETERS": "._config",
    "check_range": "._config",
    "check_types": "._config",
    "from_dict": "._config",
    "PCAConfig": "._pca",
    "PCAEncoder": "._pca",
    "PUBLISHED_FORMATS": "._published",
    "PlainDataUnpickler": "._pickle",
    "ScGPTConfig": "._scgpt",
    "ScGPTModel": "._scgpt",
    "ScGPTNetwork": "._scgpt",
    "ScGPTTokenizer": "._scgpt",
    "build_network": "._architectures",
    "load": "._wrapper",
    "shipped_oracle_path": "._encoder",
    "read_plain_pickle": "._pickle",
    "scvi_embed": "._pca",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
