"""The fine-tuning loop of the transformer encoder: batches, loss, early stopping, resume.

Why a loop of our own rather than ``transformers.Trainer``: soft targets, length-bucketed
batches, frozen bottom layers and a checkpoint that also carries the early-stopping state
are each a few lines here, while the Trainer would need a subclass for most of them and
pulls in ``accelerate`` and ``datasets``.

Loss per batch: ``CE(soft differential) + CE(hard label)``, as the GRU baseline. Batches
hold cases of similar length, so padding (pure waste on a CPU) stays small; the order of
batches is shuffled every epoch with a seed derived from (seed, epoch), so a resumed run
sees the same batches as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from torch import nn
from torch.nn import functional as F

from dxkit.models.encoder_config import EncoderConfig

CHECKPOINT_FILE = "checkpoint.pt"
_BUCKET = 20  # batches per length-sorted bucket


def pad_batch(ids: Sequence[Sequence[int]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad id lists into input_ids / attention_mask / token_type_ids tensors."""
    width = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.int64)
    mask = torch.zeros((len(ids), width), dtype=torch.int64)
    for row, seq in enumerate(ids):
        input_ids[row, : len(seq)] = torch.as_tensor(seq, dtype=torch.int64)
        mask[row, : len(seq)] = 1
    return {
        "input_ids": input_ids,
        "attention_mask": mask,
        "token_type_ids": torch.zeros_like(input_ids),
    }


def length_batches(
    index: np.ndarray, lengths: Sequence[int], batch_size: int, seed: int | None
) -> list[np.ndarray]:
    """Batches of similar-length cases; shuffled (buckets and batch order) unless seed is None.

    >>> [b.tolist() for b in length_batches(np.arange(4), [5, 1, 4, 2], 2, None)]
    [[1, 3], [2, 0]]
    """
    if seed is None:
        order = index[np.argsort([lengths[i] for i in index], kind="stable")]
        return [order[s : s + batch_size] for s in range(0, len(order), batch_size)]
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(index)
    batches: list[np.ndarray] = []
    span = batch_size * _BUCKET
    for start in range(0, len(shuffled), span):
        bucket = shuffled[start : start + span]
        bucket = bucket[np.argsort([lengths[i] for i in bucket], kind="stable")]
        batches.extend(bucket[s : s + batch_size] for s in range(0, len(bucket), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def freeze_bottom(net: nn.Module, layers: int) -> None:
    """Freeze the embeddings and the ``layers`` lowest transformer layers (-1: none)."""
    if layers < 0:
        return
    base: Any = getattr(net, str(getattr(net, "base_model_prefix", "")), net)
    for param in base.embeddings.parameters():
        param.requires_grad = False
    for layer in list(base.encoder.layer)[:layers]:
        for param in layer.parameters():
            param.requires_grad = False


def _optimiser(net: nn.Module, cfg: EncoderConfig) -> torch.optim.Optimizer:
    """AdamW with the head at ``head_lr`` and no decay on biases and LayerNorm weights."""
    groups: dict[tuple[float, float], list[nn.Parameter]] = {}
    for name, param in net.named_parameters():
        if not param.requires_grad:
            continue
        lr = cfg.head_lr if name.startswith("classifier") else cfg.lr
        decay = 0.0 if name.endswith("bias") or "LayerNorm" in name else cfg.weight_decay
        groups.setdefault((lr, decay), []).append(param)
    params = [{"params": p, "lr": lr, "weight_decay": d} for (lr, d), p in groups.items()]
    return torch.optim.AdamW(params)


def _schedule(optimiser: torch.optim.Optimizer, total: int, warmup_fraction: float) -> Any:
    warmup = max(1, int(total * warmup_fraction))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimiser, factor)


def fingerprint(cfg: EncoderConfig, labels: Sequence[str], ids: Sequence[Sequence[int]]) -> str:
    """What a checkpoint must match to be resumed: settings, labels and the encoded data."""
    settings = {k: v for k, v in asdict(cfg).items() if k not in ("progress", "checkpoint_dir")}
    settings.pop("num_threads")
    digest = hashlib.sha256(json.dumps([settings, list(labels)], sort_keys=True).encode())
    for seq in ids:
        digest.update(np.asarray(seq, dtype=np.int32).tobytes() + b"|")
    return digest.hexdigest()


def _save_checkpoint(directory: Path, state: dict[str, Any]) -> None:
    """Write the checkpoint atomically, so an interrupted save leaves the previous one."""
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".{CHECKPOINT_FILE}.tmp"
    torch.save(state, tmp)
    os.replace(tmp, directory / CHECKPOINT_FILE)


def _load_checkpoint(directory: Path, expected: str) -> dict[str, Any] | None:
    path = directory / CHECKPOINT_FILE
    if not path.is_file():
        return None
    state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    return state if state.get("fingerprint") == expected else None


def _copy_state(net: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def _loss(logits: torch.Tensor, soft: torch.Tensor, hard: torch.Tensor) -> torch.Tensor:
    logits = logits.float()
    return F.cross_entropy(logits, soft) + F.cross_entropy(logits, hard)


def _autocast(cfg: EncoderConfig) -> Any:
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16)


class Trainer:
    """Fits a sequence-classification network in place; see the module docstring."""

    def __init__(
        self,
        net: nn.Module,
        cfg: EncoderConfig,
        ids: Sequence[Sequence[int]],
        pad_id: int,
        soft: np.ndarray,
        hard: np.ndarray,
    ) -> None:
        self.net, self.cfg, self.ids, self.pad_id = net, cfg, ids, pad_id
        self.lengths = [len(x) for x in ids]
        self.soft = torch.as_tensor(soft, dtype=torch.float32)
        self.hard = torch.as_tensor(hard, dtype=torch.int64)

    def _batches(self, index: np.ndarray, seed: int | None) -> Iterator[dict[str, torch.Tensor]]:
        from dxkit.train.distributed import shard

        for batch in length_batches(index, self.lengths, self.cfg.batch_size, seed):
            weight = 1.0
            if seed is not None:  # training: this process's slice of the global batch
                batch, weight = shard(batch)
            inputs = pad_batch([self.ids[i] for i in batch], self.pad_id)
            inputs["soft"], inputs["hard"] = self.soft[batch], self.hard[batch]
            inputs["weight"] = torch.tensor(weight)
            yield inputs

    def _step_loss(
        self, batch: dict[str, torch.Tensor], net: nn.Module | None = None
    ) -> torch.Tensor:
        soft, hard, weight = batch.pop("soft"), batch.pop("hard"), batch.pop("weight")
        with _autocast(self.cfg):
            logits = (net or self.net)(**batch).logits
        return _loss(logits, soft, hard) * weight

    def validation_loss(self, index: np.ndarray) -> float:
        """Mean loss over ``index`` (the early-stopping criterion)."""
        self.net.eval()
        total = 0.0
        with torch.inference_mode():
            for batch in self._batches(index, None):
                size = len(batch["hard"])
                total += float(self._step_loss(batch)) * size
        return total / max(1, len(index))

    def fit(self, train_idx: np.ndarray, val_idx: np.ndarray, key: str) -> None:
        """Train with early stopping, resuming from ``cfg.checkpoint_dir`` when it matches."""
        cfg = self.cfg
        per_epoch = math.ceil(len(train_idx) / cfg.batch_size)
        optimiser = _optimiser(self.net, cfg)
        scheduler = _schedule(optimiser, cfg.epochs * per_epoch, cfg.warmup_fraction)
        best_loss, best_state, stale, start = math.inf, None, 0, 0
        directory = Path(cfg.checkpoint_dir) if cfg.checkpoint_dir else None
        saved = _load_checkpoint(directory, key) if directory else None
        if saved is not None:
            self.net.load_state_dict(saved["network"])
            optimiser.load_state_dict(saved["optimiser"])
            scheduler.load_state_dict(saved["scheduler"])
            torch.set_rng_state(saved["torch_rng"])
            best_loss, best_state = float(saved["best_loss"]), saved["best_state"]
            stale, start = int(saved["stale"]), int(saved["epoch"])
        from dxkit.train.distributed import is_main, wrap

        model = wrap(self.net)  # DistributedDataParallel under `dxkit train --nproc N`
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        show = cfg.progress and is_main()
        with Progress(*columns, TimeElapsedColumn(), disable=not show) as bar:
            task = bar.add_task("fine-tuning", total=cfg.epochs * per_epoch)
            bar.update(task, completed=start * per_epoch)
            for epoch in range(start, cfg.epochs):
                if stale >= cfg.patience:
                    break
                bar.update(task, description=f"fine-tuning epoch {epoch + 1}/{cfg.epochs}")
                self.net.train()
                for batch in self._batches(train_idx, cfg.seed * 1000 + epoch):
                    loss = self._step_loss(batch, model)
                    optimiser.zero_grad()
                    loss.backward()  # type: ignore[no-untyped-call]
                    nn.utils.clip_grad_norm_(self.net.parameters(), 1.0)
                    optimiser.step()
                    scheduler.step()
                    bar.advance(task)
                if len(val_idx):
                    loss_now = self.validation_loss(val_idx)
                    if loss_now < best_loss - 1e-4:
                        best_loss, stale = loss_now, 0
                        best_state = {
                            k: v.detach().clone() for k, v in self.net.state_dict().items()
                        }
                    else:
                        stale += 1
                if directory is not None and is_main():
                    _save_checkpoint(
                        directory,
                        {
                            "fingerprint": key,
                            "epoch": epoch + 1,
                            "network": self.net.state_dict(),
                            "optimiser": optimiser.state_dict(),
                            "scheduler": scheduler.state_dict(),
                            "torch_rng": torch.get_rng_state(),
                            "best_loss": best_loss,
                            "best_state": best_state,
                            "stale": stale,
                        },
                    )
        if best_state is not None:
            self.net.load_state_dict(best_state)
        self.net.eval()
