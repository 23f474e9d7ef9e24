"""`evalkit render` over several GPUs (or hosts) with torch.distributed.

    torchrun --nproc-per-node 2 -m evalkit.cli render --checkpoint a.safetensors --checkpoint b.safetensors
    pytest evalkit --checkpoint a.safetensors --checkpoint b.safetensors --score-only   # score + gate once

The launcher (`torchrun`, or `accelerate launch`, which runs torchrun's agent)
sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; without them
this is a world of one and no process group is started. Rank r renders on
cuda:LOCAL_RANK (cpu when there is no GPU) into the shared render cache,
whose writes are atomic per file, so ranks never need to exchange images.

The split, computed identically on every rank from the command line alone:

1. The work list is every (checkpoint, prompt, seed): checkpoints sorted by
   path, prompts and seeds in suite order (the order one process renders them).
2. It is cut into the renderer's batches (each checkpoint's own batch size), so
   an image has the same batch-mates on one rank or many and is bit-identical.
3. Batches are dealt out contiguously: rank r takes those whose midpoint lies
   in the r-th of WORLD_SIZE equal slices of the list. Every rank gets an equal
   share give or take one batch, a checkpoint is cut only where a slice
   boundary falls inside it, and all ranks together make at most
   checkpoints + WORLD_SIZE - 1 LoRA switches and one base load each.

Ranks talk over gloo (TCP, CPU) whatever the device: they only exchange a few
small Python objects at the end (who rendered what, who failed), which needs
no NCCL communicator or GPU memory, and works across hosts alike.
A rank that fails on a checkpoint reports it and goes on with the rest of its
share; every image rendered stays in the cache, and the run exits non-zero.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

from evalkit.errors import EvalkitError

# The final gather waits for the slowest rank's whole share: hours in a big
# nightly. A crashed peer is noticed at once (its socket closes), so a long
# timeout never hides a failure; it only must not cut a healthy run short.
GATHER_TIMEOUT = timedelta(hours=24)


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls, env=os.environ) -> "World":
        try:
            return cls(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0)))
        except ValueError:
            raise EvalkitError(None, "RANK, WORLD_SIZE and LOCAL_RANK must be integers (set by torchrun)") from None

    def device(self, requested: str | None) -> str | None:
        """cuda:LOCAL_RANK for a default or bare "cuda" request under a launcher; anything else as asked."""
        import torch

        if self.size > 1 and requested in (None, "cuda") and torch.cuda.is_available():
            torch.cuda.set_device(self.local_rank)
            return f"cuda:{self.local_rank}"
        return requested


@dataclass
class Share:
    """A contiguous run of one checkpoint's (prompt, seed) slots, given to one rank."""

    checkpoint: Path
    slots: list[tuple[int, int]] = field(default_factory=list)  # (prompt index, seed)

    def prompts(self, suite) -> list:
        """The suite cut down to this share's slots, order kept (what render_checkpoint takes)."""
        seeds: dict[int, list[int]] = {}
        for i, seed in self.slots:
            seeds.setdefault(i, []).append(seed)
        return [replace(suite[i], seeds=tuple(s)) for i, s in seeds.items()]


def plan(checkpoints, suite, world_size: int, batch_size_of) -> list[list[Share]]:
    """Shares per rank (see the module docstring for the rule). Pure: every rank gets the same answer."""
    slots = [(i, seed) for i, p in enumerate(suite) for seed in p.seeds]
    batches = []
    for ck in sorted({Path(c) for c in checkpoints}, key=str):
        size = max(1, int(batch_size_of(ck)))
        batches += [(ck, slots[k : k + size]) for k in range(0, len(slots), size)]
    total = sum(len(b) for _, b in batches)
    ranks: list[list[Share]] = [[] for _ in range(world_size)]
    start = 0
    for ck, batch in batches:
        r = min(world_size - 1, (2 * start + len(batch)) * world_size // (2 * total))
        if not ranks[r] or ranks[r][-1].checkpoint != ck:
            ranks[r].append(Share(ck))
        ranks[r][-1].slots += batch
        start += len(batch)
    return ranks


@dataclass
class ShareResult:
    rank: int
    checkpoint: str
    images: int
    rendered: int = 0
    cached: int = 0
    seconds: float = 0.0
    folder: str | None = None
    config: dict | None = None
    error: str | None = None  # one line, naming the checkpoint


@dataclass
class RenderRun:
    world: World
    results: list[ShareResult]  # every rank's, gathered
    seconds: float  # first rank starting -> last rank done
    lost_contact: str | None = None  # set when a peer died before reporting

    @property
    def errors(self) -> list[str]:
        # "rank N: " only where there are ranks: a single process has none to tell apart.
        lines = [f"{f'rank {r.rank}: ' if self.world.size > 1 else ''}{r.error}; images already rendered stay cached"
                 for r in self.results if r.error]
        return lines + ([self.lost_contact] if self.lost_contact else [])


def render_checkpoints(checkpoints, suite, reports_dir: Path, *, base_model=None, base_config=None, device=None,
                       lora_scale: float = 1.0, **overrides) -> RenderRun:
    """Render this rank's share of every checkpoint's suite; returns what all ranks did."""
    import torch.distributed as dist

    world = World.from_env()
    if world.size > 1:
        _join(world)
    try:
        shares = plan(checkpoints, suite, world.size,
                      lambda ck: _batch_size(ck, base_model, base_config, lora_scale, overrides))[world.rank]
        device = world.device(device)
        if world.size > 1:
            dist.barrier()
        start = time.time()
        mine = [_render_share(s, suite, reports_dir, world, base_model=base_model, base_config=base_config,
                              device=device, lora_scale=lora_scale, **overrides) for s in shares]
        if world.size == 1:
            return RenderRun(world, mine, time.time() - start)
        gathered: list = [None] * world.size
        try:
            dist.all_gather_object(gathered, mine)
        except RuntimeError as exc:  # a peer crashed or was killed: its socket closed
            return RenderRun(world, mine, time.time() - start, lost_contact=(
                f"rank {world.rank}: another rank stopped without reporting (crashed or killed: "
                f"{str(exc).splitlines()[0][:120]}); images rendered so far stay cached, run the same command "
                "again to render only the rest"))
        return RenderRun(world, [r for rank in gathered for r in rank], time.time() - start)
    finally:
        if world.size > 1 and dist.is_initialized():
            dist.destroy_process_group()


def _join(world: World) -> None:
    import torch.distributed as dist

    if not os.environ.get("MASTER_ADDR") or not os.environ.get("MASTER_PORT"):
        raise EvalkitError(None, f"WORLD_SIZE={world.size} but MASTER_ADDR/MASTER_PORT are not set; "
                           "start with torchrun or accelerate launch")
    dist.init_process_group("gloo", rank=world.rank, world_size=world.size, timeout=GATHER_TIMEOUT)


def _render_share(share: Share, suite, reports_dir, world: World, **kwargs) -> ShareResult:
    from evalkit.render.run import render_checkpoint

    result = ShareResult(world.rank, str(share.checkpoint), len(share.slots))
    try:
        job, _ = render_checkpoint(share.checkpoint, share.prompts(suite), reports_dir,
                                   progress=world.rank == 0, **kwargs)
    except EvalkitError as exc:  # one bad checkpoint does not stop the rank's others
        result.error = str(exc)
        return result
    except Exception as exc:  # CUDA faults, bugs: still named by rank and checkpoint, and the rank goes on
        traceback.print_exc(file=sys.stderr)
        result.error = f"{share.checkpoint}: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
        return result
    result.rendered, result.cached, result.seconds = job.rendered, job.cached, job.seconds
    result.folder = str(job.renders[0].path.parent) if job.renders else None
    result.config = job.config.to_dict()
    return result


def _batch_size(checkpoint: Path, base_model, base_config, lora_scale, overrides) -> int:
    """The batch size render_checkpoint will use, from headers and the base's evalkit.json (no weights)."""
    from evalkit.inspect.api import inspect_checkpoint
    from evalkit.render.base_model import resolve_base
    from evalkit.render.config import config_for_base

    try:
        info = inspect_checkpoint(checkpoint, tensor_health=False, hashes=False)
        ref = resolve_base(base_model, checkpoint, info.family, info.metadata.get("ss_sd_model_name"), base_config)
        base_dir = Path(ref.location) if ref.kind == "dir" else None
    except EvalkitError:
        base_dir = None  # the rank that renders it reports the error
    return config_for_base(base_dir, 0, lora_scale=lora_scale, **overrides).batch_size
