"""GRU-D forecaster: a recurrent model over the hourly grid, behind :class:`ForecastModel`.

Why a second model beside boosting: summary features throw away the order and timing
of readings, while GRU-D (see :mod:`dxkit.forecast.grud_network`) reads every hour with
its masks and time gaps, and one forward pass gives the risk after every hour, so the
"risk now" curve costs no more than the final risk. PyPOTS was considered and not used:
it pins ``transformers<=4.57`` (dxkit needs 5.x) and pulls tensorboard, h5py and three
dataset packages, for a network of about sixty lines.

Training is CPU-friendly and reproducible: seeded, mini-batches of 64, Adam, early
stopping on a stratified validation split. Each signal is standardised with mean and
sd fitted on the training records (log-transformed first when strongly right-skewed,
e.g. lactate, bilirubin); these statistics are saved, so a loaded model needs no
training data. Risks are calibrated by a logistic map of the logit (Platt scaling) on
the validation split, where the alert threshold is chosen too.

Saved models hold ``grud.pt`` (a state dict, read with ``weights_only=True``) and a
manifest with the layout, statistics, calibration and alert policy as plain JSON.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from dxkit.errors import InputError, ModelFormatError
from dxkit.forecast.base import OUTCOME_LABELS, check_risk
from dxkit.forecast.grud_network import GridBatch, GridEncoder, GruD
from dxkit.forecast.metrics import AlertPolicy, alert_policy, risk_metrics
from dxkit.forecast.series import TimeSeriesRecord
from dxkit.models.base import MANIFEST, read_manifest, write_manifest
from dxkit.models.shared import atomic_model_dir, not_fitted_error, require_files

if TYPE_CHECKING:
    from dxkit.forecast.explain import Contribution

KIND = "forecast-grud"
MODEL_FILE = "grud.pt"


@dataclass(frozen=True)
class GrudConfig:
    """Settings of :class:`GrudForecaster`, validated when built.

    ``aux_weight`` adds the loss of every earlier hour (the same outcome, less data), so
    the hourly risk-now curve is trained, not only its last point.
    """

    hours: int = 48
    hidden: int = 64
    dropout: float = 0.2
    batch_size: int = 64
    max_epochs: int = 30
    patience: int = 5
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    aux_weight: float = 0.2
    valid_fraction: float = 0.2
    alert_sensitivity: float = 0.8
    seed: int = 0
    threads: int = 1

    def __post_init__(self) -> None:
        checks = {
            "hours": (1 <= self.hours <= 240, "an integer 1-240"),
            "hidden": (4 <= self.hidden <= 1024, "an integer 4-1024"),
            "batch_size": (self.batch_size >= 2, "an integer >= 2"),
            "max_epochs": (self.max_epochs >= 1, "an integer >= 1"),
            "valid_fraction": (0.05 <= self.valid_fraction <= 0.5, "a fraction 0.05-0.5"),
            "alert_sensitivity": (0 < self.alert_sensitivity <= 1, "a fraction in (0, 1]"),
            "threads": (self.threads >= 1, "an integer >= 1"),
        }
        for name, (ok, expected) in checks.items():
            if not ok:
                raise InputError(
                    f"forecast option {name}",
                    expected=expected,
                    found=repr(getattr(self, name)),
                    fix=f"pass {name} in range",
                )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GrudConfig:
        """Build from a manifest entry, ignoring keys this version does not know."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """Run with ``n`` torch threads, restoring the caller's setting afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class GrudForecaster:
    """In-hospital death risk at ``config.hours`` from the hourly grid (a ForecastModel)."""

    def __init__(self, config: GrudConfig | None = None) -> None:
        self.config = config or GrudConfig()
        self.hours = self.config.hours
        self.alert: AlertPolicy | None = None
        self.validation: dict[str, float] = {}
        self.platt: tuple[float, float] = (1.0, 0.0)  # calibrated logit = a * logit + b
        self.encoder: GridEncoder | None = None
        self.epochs_run = 0
        self.model_id = "unsaved"
        self._net: GruD | None = None

    # -- training -----------------------------------------------------------------
    def fit(self, records: Sequence[TimeSeriesRecord], y: Sequence[int] | np.ndarray) -> Self:
        """Train on records and 0/1 outcomes; early-stop, calibrate, pick the alert."""
        from sklearn.model_selection import train_test_split

        labels = np.asarray(y, dtype=int)
        if len(records) != labels.size or labels.size < 20 or not 0 < labels.sum() < labels.size:
            raise InputError(
                "forecast training data",
                expected="at least 20 records with both outcomes and one outcome per record",
                found=f"{len(records)} records, {labels.size} outcomes, {int(labels.sum())} deaths",
                fix="pass more records and their outcomes file",
            )
        train, valid = train_test_split(
            np.arange(labels.size),
            test_size=self.config.valid_fraction,
            stratify=labels,
            random_state=self.config.seed,
        )
        self.encoder = GridEncoder.fit([records[i] for i in train], self.config.hours)
        batch = self.encoder.encode(records)
        with _torch_threads(self.config.threads):
            self._train(batch, labels, train, valid)
            logits = self._logits(batch.take(valid))[:, -1]
        self.platt = _fit_platt(logits, labels[valid])
        risk = self._calibrate(logits)
        self.alert = alert_policy(labels[valid], risk, self.config.alert_sensitivity)
        self.validation = risk_metrics(labels[valid], risk)
        return self

    def _train(self, batch: GridBatch, y: np.ndarray, train: np.ndarray, valid: np.ndarray) -> None:
        import torch

        c = self.config
        torch.manual_seed(c.seed)
        net = GruD(batch.x.shape[2], batch.static.shape[1], c.hidden, c.dropout)
        opt = torch.optim.Adam(net.parameters(), lr=c.learning_rate, weight_decay=c.weight_decay)
        rng = np.random.default_rng(c.seed)
        target = torch.from_numpy(y.astype(np.float32))
        valid_inputs = batch.take(valid).tensors()
        best, best_state, stale = np.inf, None, 0
        weights = torch.full((batch.x.shape[1],), c.aux_weight / batch.x.shape[1])
        weights[-1] += 1.0  # the prediction time counts most; earlier hours train risk-now
        for epoch in range(c.max_epochs):
            net.train()
            order = rng.permutation(train)
            for start in range(0, order.size, c.batch_size):
                idx = order[start : start + c.batch_size]
                logits = net(*batch.take(idx).tensors())  # (b, T)
                tgt = target[idx][:, None].expand_as(logits)
                loss = torch.nn.functional.binary_cross_entropy_with_logits(
                    logits, tgt, reduction="none"
                )
                opt.zero_grad()
                (loss * weights).sum(dim=1).mean().backward()  # type: ignore[no-untyped-call]
                torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
                opt.step()
            net.eval()
            with torch.no_grad():
                last = net(*valid_inputs)[:, -1]
                val_loss = float(
                    torch.nn.functional.binary_cross_entropy_with_logits(last, target[valid])
                )
            self.epochs_run = epoch + 1
            if val_loss < best - 1e-4:
                best, stale = val_loss, 0
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            else:
                stale += 1
                if stale >= c.patience:
                    break
        if best_state is not None:
            net.load_state_dict(best_state)
        net.eval()
        self._net = net

    # -- prediction ---------------------------------------------------------------
    def _logits(self, batch: GridBatch) -> np.ndarray:
        """Raw logits after every hour, shape (n, T), in chunks to bound memory."""
        import torch

        if self._net is None:
            raise not_fitted_error("GrudForecaster")
        out = []
        with torch.no_grad():
            for start in range(0, batch.x.shape[0], 256):
                part = batch.take(np.arange(start, min(start + 256, batch.x.shape[0])))
                out.append(self._net(*part.tensors()).numpy().astype(np.float64))
        return np.concatenate(out) if out else np.empty((0, batch.x.shape[1]))

    def _calibrate(self, logits: np.ndarray) -> np.ndarray:
        a, b = self.platt
        risk: np.ndarray = 1.0 / (1.0 + np.exp(-(a * logits + b)))
        return risk

    def _encoded(self, records: Sequence[TimeSeriesRecord], hours: int) -> GridBatch:
        if self.encoder is None:
            raise not_fitted_error("GrudForecaster")
        return self.encoder.encode(records, hours)

    def predict_proba(self, records: Sequence[TimeSeriesRecord]) -> np.ndarray:
        """Calibrated risk of in-hospital death from data up to ``hours``, shape (n,)."""
        with _torch_threads(self.config.threads):
            logits = self._logits(self._encoded(records, self.hours))[:, -1]
        return check_risk(self._calibrate(logits), "forecast risk")

    def risk_curve(self, record: TimeSeriesRecord, hours: int | None = None) -> np.ndarray:
        """Risk at the end of each hour 1..hours (default: the model's), one forward pass.

        The network is causal, so point ``t`` uses only readings before hour ``t + 1``;
        the point at the model's ``hours`` equals :meth:`predict_proba`.
        """
        with _torch_threads(self.config.threads):
            logits = self._logits(self._encoded([record], hours or self.hours))[0]
        return check_risk(self._calibrate(logits), "forecast risk curve")

    def top_signals(self, record: TimeSeriesRecord, *, top: int = 5) -> list[Contribution]:
        """Signals whose removal lowers the risk most (occlusion), largest first.

        Each measured signal in turn is treated as never measured (mask 0, no last
        value, gap from admission), the case GRU-D is built for; the drop in the raw
        risk is its contribution. Only signals that raised the risk are listed.
        """
        from dxkit.forecast.explain import Contribution
        from dxkit.forecast.signals import signal_specs

        if self.encoder is None:
            raise not_fitted_error("GrudForecaster")
        base = self.encoder.encode([record], self.hours)
        present = [j for j in range(base.mask.shape[2]) if base.mask[0, :, j].any()]
        variants = [base] + [self.encoder.occlude(base, j) for j in present]
        stacked = _concat(variants)
        with _torch_threads(self.config.threads):
            raw = 1.0 / (1.0 + np.exp(-self._logits(stacked)[:, -1]))
        deltas = raw[0] - raw[1:]
        specs, out = signal_specs(), []
        for i in np.argsort(-deltas)[:top]:
            if deltas[i] <= 0:
                break
            key = self.encoder.signals[present[int(i)]]
            t, v = record.signals[key].clean(until=float(self.hours))
            out.append(
                Contribution(
                    key,
                    float(deltas[i]),
                    float(t[-1]) if t.size else None,
                    float(v[-1]) if v.size else None,
                    specs[key].unit if key in specs else "",
                    int(t.size),
                )
            )
        return out

    # -- persistence --------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Write ``grud.pt`` and the manifest (layout, statistics, calibration, alert)."""
        import torch

        if self._net is None or self.encoder is None:
            raise not_fitted_error("GrudForecaster")
        with atomic_model_dir(Path(path)) as tmp:
            torch.save(self._net.state_dict(), tmp / MODEL_FILE)
            write_manifest(
                tmp,
                KIND,
                OUTCOME_LABELS,
                config=asdict(self.config),
                encoder=self.encoder.to_dict(),
                platt=list(self.platt),
                alert=self.alert.to_dict() if self.alert else None,
                validation=self.validation,
                epochs_run=self.epochs_run,
                files=[MODEL_FILE],
            )

    @classmethod
    def load(cls, path: Path) -> Self:
        """Read a directory written by :meth:`save`.

        Raises:
            ModelFormatError: wrong kind or version, a missing or damaged weights file,
                or a signal layout from another version of the signal table.
        """
        import torch

        path = Path(path)
        manifest = read_manifest(path, kind=KIND)
        require_files(path, [MODEL_FILE])
        model = cls(GrudConfig.from_dict(manifest.get("config", {})))
        model.encoder = GridEncoder.from_dict(manifest["encoder"])
        a, b = manifest["platt"]
        model.platt = (float(a), float(b))
        alert = manifest.get("alert")
        model.alert = AlertPolicy(**alert) if alert else None
        model.validation = dict(manifest.get("validation", {}))
        model.epochs_run = int(manifest.get("epochs_run", 0))
        enc = model.encoder
        net = GruD(len(enc.signals), enc.n_static, model.config.hidden, model.config.dropout)
        try:
            net.load_state_dict(torch.load(path / MODEL_FILE, weights_only=True))
        except Exception as exc:  # truncated file, shapes from another layout
            raise ModelFormatError(
                "forecast model weights",
                expected=f"a complete {MODEL_FILE} matching the manifest in {path}",
                found=f"a damaged or mismatched file ({type(exc).__name__})",
                fix="retrain the model into a fresh --out directory",
            ) from None
        net.eval()
        model._net = net
        model.model_id = hashlib.sha256((path / MANIFEST).read_bytes()).hexdigest()[:12]
        return model


def _fit_platt(logits: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Slope and intercept of a logistic map of the logit (Platt scaling).

    Two parameters cannot overfit a few hundred validation stays the way an isotonic
    map can, and they keep the ranking (AUROC) exactly.
    """
    from sklearn.linear_model import LogisticRegression

    fit = LogisticRegression(C=100.0).fit(logits[:, None], y)
    a, b = float(fit.coef_[0, 0]), float(fit.intercept_[0])
    return (a, b) if a > 0 else (1.0, 0.0)  # a reversed map would invert the ranking


def _concat(batches: Sequence[GridBatch]) -> GridBatch:
    return GridBatch(
        *(
            np.concatenate([getattr(b, f) for b in batches])
            for f in ("x", "mask", "delta", "x_last", "static")
        )
    )
