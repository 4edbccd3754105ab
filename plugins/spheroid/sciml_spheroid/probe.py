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


class SupervisedClassifier(torch.nn.Module):
    """Encoder + ReLU + linear layer trained with cross-entropy on augmented images (thesis
    §6.2.2), as an engine model (:func:`sciml.fit`): ``training_step`` returns ``loss``,
    ``validation_step`` ``loss`` and ``acc`` (fraction of correct labels)."""

    def __init__(self, encoder: torch.nn.Module, embedding_size: int, n_classes: int, augment, lr: float,
                 weight_decay: float = 1e-4):
        super().__init__()
        self.net = torch.nn.Sequential(encoder, torch.nn.ReLU(), torch.nn.Linear(embedding_size, n_classes))
        self.augment, self.lr, self.weight_decay = augment, lr, weight_decay

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)

    def training_step(self, batch, epoch):
        images, labels = batch
        with torch.no_grad():
            images = self.augment(images).clamp(0, 1)
        return {"loss": torch.nn.functional.cross_entropy(self.net(images), labels)}

    def validation_step(self, batch, epoch):
        images, labels = batch
        logits = self.net(images)
        return {"loss": torch.nn.functional.cross_entropy(logits, labels),
                "acc": (logits.argmax(1) == labels).float().mean()}

    def configure_optimizers(self, config):
        return torch.optim.Adam(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)

    @torch.no_grad()
    def accuracy(self, images: torch.Tensor, labels: np.ndarray, batch_size: int = 256) -> float:
        """Fraction of ``images`` ``(n, C, S, S)`` classified as ``labels`` ``(n,)`` (eval mode)."""
        self.eval()
        device = next(self.parameters()).device
        pred = torch.cat([self.net(images[i:i + batch_size].to(device)).argmax(1).cpu()
                          for i in range(0, len(images), batch_size)])
        return float((pred.numpy() == np.asarray(labels)).mean())


def supervised_baseline(train_img: np.ndarray, train_y: np.ndarray, test_img: np.ndarray | None = None,
                        test_y: np.ndarray | None = None, width: int = 8, embedding_size: int = 64,
                        stem_stride: int = 2, epochs: int = 30, lr: float = 1e-3, batch_size: int = 64,
                        seed: int = 0, n_classes: int = 3,
                        evals: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
                        patience: int = 5, device: str = "cpu") -> dict[str, float]:
    """Train the encoder + a linear layer from scratch with cross-entropy (thesis §6.2.2), on the
    core's engine (:func:`sciml.fit`, Adam, weight decay 1e-4, on ``device``, in a temporary
    directory).

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

    Raises:
        ValueError: fewer than 2 training images (batch normalisation needs 2 per batch).
    """
    import tempfile
    from pathlib import Path

    import sciml

    from sciml_spheroid.augment import supervised_augment
    from sciml_spheroid.encoder import ResNet18Encoder

    def as_tensor(img):
        t = torch.from_numpy(np.asarray(img, np.float32))
        return t[:, None] if t.ndim == 3 else t

    x = as_tensor(train_img)
    if len(x) < 2:
        raise ValueError(f"the supervised baseline needs at least 2 training images, got {len(x)}")
    torch.manual_seed(seed)
    y = torch.from_numpy(np.asarray(train_y, np.int64))
    model = SupervisedClassifier(ResNet18Encoder(x.shape[1], width, embedding_size, stem_stride=stem_stride),
                                 embedding_size, n_classes, supervised_augment(x.shape[-1]), lr)
    sets = {name: (as_tensor(img), np.asarray(lab)) for name, (img, lab) in (evals or {}).items()}
    if test_img is not None:
        sets["test"] = (as_tensor(test_img), np.asarray(test_y))
    has_val = "val" in sets
    # a last batch of one image would break batch normalisation: grow the batch by one instead
    batch_size = batch_size + 1 if len(x) % batch_size == 1 else batch_size
    config = sciml.TrainerConfig(max_epochs=epochs, batch_size=batch_size, val_batch_size=256, lr=lr,
                                 patience=patience if has_val else 0, monitor="val_acc" if has_val else "train_loss",
                                 mode="max" if has_val else "min", restore_best=has_val, checkpoint_every_s=3600.0)
    val = (torch.utils.data.TensorDataset(sets["val"][0], torch.from_numpy(sets["val"][1].astype(np.int64)))
           if has_val else None)
    with tempfile.TemporaryDirectory(prefix="sciml-supervised-") as tmp:
        ctx = sciml.Context(run_dir=Path(tmp), cache_dir=Path(tmp), seed=seed, device=device)
        fitted = sciml.fit(model, torch.utils.data.TensorDataset(x, y), val, config, ctx, sciml.SilentReporter())
    out = {"train_acc": model.accuracy(x, y.numpy()), "epochs_trained": fitted["epochs"]}
    for name, (xs, ys) in sets.items():
        out[f"{name}_acc"] = model.accuracy(xs, ys)
    return out
