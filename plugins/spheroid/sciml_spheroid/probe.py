"""Intermediate evaluation of the SSL model (thesis §6.2): a linear probe on frozen features and
the supervised baseline (§6.2.2), both classifying untreated / single dose / drug screening.

- Linear probe (§6.2, §6.2.1 item 1): scikit-learn logistic regression on standardised frozen
  representations, trained with 10, 20, 30 and all labelled examples per class.
- Supervised baseline (§6.2.2): the same ResNet-18-style encoder, randomly initialised, trained
  from scratch on the labels with the weaker augmentations (crop 80–100 %, flips, blur).
"""

from __future__ import annotations

import numpy as np
import torch


def linear_probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                 per_class: int | None, repeats: int = 5, seed: int = 0) -> float:
    """Test accuracy of logistic regression trained on ``per_class`` examples of each class.

    ``train_x`` ``(n, D)``, labels ``(n,)``; ``per_class=None`` uses all examples; a class with
    fewer examples contributes all it has. Averaged over ``repeats`` random draws.
    """
    return linear_probe_scores(train_x, train_y, {"test": (test_x, test_y)}, per_class, repeats, seed)["test"]


def linear_probe_scores(train_x: np.ndarray, train_y: np.ndarray, evals: dict[str, tuple[np.ndarray, np.ndarray]],
                        per_class: int | None, repeats: int = 5, seed: int = 0) -> dict[str, float]:
    """Accuracy on each held-out set of ``evals`` (``name -> (x (m, D), y (m,))``) of logistic
    regression on standardised ``train_x`` ``(n, D)`` fitted once per draw (as :func:`linear_probe`).

    Returns ``{name: accuracy}``; NaN for every set when a draw holds fewer than 2 classes.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    accs: dict[str, list[float]] = {name: [] for name in evals}
    for _ in range(1 if per_class is None else repeats):
        if per_class is None:
            sel = np.arange(len(train_y))
        else:
            sel = np.concatenate([rng.permutation(np.flatnonzero(train_y == c))[:per_class] for c in np.unique(train_y)])
        if len(np.unique(train_y[sel])) < 2:
            return {name: float("nan") for name in evals}
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
        clf.fit(train_x[sel], train_y[sel])
        for name, (x, y) in evals.items():
            accs[name].append(float(np.mean(clf.predict(x) == y)))
    return {name: float(np.mean(v)) for name, v in accs.items()}


def supervised_baseline(train_img: np.ndarray, train_y: np.ndarray, test_img: np.ndarray | None = None,
                        test_y: np.ndarray | None = None, width: int = 8, embedding_size: int = 64,
                        stem_stride: int = 2, epochs: int = 30, lr: float = 1e-3, batch_size: int = 64,
                        seed: int = 0, n_classes: int = 3,
                        evals: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
                        patience: int = 5) -> dict[str, float]:
    """Train the encoder + a linear layer from scratch with cross-entropy (thesis §6.2.2).

    Early stopping: after each epoch the accuracy on ``evals["val"]`` (when given) is measured;
    the weights of the best epoch are kept and training stops after ``patience`` epochs without
    improvement (at most ``epochs``). Without a validation set all ``epochs`` are run.

    Args:
        train_img, test_img: ``(n, C, S, S)`` (or ``(n, S, S)``) images in [0, 1]; labels
            ``(n,)`` in 0..n_classes-1.
        evals: held-out sets ``name -> (images, labels)``, scored as ``{name}_acc``.

    Returns:
        ``{"train_acc" (best epoch, un-augmented training images), "epochs_trained",
        "test_acc" (if test_img is given), "<name>_acc" per evals}``.
    """
    import copy

    from sciml_spheroid.augment import supervised_augment
    from sciml_spheroid.encoder import ResNet18Encoder

    def as_tensor(img):
        t = torch.from_numpy(np.asarray(img, np.float32))
        return t[:, None] if t.ndim == 3 else t

    torch.manual_seed(seed)
    x = as_tensor(train_img)
    size = x.shape[-1]
    enc = ResNet18Encoder(x.shape[1], width, embedding_size, stem_stride=stem_stride)
    net = torch.nn.Sequential(enc, torch.nn.ReLU(), torch.nn.Linear(embedding_size, n_classes))
    aug = supervised_augment(size)
    y = torch.from_numpy(np.asarray(train_y, np.int64))
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=1e-4)
    g = torch.Generator().manual_seed(seed)
    sets = {name: (as_tensor(img), np.asarray(lab)) for name, (img, lab) in (evals or {}).items()}
    if test_img is not None:
        sets["test"] = (as_tensor(test_img), np.asarray(test_y))

    @torch.no_grad()
    def acc(xs, ys):
        net.eval()
        out = float((net(xs).argmax(1).numpy() == np.asarray(ys)).mean())
        net.train()
        return out

    best, best_state, since, trained = -1.0, None, 0, 0
    for _ in range(epochs):
        net.train()
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), batch_size):
            b = perm[i:i + batch_size]
            if len(b) < 2:
                continue
            with torch.no_grad():
                xb = aug(x[b]).clamp(0, 1)
            loss = torch.nn.functional.cross_entropy(net(xb), y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
        trained += 1
        if "val" in sets:
            v = acc(*sets["val"])
            if v > best:
                best, best_state, since = v, copy.deepcopy(net.state_dict()), 0
            else:
                since += 1
                if since >= patience:
                    break
    if best_state is not None:
        net.load_state_dict(best_state)
    out = {"train_acc": acc(x, y.numpy()), "epochs_trained": float(trained)}
    for name, (xs, ys) in sets.items():
        out[f"{name}_acc"] = acc(xs, ys)
    return out
