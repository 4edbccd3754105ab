"""Orchestration of ``sciml run`` / ``sciml resume``: a package with one-way imports.

This file imports nothing, so a Ray worker importing :mod:`sciml.run.worker` never loads the
driver. The modules, lowest first (each imports only modules above it)::

    records    trial records, their status and the MLflow tag names that identify a trial
    layout     every path under $SCIML_HOME
    options    RunOptions: the one definition of the options of `sciml run` and `sciml resume`
    sweep      the config source, trial configs, the search space on Ray Tune's search API
    signals    SIGTERM as Ctrl-C, the driver's pid file
    worker     what a trial runs (in-process or in a Ray worker): nothing of the driver
    executor   the interface of the executors; local (in-process) and ray_executor (Ray Tune)
    driver     run, resume, selection and registration

All MLflow writes are in :mod:`sciml.tracking`.
"""
