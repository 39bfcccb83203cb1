"""A pretrained transformer encoder fine-tuned to diagnose from the whole case.

The case enters as text: the notes, then age, sex, lifestyle, history and every device
observation written out with its canonical unit and a normal/high/low flag
(:func:`dxkit.features.text.case_to_text` without the bag-of-words flag keys). The
mean of the encoder's token vectors feeds a new linear classification head
(:mod:`dxkit.models.encoder_network` says why the mean and not [CLS]); both are fine-tuned
(the embeddings and bottom layers stay frozen for speed, see :class:`EncoderConfig`).

**Long cases.** BERT has 512 positions. A case longer than ``max_length`` word pieces keeps
its first ``(max_length - 2) - (max_length - 2) // 2`` and its last ``(max_length - 2) // 2``
pieces (head + tail): the presenting complaint opens the notes and the structured facts
close the text, while the middle of a long history is the least diagnostic part. Nothing
ever reaches the model past its position limit, so no case can crash it.

**Saved directory.** ``dxkit-model.json`` (config, labels, how text is rendered) and
``encoder/``: the fine-tuned encoder written by ``save_pretrained`` (safetensors weights,
config), its tokenizer, and ``head.safetensors``. ``load`` needs no training data and no
network, and the ``encoder/`` folder is an ordinary Hugging Face model other tools open.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Self

import numpy as np
import torch

from dxkit.cases.schema import Case
from dxkit.errors import ModelFormatError
from dxkit.features.text import case_to_text
from dxkit.models.base import read_manifest, write_manifest
from dxkit.models.encoder_config import EncoderConfig, pretrained_source
from dxkit.models.encoder_network import HEAD_FILE, PooledClassifier
from dxkit.models.encoder_training import (
    Trainer,
    fingerprint,
    freeze_bottom,
    length_batches,
    pad_batch,
)
from dxkit.models.rnn import stratified_split
from dxkit.models.shared import (
    atomic_model_dir,
    not_fitted_error,
    require_files,
    soft_targets,
    training_labels,
)

KIND = "encoder"
ENCODER_DIR = "encoder"
ENCODER_FILES = ("config.json", "model.safetensors", HEAD_FILE, "tokenizer_config.json")
TEXT_FORMAT = "case_to_text(flag_keys=False)"


def head_tail_ids(ids: Sequence[int], budget: int) -> list[int]:
    """At most ``budget`` ids: the longer head and the tail of the sequence (see module).

    >>> head_tail_ids(list(range(10)), 5)
    [0, 1, 2, 8, 9]
    """
    if len(ids) <= budget:
        return list(ids)
    tail = budget // 2
    return [*ids[: budget - tail], *(ids[-tail:] if tail else [])]


def _quiet_transformers() -> None:
    """Silence load reports and 'sequence longer than max length' chatter (we cut ourselves)."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    logging.getLogger("transformers").setLevel(logging.ERROR)


class EncoderModel:
    """Pretrained BERT-style encoder + linear head over the case text (see module)."""

    def __init__(self, config: EncoderConfig | None = None) -> None:
        self.config = config or EncoderConfig()
        self.labels: list[str] = []
        self.tokenizer: Any = None
        self.network: Any = None

    # -- text -> ids ---------------------------------------------------------------------
    def case_texts(self, cases: Sequence[Case]) -> list[str]:
        """The text the encoder reads for each case."""
        return [case_to_text(case, flag_keys=False) for case in cases]

    def _max_length(self) -> int:
        positions = int(getattr(self.network.config, "max_position_embeddings", 512))
        return min(self.config.max_length, positions)

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Word-piece ids with [CLS]/[SEP], cut head + tail to fit ``max_length``.

        BERT-style framing (``[CLS] text [SEP]``; RoBERTa's ``<s> text </s>`` is the same
        with other ids), built here because the cut must happen between the special tokens.
        """
        budget = self._max_length() - 2
        pieces = self.tokenizer(list(texts), add_special_tokens=False, truncation=False)
        cls, sep = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        return [[cls, *head_tail_ids(ids, budget), sep] for ids in pieces["input_ids"]]

    def encode(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        """Padded input_ids / attention_mask / token_type_ids for ``texts``."""
        return pad_batch(self.token_ids(texts), self.tokenizer.pad_token_id or 0)

    # -- contract ------------------------------------------------------------------------
    def fit(
        self,
        cases: Sequence[Case],
        y: Sequence[str],
        *,
        differentials: Sequence[dict[str, float] | None] | None = None,
    ) -> Self:
        """Fine-tune from the pretrained weights; ``differentials`` are soft targets.

        Raises:
            InputError: empty or mismatched inputs, fewer than two labels, bad settings,
                or pretrained weights that cannot be found.
        """
        from transformers import AutoModel, AutoTokenizer

        labels = training_labels(cases, y, differentials)
        soft, _ = soft_targets(labels, y, differentials)
        hard = np.asarray([labels.index(str(v)) for v in y])
        cfg = self.config
        source = pretrained_source(cfg.pretrained)
        _quiet_transformers()
        previous = torch.get_num_threads()
        torch.set_num_threads(cfg.threads())
        try:
            torch.manual_seed(cfg.seed)
            self.tokenizer = AutoTokenizer.from_pretrained(source)
            self.network = PooledClassifier(AutoModel.from_pretrained(source), len(labels))
            self.labels = labels
            freeze_bottom(self.network, cfg.freeze_layers)
            ids = self.token_ids(self.case_texts(cases))
            train_idx, val_idx = stratified_split(hard, cfg.val_fraction, cfg.seed)
            trainer = Trainer(self.network, cfg, ids, self.tokenizer.pad_token_id or 0, soft, hard)
            trainer.fit(train_idx, val_idx, fingerprint(cfg, labels, ids))
        finally:
            torch.set_num_threads(previous)
        return self

    def predict_proba(self, cases: Sequence[Case], batch_size: int = 64) -> np.ndarray:
        """Probabilities, shape (n_cases, n_labels), columns in ``labels`` order."""
        if self.network is None:
            raise not_fitted_error("EncoderModel")
        out = np.zeros((len(cases), len(self.labels)))
        if len(cases) == 0:
            return out
        ids = self.token_ids(self.case_texts(cases))
        pad = self.tokenizer.pad_token_id or 0
        previous = torch.get_num_threads()
        torch.set_num_threads(self.config.threads())
        self.network.eval()
        try:
            with torch.inference_mode():
                for batch in length_batches(np.arange(len(ids)), [len(x) for x in ids], 64, None):
                    logits = self.network(**pad_batch([ids[i] for i in batch], pad)).logits
                    out[batch] = torch.softmax(logits.float(), dim=-1).double().numpy()
        finally:
            torch.set_num_threads(previous)
        return out

    def save(self, path: Path) -> None:
        """Write manifest + ``encoder/`` (weights, config, tokenizer), atomically."""
        if self.network is None:
            raise not_fitted_error("EncoderModel")
        with atomic_model_dir(Path(path)) as tmp:
            self.network.save(tmp / ENCODER_DIR)
            self.tokenizer.save_pretrained(tmp / ENCODER_DIR)
            config = {**asdict(self.config), "checkpoint_dir": None}
            write_manifest(
                tmp, KIND, self.labels, config=config, text=TEXT_FORMAT, files=[ENCODER_DIR]
            )

    @classmethod
    def load(cls, path: Path) -> Self:
        """Read a directory written by :meth:`save` (no download, no training data).

        Raises:
            ModelFormatError: missing files, wrong kind or version, or a network whose
                number of outputs does not match the manifest's labels.
        """
        from transformers import AutoTokenizer

        path = Path(path)
        manifest = read_manifest(path, kind=KIND)
        require_files(
            path / ENCODER_DIR, ["config.json", "model.safetensors", "tokenizer_config.json"]
        )
        model = cls(EncoderConfig(**{**manifest.get("config", {}), "progress": False}))
        model.labels = [str(label) for label in manifest["labels"]]
        _quiet_transformers()
        model.tokenizer = AutoTokenizer.from_pretrained(path / ENCODER_DIR)
        try:
            model.network = PooledClassifier.load(path / ENCODER_DIR, len(model.labels))
        except RuntimeError:  # the head's shape disagrees with the manifest's labels
            raise ModelFormatError(
                "encoder model",
                expected=f"a classification head with {len(model.labels)} outputs, one per label",
                found="a head of another size",
                fix="the encoder/ folder belongs to another model: retrain and save again",
            ) from None
        return model
