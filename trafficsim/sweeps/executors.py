"""Executors: each runs a list of jobs and yields ``(job index, output)`` as jobs finish.

* ``serial``  - in this process, in order.
* ``process`` - a local process pool (fork on Linux); workers exit by themselves when the sweep dies.
* ``dask``    - a ``distributed`` scheduler: topologies scattered to every worker once, jobs in
  submission order by priority. Dask moves results by pickle: connect only to a scheduler you trust.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Callable, Iterator, Sequence

from ..errors import InputError
from ..topology import Topology
from .plan import Job

Outputs = Iterator[tuple[int, Any]]


def _single_threaded(fn: Callable[..., Any], *args: Any) -> Any:
    # a worker already runs one task per core: no threads inside the engine
    os.environ["TRAFFICSIM_THREADS"] = "1"
    return fn(*args)


def _pool_init(parent_pid: int) -> None:
    os.environ["TRAFFICSIM_THREADS"] = "1"
    # Exit when the sweep process dies (e.g. SIGKILL) instead of lingering as an orphan.
    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(1)
    threading.Thread(target=watch, daemon=True, name="trafficsim-parent-watch").start()


def run_serial(jobs: Sequence[Job]) -> Outputs:
    for i, (fn, args) in enumerate(jobs):
        yield i, fn(*args)


def run_process(jobs: Sequence[Job], workers: int) -> Outputs:
    import multiprocessing as mp

    # fork starts workers fast and shares already-loaded kernels; elsewhere the platform default (spawn)
    ctx = mp.get_context("fork") if sys.platform.startswith("linux") else None
    pool = ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=ctx, initializer=_pool_init,
                               initargs=(os.getpid(),))
    try:
        # the pool starts jobs in submission order
        pending = {pool.submit(fn, *args): i for i, (fn, args) in enumerate(jobs)}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in sorted(done, key=pending.__getitem__):
                yield pending.pop(fut), fut.result()
    except BaseException:
        # Ctrl-C, an error or the caller stopping early: the running jobs' results are not wanted, so stop
        # the workers now instead of waiting for their jobs (minutes on a small array)
        processes = getattr(pool, "_processes", None) or {}  # pid -> Process (no public accessor)
        for proc in list(processes.values()):
            proc.terminate()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def dask_client(dask_address: Any) -> tuple[Any, bool]:
    """(client, owned): a Client for an address string, a Client, or a (Local)Cluster."""
    try:
        from distributed import Client
    except ImportError:
        raise InputError("executor='dask' needs dask.distributed: pip install 'trafficsim[dask]'") from None
    if dask_address is None:
        raise InputError("executor='dask' needs dask_address: a scheduler address, a Client or a LocalCluster")
    if isinstance(dask_address, Client):
        return dask_address, False
    if isinstance(dask_address, str):
        try:
            return Client(dask_address, timeout="20s"), True
        except (OSError, ValueError, TypeError) as e:  # unreachable (TimeoutError is an OSError), malformed
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise InputError(f"cannot reach the Dask scheduler at {dask_address!r}: {first}") from None
    if hasattr(dask_address, "scheduler_address"):  # a LocalCluster or another deployed cluster
        return Client(dask_address), True
    raise InputError(f"dask_address must be a scheduler address, a Client or a cluster, got {dask_address!r}")


def dask_workers(client: Any) -> int:
    return max(1, sum(client.nthreads().values()))


def run_dask(jobs: Sequence[Job], client: Any) -> Outputs:
    from distributed import as_completed

    # each topology goes to every worker once; jobs refer to it by future
    topologies = {id(a): a for _, args in jobs for a in args if isinstance(a, Topology)}
    scattered = {}
    if topologies:
        scattered = dict(zip(topologies, client.scatter(list(topologies.values()), broadcast=True)))
    futures = {}
    for i, (fn, args) in enumerate(jobs):
        args = tuple(scattered.get(id(a), a) if isinstance(a, Topology) else a for a in args)
        # earlier jobs first, as the other executors do
        futures[client.submit(_single_threaded, fn, *args, pure=False, priority=-i)] = i
    try:
        for fut in as_completed(list(futures)):
            yield futures[fut], fut.result()
    finally:
        client.cancel(list(futures))


class NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(total: int, initial: int, desc: str, enabled: bool) -> Any:
    """A tqdm bar (count, rate, ETA) on stderr, or a no-op."""
    if not enabled:
        return NoBar()
    from tqdm.auto import tqdm
    return tqdm(total=total, initial=initial, desc=desc, unit="pt", smoothing=0.1, dynamic_ncols=True)
