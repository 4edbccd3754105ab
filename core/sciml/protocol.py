"""The experiment protocol the core enforces for every plugin.

- A pipeline selects on a **validation** metric (``val_*``): the epoch, the trial, the
  champion and any acceptance gate. :func:`check_selection_metric` refuses anything else
  when the pipeline is registered, so ``sciml plugins`` shows the problem at load time.
- The evaluator also reports the **test** counterpart of that metric (``val_rmsd`` ->
  ``test_rmsd``): logged and printed for every finished trial and for the champion, never
  used to choose.
- Every evaluator declares **trivial baselines** (:meth:`sciml.Evaluator.baselines`),
  measured on the same splits. :func:`compare` sets the model's test figure against the
  best of them; a champion that does not beat every baseline is flagged.

This module is pure (no torch, ray or mlflow) so that plugins and the CLI can use it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

VAL_PREFIX = "val_"
TEST_PREFIX = "test_"
BASELINE_PREFIX = "baseline."


class ProtocolError(ValueError):
    """A pipeline breaks the experiment protocol (a plugin author's error, found at load time)."""


def check_selection_metric(pipeline: str, metric: str, mode: str) -> None:
    """Refuse a pipeline that would choose on anything but validation data.

    Raises:
        ProtocolError: ``metric`` does not start with ``val_`` (e.g. ``test_rmsd``), or
            ``mode`` is not ``min``/``max``.
    """
    if mode not in ("min", "max"):
        raise ProtocolError(f"pipeline {pipeline!r}: mode {mode!r}: accepted: min, max")
    if not metric.startswith(VAL_PREFIX) or len(metric) == len(VAL_PREFIX):
        if metric.startswith(TEST_PREFIX):
            hint = f"use {VAL_PREFIX + metric[len(TEST_PREFIX):]!r} and report {metric!r}"
        else:
            hint = f"e.g. {VAL_PREFIX + metric!r}"
        raise ProtocolError(f"pipeline {pipeline!r} selects on {metric!r}, which is not a validation metric: "
                            f"the champion must be chosen on validation data ({hint}); "
                            "the test split is only reported")


def test_counterpart(metric: str) -> str:
    """The test counterpart of a validation metric: ``val_rmsd`` -> ``test_rmsd``."""
    return TEST_PREFIX + metric[len(VAL_PREFIX):] if metric.startswith(VAL_PREFIX) else metric


def flatten_baselines(baselines: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """``{"mean": {"test_mae": 0.3}}`` -> ``{"baseline.mean.test_mae": 0.3}`` (finite numbers only).

    Raises:
        ProtocolError: a baseline name that is empty or holds a dot.
    """
    out: dict[str, float] = {}
    for name, values in baselines.items():
        if not name or "." in name:
            raise ProtocolError(f"baseline name {name!r}: use a non-empty name without dots, e.g. 'mean'")
        for key, value in values.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if math.isfinite(float(value)):
                out[f"{BASELINE_PREFIX}{name}.{key}"] = float(value)
    return out


def unflatten_baselines(metrics: Mapping[str, float]) -> dict[str, dict[str, float]]:
    """The inverse of :func:`flatten_baselines` over a run's metrics (other keys are ignored)."""
    out: dict[str, dict[str, float]] = {}
    for key, value in metrics.items():
        if key.startswith(BASELINE_PREFIX):
            name, _, metric = key[len(BASELINE_PREFIX):].partition(".")
            out.setdefault(name, {})[metric] = value
    return out


@dataclasses.dataclass(frozen=True)
class Comparison:
    """The model's selection and test figures next to its best trivial baseline.

    Attributes:
        metric, test_metric: the selection metric (``val_*``) and its test counterpart.
        mode: ``min`` or ``max``.
        val, test: the model's values (``None`` where the evaluator did not report them).
        baseline: name of the best baseline on ``test_metric`` (``None`` if there is none).
        baseline_test: its test value.
        beats: the model is better than every baseline on test (``None``: cannot tell).
        skill: for ``min`` metrics the skill score ``1 - test / baseline_test`` (> 0 is
            better than the baseline; Murphy 1988); for ``max`` metrics the difference
            ``test - baseline_test``.
    """

    metric: str
    test_metric: str
    mode: str
    val: float | None
    test: float | None
    baseline: str | None
    baseline_test: float | None
    beats: bool | None
    skill: float | None

    def verdict(self) -> str:
        """One line for summaries and model descriptions."""
        if self.baseline is None:
            return "no trivial baseline declared"
        if self.beats is None:
            return f"cannot compare with baseline {self.baseline!r}: {self.test_metric} missing"
        word = "beats" if self.beats else "does NOT beat"
        return (f"{word} its best trivial baseline {self.baseline!r} "
                f"({self.test_metric} {fmt_value(self.test)} vs {fmt_value(self.baseline_test)}; skill {self.skill:+.3g})")


def fmt_value(value: float | None) -> str:
    """A metric for summaries and descriptions: 4 significant digits, ``n/a`` when missing."""
    return "n/a" if value is None else f"{value:.4g}"


def compare(metric: str, mode: str, metrics: Mapping[str, float],
            baselines: Mapping[str, Mapping[str, float]]) -> Comparison:
    """Set a model's test figure against its baselines.

    The comparator is the baseline best on test: beating it means beating every declared
    baseline, so the verdict can only understate the model, never flatter it. (Nothing
    about the *model* is chosen here.)
    """
    tm = test_counterpart(metric)
    val, test = metrics.get(metric), metrics.get(tm)
    scored = {n: v[tm] for n, v in baselines.items() if tm in v and math.isfinite(v[tm])}
    if not scored:
        name = next(iter(baselines), None)
        return Comparison(metric, tm, mode, val, test, name, None, None, None)
    pick = min if mode == "min" else max
    name = pick(scored, key=scored.__getitem__)
    ref = scored[name]
    if test is None or not math.isfinite(test):
        return Comparison(metric, tm, mode, val, None, name, ref, None, None)
    beats = test < ref if mode == "min" else test > ref
    if mode == "min":
        skill = 1.0 - test / ref if ref != 0 else (-math.inf if test > 0 else 0.0)
    else:
        skill = test - ref
    return Comparison(metric, tm, mode, val, test, name, ref, beats, skill)
