"""The interface of the executors: what runs a plan's trials, in-process or on Ray Tune.

The driver builds a :class:`Plan`, picks :class:`~sciml.run.local.LocalExecutor` (``sciml run``)
or :class:`~sciml.run.ray_executor.RayExecutor` (``sciml run --tune``), and gets one
:class:`~sciml.run.records.TrialRecord` per trial back, each child run already logged and ended.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

from sciml.run.options import RunOptions
from sciml.run.records import TrialRecord
from sciml.run.sweep import ConfigSource, Space


@dataclasses.dataclass
class Plan:
    """What one ``sciml run`` (or its ``sciml resume``) executes.

    Attributes:
        options: the run's options.
        pipeline, plugin: the :class:`~sciml.Pipeline` and the plugin registering it.
        source: what every trial's config is resolved from.
        config: the base config, resolved once (its ``seed`` may be ``None``: drawn).
        space: the parsed search space (``--tune``).
        base_seed: the first seed (trials use ``base_seed + i``).
        parent_id: the MLflow parent run.
    """

    options: RunOptions
    pipeline: Any
    plugin: str
    source: ConfigSource
    config: dict[str, Any]
    space: Space
    base_seed: int
    parent_id: str


class Executor(Protocol):
    def execute(self, plan: Plan, tracker, *, resume: bool = False, retry_failed: bool = False) -> list[TrialRecord]:
        """Run (or, with ``resume``, continue) the plan's trials; every child run is ended on return.

        Raises:
            KeyboardInterrupt: interrupted (the unfinished trials' runs are marked KILLED).
            UserError: bad input found while running (a trial's config, every trial failing on it).
        """
        ...

    def directories(self, parent_id: str) -> list:
        """The local directories this executor writes for ``parent_id`` (removed after a late user error)."""
        ...
