"""Confidence calibration: temperature scaling, expected calibration error, data-driven confidence thresholds."""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def log_losses(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per-message negative log-probability of the true label (clipped, so a zero probability costs ~27.6)."""
    p = np.asarray(probs)[np.arange(len(labels)), labels]
    return -np.log(np.clip(p, 1e-12, None))


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    return float(log_losses(softmax(logits, temperature), labels).mean())


def _fit_scaling(logits: np.ndarray, labels: np.ndarray, *, with_bias: bool, max_iter: int,
                 l2: float = 0.0, with_scales: bool = False) -> tuple[float, np.ndarray, np.ndarray]:
    """L-BFGS on the validation NLL of softmax(scales * logits / T [+ bias]); T optimised as log T so it stays > 0,
    the scales (``with_scales``) as log-scales centred on 0, so they are positive with geometric mean 1 and T keeps
    its meaning (the overall sharpness). Returns (T, scales, bias); scales are 1 and bias 0 where not fitted.

    One loop for every calibrator so they cannot drift apart (step size, line search, divergence check)."""
    import torch   # here, not at the top: the bot imports softmax and serves without PyTorch

    x = torch.as_tensor(np.asarray(logits), dtype=torch.float64)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    k = x.shape[1]
    # a scale fit starts from the temperature alone (a good, nearby start for the extra parameters)
    start = np.log(_fit_scaling(logits, labels, with_bias=False, max_iter=max_iter)[0]) if with_scales else 0.0
    log_t = torch.full((1,), float(start), dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(k, dtype=torch.float64, requires_grad=with_bias)
    log_s = torch.zeros(k, dtype=torch.float64, requires_grad=with_scales)
    params = [log_t] + ([bias] if with_bias else []) + ([log_s] if with_scales else [])
    opt = torch.optim.LBFGS(params, lr=0.1, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        centred = log_s - log_s.mean()
        loss = torch.nn.functional.cross_entropy(x * centred.exp() / log_t.exp() + bias, y)
        if with_bias:
            loss = loss + l2 * (bias ** 2).sum()
        if with_scales:
            loss = loss + l2 * (centred ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    t = float(log_t.exp().item())
    b = bias.detach().numpy().copy()
    s = (log_s - log_s.mean()).exp().detach().numpy().copy()
    if not np.isfinite(t) or t <= 0 or not np.isfinite(b).all() or not np.isfinite(s).all():
        what = "temperature" + (", scales" if with_scales else "") + (" and bias" if with_bias else "")
        raise ArithmeticError(f"{what} fit diverged (T={t}" + (f", scales={s}" if with_scales else "")
                              + (f", bias={b})" if with_bias else ")"))
    return t, s, b


def fit_temperature(logits: np.ndarray, labels: np.ndarray, max_iter: int = 200) -> float:
    """The temperature T > 0 minimising validation NLL of softmax(logits / T) (optimised as log T by L-BFGS)."""
    return _fit_scaling(logits, labels, with_bias=False, max_iter=max_iter)[0]


def on_columns(logits: np.ndarray, labels: list[str], names: list[str], truth: list[str]):
    """The logit columns of the classes ``names`` (in that order) and ``truth`` as indices into them.

    Softmax over a subset of logit columns is the model's probabilities renormalised over those classes, so a
    binary set (positive / negative) is read by a 3-class model through its two polar columns."""
    missing = sorted(set(names) - set(labels))
    if missing:
        raise ValueError(f"label(s) {missing} are not the model's ({labels})")
    unknown = sorted(set(truth) - set(names))
    if unknown:
        raise ValueError(f"label(s) {unknown} are not among {names}")
    columns = [labels.index(n) for n in names]
    return np.asarray(logits)[:, columns], np.array([names.index(t) for t in truth])


def reliability(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> dict:
    """Per-bin mean confidence, accuracy and count (equal-width confidence bins)."""
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, n_bins - 1)
    bins = []
    for b in range(n_bins):
        mask = idx == b
        bins.append({"lo": float(edges[b]), "hi": float(edges[b + 1]), "count": int(mask.sum()),
                     "confidence": float(conf[mask].mean()) if mask.any() else None,
                     "accuracy": float(correct[mask].mean()) if mask.any() else None})
    return {"bins": bins}


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    n = len(labels)
    if n == 0:
        return 0.0
    return float(sum(b["count"] / n * abs(b["accuracy"] - b["confidence"])
                     for b in reliability(probs, labels, n_bins)["bins"] if b["count"]))


def confidence_thresholds(probs: np.ndarray, labels: np.ndarray, names: list[str],
                          target_precision: float) -> dict:
    """Per predicted class, the lowest confidence t such that predictions with confidence >= t reach
    ``target_precision`` on this (validation) set; ``None`` where no threshold reaches it.

    Also reports the coverage: the share of all messages that would be answered confidently.
    """
    conf, pred = probs.max(axis=1), probs.argmax(axis=1)
    thresholds: dict[str, float | None] = {}
    confident = np.zeros(len(labels), dtype=bool)
    for k, name in enumerate(names):
        mask = pred == k
        if not mask.any():
            thresholds[name] = None
            continue
        order = np.argsort(-conf[mask])
        c_sorted = conf[mask][order]
        hits = (labels[mask][order] == k).astype(float)
        precision_at = np.cumsum(hits) / np.arange(1, len(hits) + 1)
        ok = np.nonzero(precision_at >= target_precision)[0]
        if len(ok) == 0:
            thresholds[name] = None
            continue
        # the largest prefix (lowest threshold) whose precision still meets the target
        t = float(c_sorted[ok[-1]])
        thresholds[name] = t
        confident |= mask & (conf >= t)
    covered = int(confident.sum())
    precision = float((pred[confident] == labels[confident]).mean()) if covered else None
    return {"target_precision": target_precision, "thresholds": thresholds,
            "coverage": covered / max(len(labels), 1), "precision": precision}


def fit_temperature_and_bias(logits: np.ndarray, labels: np.ndarray, max_iter: int = 200,
                             l2: float = 1e-3) -> tuple[float, np.ndarray]:
    """T > 0 and one bias per class minimising validation NLL of softmax(logits / T + bias).

    The bias absorbs a shift of the label prior between the training mix and a domain (a shop whose customers are
    mostly happy), which a temperature alone cannot. A small L2 penalty pins the biases (softmax ignores a common
    shift) and keeps them near 0 when the data says nothing."""
    t, _, b = _fit_scaling(logits, labels, with_bias=True, max_iter=max_iter, l2=l2)
    return t, b - b.mean()


def fit_scales_and_bias(logits: np.ndarray, labels: np.ndarray, max_iter: int = 200,
                        l2: float = 1e-3) -> tuple[float, np.ndarray, np.ndarray]:
    """(T, scales, bias) minimising validation NLL of softmax(scales * logits / T + bias): vector scaling (Guo et
    al. 2017, "On Calibration of Modern Neural Networks"), a temperature per class written as one shared T times
    per-class scales with geometric mean 1.

    Where a class's logit means something else on a domain than in the training mix (Portuguese 3-star reviews:
    the model's *neutral* logit says little about a lukewarm review), one temperature and a prior shift cannot fix
    it; a scale per class can (bench/calibration.py). The same small L2 penalty keeps the biases and the log-scales
    near 0 when the data says nothing."""
    t, scales, b = _fit_scaling(logits, labels, with_bias=True, with_scales=True, max_iter=max_iter, l2=l2)
    return t, scales, b - b.mean()
