"""Data-parallel training with torch.distributed: N processes, one model, same result.

How a step is split: every process draws the same global batch (same seed, same order)
and takes its own slice of it (``batch[rank::world]``); DistributedDataParallel averages
the gradients across processes. Each process's loss is weighted by its slice's share of
the batch (times the world size), so the averaged gradient is exactly the gradient of the
whole batch's mean loss - the step single-process training would take. What remains
different is floating-point summation order (and dropout masks, drawn per process), so
the result matches single-process training closely rather than bit for bit.

Why slices of one global batch rather than ``DistributedSampler``'s per-process shards:
shards change which cases share a batch, so the run would be a different optimisation
than the single-process one and could not be compared with it; slices keep the batches,
the early-stopping decisions (each process scores the whole validation split) and the
learning-rate schedule identical.

Launching: :func:`train_data_parallel` starts the processes with
``torch.multiprocessing.spawn``; under ``torchrun`` (``RANK``/``WORLD_SIZE`` set) it joins
the group torchrun made instead. Gloo on CPU; NCCL (``backend``) for models on CUDA. Only
rank 0 writes the model, atomically.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dxkit.cases.schema import Case, LabeledCase
from dxkit.errors import InputError
from dxkit.models.base import DiagnosisModel

DISTRIBUTED_KINDS = ("rnn", "encoder")


def world() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) outside a process group."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    """Whether this process writes files (rank 0, or the only process)."""
    return world()[0] == 0


def shard(batch: np.ndarray) -> tuple[np.ndarray, float]:
    """This process's slice of a global batch and the weight of its loss (see module).

    A process left without cases (a last batch smaller than the world) computes the loss
    of one case with weight 0, so every process still joins the gradient average.
    """
    rank, size = world()
    if size == 1:
        return batch, 1.0
    part = batch[rank::size]
    if len(part) == 0:
        return batch[:1], 0.0
    return part, len(part) * size / len(batch)


def wrap(net: nn.Module) -> nn.Module:
    """``net`` under DistributedDataParallel inside a process group, else ``net`` itself."""
    if world()[1] == 1:
        return net
    from torch.nn.parallel import DistributedDataParallel

    device = next(net.parameters()).device
    if device.type == "cuda":
        return DistributedDataParallel(net, device_ids=[device.index or 0])
    return DistributedDataParallel(net)


def fit_pipeline(kind: str, labeled: Sequence[LabeledCase], options: dict[str, Any]) -> Any:
    """:func:`dxkit.pipeline.fit_model` as one picklable call (what ``dxkit train`` runs)."""
    from rich.console import Console

    from dxkit.pipeline import fit_model

    model, _ = fit_model(kind, labeled, console=Console(quiet=not is_main()), **options)
    return model


def fit_unfitted(model: Any, cases: Sequence[Case], labels: Sequence[str]) -> Any:
    """``model.fit(cases, labels)`` as one picklable call."""
    return model.fit(cases, labels)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _worker(
    rank: int,
    size: int,
    address: str,
    fit: Callable[..., DiagnosisModel],
    args: tuple[Any, ...],
    out: Path,
    backend: str,
) -> None:
    import torch.distributed as dist

    if backend == "nccl":
        torch.cuda.set_device(rank % max(1, torch.cuda.device_count()))
    dist.init_process_group(backend, init_method=address, rank=rank, world_size=size)
    try:
        model = fit(*args)
        if rank == 0:
            model.save(out)
        dist.barrier()
    finally:
        dist.destroy_process_group()


def train_data_parallel(
    nproc: int,
    fit: Callable[..., DiagnosisModel],
    args: tuple[Any, ...],
    out: Path,
    *,
    backend: str = "gloo",
) -> None:
    """Run ``fit(*args)`` in ``nproc`` processes as one data-parallel job; rank 0 saves.

    ``fit`` and ``args`` must be picklable (module-level functions, plain data). Under
    ``torchrun`` the current process is one of the ranks and ``nproc`` is ignored.
    ``backend`` is ``gloo`` for models that train on the CPU (dxkit's defaults) and
    ``nccl`` for models placed on CUDA devices (one GPU per process).

    Raises:
        InputError: ``nproc`` < 1, or a worker failed or died (the model is not written).
    """
    if nproc < 1:
        raise InputError("--nproc", expected="an integer >= 1", found=str(nproc), fix="e.g. 2")
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:  # launched by torchrun
        _worker(
            int(os.environ["RANK"]),
            int(os.environ["WORLD_SIZE"]),
            "env://",
            fit,
            args,
            out,
            backend,
        )
        return
    from torch.multiprocessing.spawn import ProcessExitedException, ProcessRaisedException, spawn

    address = f"tcp://127.0.0.1:{_free_port()}"
    try:
        arguments = (nproc, address, fit, args, out, backend)
        spawn(_worker, args=arguments, nprocs=nproc)  # type: ignore[no-untyped-call]
    except (ProcessRaisedException, ProcessExitedException) as exc:
        lines = [line for line in str(exc).splitlines() if line.strip()]
        raise InputError(
            "distributed training",
            expected=f"all {nproc} worker processes to finish",
            found=f"a worker failed: {lines[-1][:300] if lines else type(exc).__name__}",
            fix="fix the cause shown, or train with --nproc 1; no model was written",
        ) from None


def check_nproc(kind: str, nproc: int) -> None:
    """Refuse ``--nproc`` > 1 for models without data-parallel training (TF-IDF)."""
    if nproc < 1:
        raise InputError("--nproc", expected="an integer >= 1", found=str(nproc), fix="e.g. 2")
    if nproc > 1 and kind not in DISTRIBUTED_KINDS:
        raise InputError(
            "--nproc",
            expected=f"1 for {kind!r} (data-parallel training covers rnn and encoder)",
            found=str(nproc),
            fix="drop --nproc, or train --model rnn / encoder",
        )
