"""Data-parallel training on torch.distributed: one process per GPU (or per CPU share), any hosts.

`dafxkit train` and `dafxkit train-vae` read torchrun's environment (``WORLD_SIZE``, ``RANK``,
``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``); with more than one process they join a process group
(NCCL when the models are on CUDA, gloo on the CPU) and wrap the trained modules in
`DistributedDataParallel`. What makes the run the same for any number of processes:

* **Data.** ``batch_size`` is the global batch. Step ``s`` uses examples ``s·B … s·B + B − 1``
  of the seeded pipeline; process ``r`` of ``W`` generates and trains on rows
  ``r·B/W … (r+1)·B/W − 1`` of them. Processes never see the same example, together they see
  exactly one process's batch, and a run resumed with another process count continues the
  same sequence.
* **Random draws.** Every process seeds torch's generator alike, draws SPSA directions and
  sampling noise for the global batch and keeps its own rows (`dafxkit.spsa.BatchShare`).
* **Losses** are means over items, so DDP's average of the per-process gradients is the
  gradient of the global batch's loss.
* **Files.** Only rank 0 reads and writes the run folder (config, checkpoints, metrics, plots,
  evaluation) and trains or loads the β-VAE's cache; the others receive what they need from
  it, so hosts need no shared filesystem.
* **Threads.** Effects run on each process's CPU cores: each process takes
  ``cores / processes on this host`` threads for the C kernels, Numba and torch
  (``DAFXKIT_NUM_THREADS`` overrides), instead of torchrun's ``OMP_NUM_THREADS=1``.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import torch
import torch.distributed as dist

from dafxkit.errors import DafxError
from dafxkit.spsa import BatchShare

__all__ = ["Distributed", "leave", "session", "THREADS_ENV"]

#: Threads per process for effects, Numba and torch in data-parallel runs.
THREADS_ENV = "DAFXKIT_NUM_THREADS"

T = TypeVar("T")


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise DafxError(f"environment variable {name}={value!r} is not an integer") from None


@dataclass(frozen=True)
class Distributed:
    """Where this process stands in a data-parallel run (one process: rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @classmethod
    def from_env(cls) -> Distributed:
        """Read torchrun's variables (absent: a single process)."""
        world = _env_int("WORLD_SIZE", 1)
        rank = _env_int("RANK", 0)
        local_rank = _env_int("LOCAL_RANK", rank)
        local_world = _env_int("LOCAL_WORLD_SIZE", world)
        if world < 1 or not 0 <= rank < world or not 0 <= local_rank < local_world:
            raise DafxError(
                f"inconsistent torch.distributed environment: RANK={rank}, WORLD_SIZE={world}, "
                f"LOCAL_RANK={local_rank}, LOCAL_WORLD_SIZE={local_world}"
            )
        return cls(rank, world, local_rank, local_world)

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def share(self, global_batch: int, what: str = "batch_size") -> BatchShare | None:
        """This process's rows of a global batch (None for a single process, which holds it
        all); an error unless the processes split it evenly."""
        if not self.enabled:
            return None
        if global_batch % self.world_size:
            raise DafxError(
                f"{what} {global_batch} (the global batch) must be divisible by the "
                f"{self.world_size} processes of this run; choose a multiple of {self.world_size}"
            )
        size = global_batch // self.world_size
        return BatchShare(self.rank * size, size, global_batch)

    def device(self, device: torch.device) -> torch.device:
        """One GPU per process on each host: ``cuda`` becomes ``cuda:LOCAL_RANK``."""
        if device.type != "cuda" or not self.enabled:
            return device
        if self.local_rank >= torch.cuda.device_count():
            raise DafxError(
                f"process {self.rank} (local rank {self.local_rank}) has no GPU of its own: "
                f"this host has {torch.cuda.device_count()}; start at most that many processes "
                "per host (torchrun --nproc-per-node)"
            )
        device = torch.device("cuda", self.local_rank)
        torch.cuda.set_device(device)
        return device

    # -- collectives (no-ops for a single process) -------------------------------------

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def broadcast(self, value: T) -> T:
        """Rank 0's ``value`` (any picklable object), in every process."""
        if not self.enabled:
            return value
        box = [value if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def from_main(self, compute: Callable[[], T]) -> T:
        """Run ``compute`` on rank 0 only and hand its result to every process; when it fails,
        the other processes raise too (instead of waiting for a result that never comes)."""
        if not self.enabled:
            return compute()
        result: tuple[bool, Any] = (False, None)
        try:
            if self.is_main:
                result = (True, compute())
        except Exception as exc:
            self.broadcast((False, f"{type(exc).__name__}: {exc}"))
            raise
        ok, value = self.broadcast(result)
        if not ok:
            raise DafxError(f"rank 0 failed: {value}")
        return value

    def all_gather(self, value: T) -> list[T]:
        """Every process's ``value``, in rank order."""
        if not self.enabled:
            return [value]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, value)
        return out

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """The element-wise sum over processes (in place, and returned)."""
        if self.enabled:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def wrap(
        self,
        module: torch.nn.Module,
        device: torch.device,
        *,
        sync_buffers: bool = True,
        **options: Any,
    ) -> Any:
        """``module`` in `DistributedDataParallel` (itself for a single process).

        ``sync_buffers=False``: buffers are not re-sent from rank 0 before each forward pass
        (for buffers that are the same constants everywhere, such as windows and filter
        banks), under the option name of the installed torch.
        """
        if not self.enabled:
            return module
        import inspect

        from torch.nn.parallel import DistributedDataParallel

        if not sync_buffers:
            names = inspect.signature(DistributedDataParallel.__init__).parameters
            # torch 2.13 renamed broadcast_buffers (now deprecated, with a warning).
            key = "forward_sync_buffers" if "forward_sync_buffers" in names else "broadcast_buffers"
            options[key] = False
        ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(
            module, device_ids=ids, output_device=device.index if ids else None, **options
        )


def threads_per_process(info: Distributed) -> int:
    """``DAFXKIT_NUM_THREADS``, else this host's usable cores over its processes (≥ 1)."""
    chosen = _env_int(THREADS_ENV, 0)
    if chosen > 0:
        return chosen
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores // info.local_world_size)


def _set_threads(threads: int) -> None:
    from dafxkit.data.pipeline import limit_threads

    limit_threads(threads)  # the C kernels' OpenMP pool and Numba's
    torch.set_num_threads(threads)


@contextmanager
def session() -> Iterator[Distributed]:
    """Join the process group torchrun describes (when there is one) for the ``with`` block.

    A group the caller already initialised is used as it is and left open; one made here is
    destroyed at the end. A single process gets ``Distributed()`` and nothing changes.
    """
    info = Distributed.from_env()
    if not info.enabled:
        yield info
        return
    _set_threads(threads_per_process(info))
    if dist.is_initialized():
        if dist.get_world_size() != info.world_size or dist.get_rank() != info.rank:
            raise DafxError(
                "the initialised process group does not match WORLD_SIZE/RANK of the environment"
            )
        yield info
        return
    # CPU tensors (and picklable objects) go through gloo, CUDA tensors through NCCL.
    backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
    # Rank 0 alone prepares the run folder (and may pre-train the β-VAE) while the others
    # wait at a collective.
    dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=60))
    try:
        yield info
        # No process tears the group down while another is still in a collective. (This
        # alone did not stop finished processes aborting at exit under DDP: see `leave`.)
        dist.barrier()
    finally:
        dist.destroy_process_group()


def leave(code: int = 0) -> NoReturn:
    """End this process of a data-parallel run now, with exit status ``code``, after flushing
    its output and logs: what `dafxkit train` and `dafxkit train-vae` do under torchrun.

    `DistributedDataParallel` keeps the process group, and gloo's threads, alive after
    ``destroy_process_group`` (torch 2.13; measured: the threads stay when a module was ever
    wrapped, and go when only collectives ran). A process that then goes through the
    interpreter's normal shutdown has been seen to abort in C++ teardown ("terminate called
    without an active exception") after its work was done and its files written, under CPU
    load in about one run in six, and torchrun reports the run as failed. Leaving with
    ``os._exit`` skips that teardown. Scripts that call `dafxkit.train.train` under torchrun
    can end the same way.
    """
    import logging
    import sys

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed or broken: nothing more to save
            pass
    os._exit(code)
