"""Run replications: in this process, in parallel processes, or on a Dask cluster.

Every (layout, replication) pair is one task; replication ``r`` of every layout draws its calls
from the same streams ``(seed, r)`` (common random numbers). The scenarios (travel tables
included) are sent to each worker once: a process pool's initializer, or Dask's ``scatter``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

from simulation.errors import SimulationError
from simulation.model import ReplicationResult, Scenario, run_replication

_WORKER_SCENARIOS: Sequence[Scenario] = ()


def _init_worker(scenarios: Sequence[Scenario]) -> None:
    global _WORKER_SCENARIOS
    _WORKER_SCENARIOS = scenarios


def _task(index: int, replication: int, days: float, seed: int) -> ReplicationResult:
    return run_replication(_WORKER_SCENARIOS[index], days=days, seed=seed, replication=replication)


def _dask_task(scenarios: Sequence[Scenario], index: int, replication: int, days: float, seed: int) -> ReplicationResult:
    return run_replication(scenarios[index], days=days, seed=seed, replication=replication)


def run_scenarios(
    scenarios: Sequence[Scenario],
    *,
    days: float,
    replications: int,
    seed: int,
    workers: int | None = None,
    dask: str | Any | None = None,
    progress: bool = False,
    on_result: Callable[[ReplicationResult], None] | None = None,
) -> dict[str, list[ReplicationResult]]:
    """Run ``replications`` replications of every scenario.

    Parameters
    ----------
    scenarios
        One per layout (distinct names).
    days, replications, seed
        Length of each replication, how many, and the run's seed.
    workers
        Processes to use (``os.cpu_count()`` when None; 1 runs here, without a pool).
    dask
        A Dask scheduler address (``tcp://HOST:8786``) or a ``distributed.Client``: run there.
    progress
        Show a tqdm progress bar.
    on_result
        Called with each result as it arrives.

    Returns
    -------
    dict
        Layout name -> results ordered by replication.

    Raises
    ------
    SimulationError
        Bad counts, duplicate layout names, or Dask asked for but not installed.
    """
    if isinstance(replications, bool) or not isinstance(replications, int) or replications < 1:
        raise SimulationError(f"replications must be an integer >= 1, got {replications!r}")
    if not days > 0:
        raise SimulationError(f"days must be > 0, got {days!r}")
    names = [s.name for s in scenarios]
    if len(set(names)) != len(names) or not names:
        raise SimulationError(f"scenarios must have distinct layout names, got {names!r}")
    tasks = [(i, r) for r in range(replications) for i in range(len(scenarios))]
    results: dict[str, list[ReplicationResult]] = {n: [] for n in names}
    bar = _bar(len(tasks), progress)

    def take(result: ReplicationResult) -> None:
        results[result.layout].append(result)
        if on_result is not None:
            on_result(result)
        if bar is not None:
            bar.update(1)

    try:
        if dask is not None:
            _run_dask(dask, scenarios, tasks, days, seed, take)
        else:
            n_workers = min(workers or os.cpu_count() or 1, len(tasks))
            if n_workers <= 1:
                for i, r in tasks:
                    take(run_replication(scenarios[i], days=days, seed=seed, replication=r))
            else:
                with ProcessPoolExecutor(n_workers, initializer=_init_worker, initargs=(tuple(scenarios),)) as pool:
                    futures = [pool.submit(_task, i, r, days, seed) for i, r in tasks]
                    for future in as_completed(futures):
                        take(future.result())
    finally:
        if bar is not None:
            bar.close()
    for runs in results.values():
        runs.sort(key=lambda res: res.replication)
    return results


def _run_dask(
    dask: str | Any, scenarios: Sequence[Scenario], tasks: list[tuple[int, int]], days: float, seed: int,
    take: Callable[[ReplicationResult], None],
) -> None:  # fmt: skip
    try:
        from distributed import Client, as_completed as dask_completed
    except ImportError as e:
        raise SimulationError("--dask needs the dask[distributed] package (pip install 'dask[distributed]')") from e
    own = isinstance(dask, str)
    client = Client(dask) if own else dask
    try:
        shared = client.scatter(tuple(scenarios), broadcast=True)
        futures = [client.submit(_dask_task, shared, i, r, days, seed, pure=False) for i, r in tasks]
        for future in dask_completed(futures):
            take(future.result())
    finally:
        if own:
            client.close()


def _bar(total: int, progress: bool) -> Any:
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="replication", desc="simulating")


__all__ = ["run_scenarios"]
