"""Several processes under ``torchrun``: rank, device, collectives, sharding (``torch.distributed``).

``torchrun`` (``python -m torch.distributed.run``) starts ``WORLD_SIZE`` processes and tells each its
global ``RANK`` and its ``LOCAL_RANK`` on its node. :func:`init` reads them, starts the process group
(NCCL on CUDA, gloo on CPU) and returns a :class:`DistInfo`; without ``torchrun`` it returns the
single-process info and starts nothing. The device is ``cuda:LOCAL_RANK`` -- the *local* rank: the
global rank would name a GPU that does not exist on the second node.

Every helper takes a :class:`DistInfo` and is a no-op (or the identity) for one process, so code
written with them runs unchanged with ``python`` and with ``torchrun``. :meth:`DistInfo.split` cuts the
world into groups of ranks (e.g. one group per seed, data-parallel inside each).
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Callable, Sequence, TypeVar

import torch
import torch.distributed as tdist

from .validation import check_positive_int

__all__ = ["DistInfo", "env", "init", "single", "world", "close", "barrier", "wait_all", "broadcast_object",
           "all_gather_object", "all_gather", "all_reduce_mean", "shard", "main_first", "batch_rows", "wrap_ddp"]

T = TypeVar("T")
LONG_WAIT = datetime.timedelta(days=2)
_long_group = None       # gloo over the whole world, timeout LONG_WAIT: for waits of unknown length


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: ``rank`` of ``world_size`` in ``group`` (None: the default group, or no
    group for one process), ``local_rank`` on its node, and its ``device``."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    group: object = None

    @property
    def is_main(self) -> bool:
        """Whether this process is rank 0 of its group (the one that writes files)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def split(self, ranks_per_group: int) -> tuple[int, int, "DistInfo"]:
        """Cut the world into ``world_size / ranks_per_group`` groups of consecutive ranks; return
        ``(group_index, num_groups, info_within_the_group)``. Every rank must call it (it is collective)."""
        check_positive_int(ranks_per_group, "ranks_per_group")
        if self.world_size % ranks_per_group:
            raise ValueError(f"ranks_per_group={ranks_per_group} must divide the world size {self.world_size}")
        num_groups, index = self.world_size // ranks_per_group, self.rank // ranks_per_group
        if ranks_per_group == 1 or num_groups == 1:
            group = self.group if num_groups == 1 else None
        else:       # new_group is collective: every rank creates every group, in the same order
            groups = [tdist.new_group(list(range(g * ranks_per_group, (g + 1) * ranks_per_group)))
                      for g in range(num_groups)]
            group = groups[index]
        return index, num_groups, DistInfo(self.rank % ranks_per_group, ranks_per_group, self.local_rank,
                                           self.device, group)


def env() -> tuple[int, int, int] | None:
    """``(RANK, WORLD_SIZE, LOCAL_RANK)`` as ``torchrun`` sets them, or None outside ``torchrun``."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return None
    try:
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local = int(os.environ.get("LOCAL_RANK", rank))
    except ValueError as err:
        raise ValueError(f"RANK, WORLD_SIZE and LOCAL_RANK must be integers: {err}") from None
    if not (world >= 1 and 0 <= rank < world and local >= 0):
        raise ValueError(f"need WORLD_SIZE >= 1 and 0 <= RANK < WORLD_SIZE, LOCAL_RANK >= 0; got "
                         f"RANK={rank}, WORLD_SIZE={world}, LOCAL_RANK={local}")
    return rank, world, local


def single(device=None) -> DistInfo:
    """The info of a plain single process on ``device`` (default CPU)."""
    return DistInfo(device=torch.device("cpu" if device is None else device))


def init(device_type: str | None = None) -> DistInfo:
    """Start the process group when launched by ``torchrun`` (idempotent) and return this rank's info.

    ``device_type``: ``"cuda"`` or ``"cpu"`` (default: CUDA when available). On CUDA the backend is
    NCCL and the device ``cuda:LOCAL_RANK`` (made current); on CPU gloo.
    """
    device_type = device_type or ("cuda" if torch.cuda.is_available() else "cpu")
    if device_type not in ("cuda", "cpu"):
        raise ValueError(f"device_type must be 'cuda' or 'cpu', got {device_type!r}")
    found = env()
    if found is None or found[1] == 1:
        return single("cuda" if device_type == "cuda" else "cpu")
    rank, world, local = found
    if device_type == "cuda":
        if local >= torch.cuda.device_count():
            raise ValueError(f"LOCAL_RANK={local} but this node has {torch.cuda.device_count()} GPU(s)")
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    global _long_group
    if not tdist.is_initialized():
        tdist.init_process_group("nccl" if device_type == "cuda" else "gloo", rank=rank, world_size=world,
                                 **({"device_id": device} if device_type == "cuda" else {}))
    if _long_group is None:
        _long_group = tdist.new_group(backend="gloo", timeout=LONG_WAIT)
    return DistInfo(rank, world, local, device)


def world(device=None) -> DistInfo:
    """The whole world's info (the default group), or a single process's when no group is started."""
    if not (tdist.is_available() and tdist.is_initialized()):
        return single(device)
    found = env()
    local = found[2] if found else 0
    device = torch.device("cuda", local) if tdist.get_backend() == "nccl" else torch.device("cpu")
    return DistInfo(tdist.get_rank(), tdist.get_world_size(), local, device)


def close() -> None:
    """End the process group, if one was started."""
    global _long_group
    if tdist.is_available() and tdist.is_initialized():
        tdist.destroy_process_group()
    _long_group = None


def barrier(info: DistInfo) -> None:
    """Wait until every rank of the group gets here."""
    if info.distributed:
        tdist.barrier(group=info.group)


def wait_all(info: DistInfo) -> None:
    """A barrier that may wait long (ranks done early, rank 0 filling a cache): over the whole world it
    uses a gloo group with a timeout of ``LONG_WAIT`` (2 days; NCCL's default gives up after 10 minutes)."""
    if not info.distributed:
        return
    if info.group is None and _long_group is not None:
        tdist.barrier(group=_long_group)
    else:
        barrier(info)


def broadcast_object(obj: T, info: DistInfo, src: int = 0) -> T:
    """Group rank ``src``'s ``obj`` on every rank (a picklable object)."""
    if not info.distributed:
        return obj
    box = [obj]
    tdist.broadcast_object_list(box, src=tdist.get_global_rank(info.group, src) if info.group else src,
                                group=info.group)
    return box[0]


def all_gather_object(obj, info: DistInfo) -> list:
    """Every rank's ``obj``, in rank order (picklable; CPU tensors travel fastest)."""
    if not info.distributed:
        return [obj]
    out = [None] * info.world_size
    tdist.all_gather_object(out, obj, group=info.group)
    return out


def all_gather(tensor: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """``cat`` over ranks (in rank order) of equally shaped tensors, along dim 0."""
    if not info.distributed:
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(info.world_size)]
    tdist.all_gather(parts, tensor.contiguous(), group=info.group)
    return torch.cat(parts)


def all_reduce_mean(tensor: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """The mean over ranks of ``tensor`` (a new tensor; the input is untouched)."""
    if not info.distributed:
        return tensor
    out = tensor.detach().clone()
    tdist.all_reduce(out, group=info.group)
    return out / info.world_size


def shard(items: Sequence[T], info: DistInfo) -> list[T]:
    """This rank's share ``items[rank::world_size]``."""
    return list(items)[info.rank::info.world_size]


def main_first(fn: Callable[[], T], info: DistInfo | None = None) -> T:
    """``fn()`` on rank 0, then (after a barrier) on the other ranks: e.g. to fill an on-disk cache once.
    ``info`` None: the whole world (:func:`world`)."""
    info = world() if info is None else info
    if not info.distributed:
        return fn()
    out = fn() if info.is_main else None
    wait_all(info)
    return out if info.is_main else fn()


def batch_rows(batch_size: int, info: DistInfo) -> slice:
    """This rank's rows ``[r b, (r + 1) b)``, ``b = batch_size / world_size``, of a global batch."""
    check_positive_int(batch_size, "batch_size")
    if batch_size % info.world_size:
        raise ValueError(f"the global batch size {batch_size} must be divisible by the world size "
                         f"{info.world_size}")
    b = batch_size // info.world_size
    return slice(info.rank * b, (info.rank + 1) * b)


def wrap_ddp(net: torch.nn.Module, info: DistInfo) -> torch.nn.Module:
    """``net`` in ``DistributedDataParallel`` over the group (gradients averaged over ranks); ``net`` itself
    for one process. Buffers (head gates, position embeddings) are constants and are not re-broadcast."""
    if not info.distributed:
        return net
    from torch.nn.parallel import DistributedDataParallel as DDP

    import inspect

    unused = any(p.numel() == 0 for p in net.parameters())       # e.g. a DiT layer pruned to zero heads
    no_sync = ("forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(DDP).parameters
               else "broadcast_buffers")                          # the name since torch 2.14, and before
    return DDP(net, device_ids=[info.device] if info.device.type == "cuda" else None, process_group=info.group,
               find_unused_parameters=unused, **{no_sync: False})
