"""The DDPO training loop: `train(config, records, on_metrics=..., should_stop=...)`.

1. Tokenize the records; load the policy (optionally LoRA).
2. Fill the on-disk reference cache for records that miss it (reference.py),
   so training itself never runs a reference model. A record may name its own
   reference (the checkpoint that wrote its rejected answer, in an on-policy
   loop); the others use the config's.
3. Optimise Eq. 5 DPO with AdamW, warmup + cosine, accumulation, clipping;
   DDP when launched by torchrun; checkpoints every `save_steps` and at the end.

Exact resume: data order is a function of (seed, epoch), and step k always
consumes the same micro-batches, so a run stopped at step k and resumed
from checkpoint-k ends with the weights of an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from .config import CONFIG_NAME, DDPOConfig
from .data import PairCollator, PreferenceDataset
from .forward import PairScorer, choose_path
from .loss import ddpo_loss, weighted_logps
from .model import add_lora, base_model, load_model, load_processor, pad_token_id
from .reference import ReferenceCache, compute_reference_logps, reference_context, to_device

STATE_NAME = "trainer_state.pt"


def cosine_lr(step: int, total: int, warmup: int) -> float:
    """Multiplier of the peak learning rate at `step`."""
    if step < warmup:                                   # 1) linear warmup
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)  # 2) 0 -> 1 after warmup
    return 0.5 * (1.0 + math.cos(math.pi * progress))   # 3) cosine decay to 0


GROUP_WINDOW = 50  # micro-batches sorted together, as transformers' group_by_length does


def epoch_batches(n: int, epoch: int, config: DDPOConfig, rank: int, world: int,
                  openings: list[int] | None = None) -> list[list[int]]:
    """This process's micro-batches of one epoch (same permutation on every rank).

    With `openings` (`PreferenceDataset.shared_openings()`) and
    `config.group_by_shared_prefix`, each window of GROUP_WINDOW micro-batches
    is sorted by shared opening before it is cut and the micro-batches are
    shuffled: pairs whose first correction falls at a similar token share
    a batch, so the shared-prefix forward runs their common opening once
    instead of twice (5% fewer tokens in benchmarks/ddpo_vs_trl.py).
    """
    generator = torch.Generator().manual_seed(config.seed + epoch)
    shard = torch.randperm(n, generator=generator).tolist()[rank::world][: n // world]
    size, grouped = config.batch_size, openings is not None and config.group_by_shared_prefix
    if grouped:
        window = GROUP_WINDOW * size
        shard = [i for s in range(0, len(shard), window) for i in sorted(shard[s:s + window], key=openings.__getitem__)]
    batches = [shard[i:i + size] for i in range(0, len(shard), size)]
    if grouped:
        batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
    return batches


def pair_loss(logps: torch.Tensor, batch: dict, config: DDPOConfig):
    """Loss and TRL-named stats of one micro-batch from per-token log-probs (2B, C)."""
    w = batch["completion_weights"]                                     # (2B, C)
    policy = weighted_logps(logps, w, config.average)                   # (2B,)
    ref = weighted_logps(batch["ref_logps"], w, config.average)         # (2B,)
    (pc, pr), (rc, rr) = policy.chunk(2), ref.chunk(2)
    losses, chosen_r, rejected_r = ddpo_loss(pc, pr, rc, rr, config.beta, config.dpop_lambda)
    loss = losses.mean()
    if config.sft_weight:
        B = pc.shape[0]
        nll = -weighted_logps(logps[:B], batch["completion_attention_mask"][:B].to(logps.dtype))
        loss = loss + config.sft_weight * nll.mean()
    stats = {"loss": loss.detach(), "rewards/chosen": chosen_r.mean(), "rewards/rejected": rejected_r.mean(),
             "rewards/margins": (chosen_r - rejected_r).mean(),
             "rewards/accuracies": (chosen_r > rejected_r).float().mean(),
             "logps/chosen": pc.detach().mean(), "logps/rejected": pr.detach().mean()}
    return loss, stats


def latest_checkpoint(output_dir: Path) -> Path | None:
    done = [p for p in output_dir.glob("checkpoint-*") if (p / STATE_NAME).exists()]
    return max(done, key=lambda p: int(p.name.split("-")[1]), default=None)


def build_policy(config: DDPOConfig, resume: Path | None):
    if config.lora:
        model = add_lora(load_model(config.model, dtype=config.dtype), config)
        if resume is not None:
            from peft import set_peft_model_state_dict
            from safetensors.torch import load_file
            set_peft_model_state_dict(model, load_file(resume / "adapter_model.safetensors"))
        return model
    return load_model(str(resume or config.model), dtype=config.dtype)


def record_reference(config: DDPOConfig, item: dict) -> str:
    """The reference model of one tokenized record: its own (``PreferencePair.reference``), else the run's."""
    return item["reference"] or config.reference_model


def fill_reference_cache(config, model, dataset, collate, *, precision, openings, fresh, rank, world, device,
                         autocast):
    """Compute reference log-probs for the records missing from the cache; load all of them.

    Each reference model has its own cache folder (``ReferenceCache``); records naming their own reference
    (an on-policy loop: each round's answers written by another checkpoint) are computed with it, one model
    at a time, and cached like the rest."""
    caches = {name: ReferenceCache(config.cache_dir, name, precision=precision)
              for name in {record_reference(config, item) for item in dataset.items}}
    found = {i: caches[record_reference(config, it)].get(it["key"], it["signature"])
             for i, it in enumerate(dataset.items)}
    missing = [i for i, entry in found.items() if entry is None]
    if world > 1:                       # every rank has listed `missing` before any rank writes
        dist.barrier()
    for name in sorted({record_reference(config, dataset.items[i]) for i in missing}):
        same = name == config.model
        if same and (config.lora or fresh):
            reference, owned = model, False               # base weights == the reference
        else:
            reference, owned = load_model(name, dtype=config.dtype).to(device), True
        path = choose_path(base_model(reference), shared_prefix=config.shared_prefix, gradient_checkpointing=False)
        group = [i for i in missing if record_reference(config, dataset.items[i]) == name]
        mine = sorted(group[rank::world], key=openings.__getitem__)  # order is free here: batch by opening
        batches = [mine[i:i + 2 * config.batch_size] for i in range(0, len(mine), 2 * config.batch_size)]
        loader = torch.utils.data.DataLoader(dataset, batch_sampler=batches, collate_fn=collate,
                                             num_workers=config.num_workers, generator=own_generator(config))
        reference.eval()
        with reference_context(reference):
            compute_reference_logps(PairScorer(reference, path), loader, caches[name], dataset,
                                    device=device, autocast=autocast)
        reference.train()
        if owned:
            del reference
    if world > 1:
        dist.barrier()
    for i in missing:
        item = dataset.items[i]
        found[i] = caches[record_reference(config, item)].get(item["key"], item["signature"])
    dataset.reference.update(found)
    return len(missing)


def own_generator(config: DDPOConfig) -> torch.Generator:
    """A loader's own random source: one drawing from the global generator would shift dropout's draws by
    where a run was resumed (or whether the reference cache was warm), and resume would not be exact."""
    return torch.Generator().manual_seed(config.seed)


def same_run(config: DDPOConfig, saved: Path) -> None:
    """Refuse to resume (or return) a run saved in ``saved`` with other settings: it would silently keep them."""
    changes = config.changes_from(DDPOConfig.load(saved))
    if changes:
        raise ValueError(f"{saved} holds a run with other settings ({'; '.join(changes)}): "
                         "use a new output_dir, or resume=false to start this one over")


def save_checkpoint(directory: Path, model, processor, config, state: dict | None, *, merge=False):
    """Write a checkpoint whole or not at all: into a partial folder renamed when complete, so a process
    killed while saving leaves no half-written state for resume to load."""
    partial = directory.with_name(f".{directory.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)  # and the output folder, when a caller (benchmarks/loop.py) made none
    (model.merge_and_unload() if merge else model).save_pretrained(partial, safe_serialization=True)
    processor.save_pretrained(partial)
    config.save(partial)
    if state is not None:
        torch.save(state, partial / STATE_NAME)
    if directory.exists():  # the same step saved again (a run started over with resume=false)
        shutil.rmtree(directory)
    partial.rename(directory)
    return directory


def mixed_precision(config: DDPOConfig, device):
    """(whether bf16 autocast is on, a factory of its context): on CUDA unless ``config.bf16`` says."""
    use_bf16 = device.type == "cuda" if config.bf16 is None else config.bf16
    return use_bf16, lambda: torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16)


def setup_distributed():
    """(world size, rank, device, whether we started the process group) from torchrun's env."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    owns_group = world > 1 and not dist.is_initialized()
    if owns_group:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    device = torch.device("cpu")
    if torch.cuda.is_available():
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    return world, dist.get_rank() if world > 1 else 0, device, owns_group


def train(config: DDPOConfig | dict, records, *, on_metrics=None, should_stop=None, on_phase=None) -> Path:
    """Train on `records` (PreferencePair or dicts).

    `on_metrics(step, dict)` is called on rank 0 after every optimizer step;
    `should_stop()` is polled after every step: when it returns True a
    checkpoint is saved and its path returned (resume continues from it).
    Otherwise returns `<output_dir>/final` (LoRA merged into the weights).
    `on_phase(name)` is called on rank 0 once the model and the tokenized
    records are ready, with "reference" (filling the reference cache), then
    with "train" (optimizer steps).
    """
    return run(config, records, on_metrics=on_metrics, should_stop=should_stop, on_phase=on_phase)[0]


def run(config: DDPOConfig | dict, records, *, on_metrics=None, should_stop=None, on_phase=None):
    """`train`, also returning the trained model (None when `final` existed; tests compare DDP ranks)."""
    config = config if isinstance(config, DDPOConfig) else DDPOConfig.from_dict(config)
    output = Path(config.output_dir)
    if config.resume and (output / "final" / CONFIG_NAME).exists():
        same_run(config, output / "final")
        return output / "final", None                   # finished earlier: a retried task is a no-op
    output.mkdir(parents=True, exist_ok=True)
    world, rank, device, owns_group = setup_distributed()
    if rank == 0:  # what a process killed while saving left behind
        for stale in output.glob(".*.partial-*"):
            shutil.rmtree(stale, ignore_errors=True)
    use_bf16, autocast = mixed_precision(config, device)
    resume = latest_checkpoint(output) if config.resume else None
    if resume is not None:
        same_run(config, resume)
    torch.manual_seed(config.seed)
    processor = load_processor(config.model)
    dataset = PreferenceDataset(records, processor, gamma=config.gamma,
                                max_completion_tokens=config.max_completion_tokens)
    if len(dataset) < world:
        raise ValueError(f"{len(dataset)} records cannot feed {world} processes")
    collate = PairCollator(pad_token_id(processor))
    model = build_policy(config, resume).to(device)
    model.train()
    announce = (on_phase if on_phase is not None and rank == 0 else lambda name: None)
    announce("reference")
    openings = dataset.shared_openings()
    fill_reference_cache(config, model, dataset, collate, precision=config.dtype + "-bf16" * use_bf16,
                         openings=openings, fresh=resume is None, rank=rank, world=world, device=device, autocast=autocast)

    if config.gradient_checkpointing:
        inner, kwargs = base_model(model), {"use_reentrant": False}
        if hasattr(inner, "activation_checkpointing_enable"):       # transformers >= 5.2x
            inner.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
        else:
            inner.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    path = choose_path(base_model(model), shared_prefix=config.shared_prefix,
                       gradient_checkpointing=config.gradient_checkpointing)
    scorer = PairScorer(model, path)
    if world > 1:
        scorer = DistributedDataParallel(scorer, find_unused_parameters=True)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay, fused=True)

    micro_per_epoch = len(epoch_batches(len(dataset), 0, config, rank, world, openings))
    steps_per_epoch = math.ceil(micro_per_epoch / config.grad_accum)
    total = config.max_steps or config.epochs * steps_per_epoch
    warmup = math.ceil(config.warmup_ratio * total)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: cosine_lr(s, total, warmup))
    step = 0
    if resume is not None:
        state = torch.load(resume / STATE_NAME, weights_only=False)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        if "cuda_rng" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state(state["cuda_rng"])
        step = state["step"]

    def state_now():
        state = {"step": step, "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                 "rng": torch.get_rng_state()}
        if torch.cuda.is_available():
            state["cuda_rng"] = torch.cuda.get_rng_state()
        return state

    progress = None
    if config.progress and rank == 0:
        progress = tqdm(total=total, initial=step, desc="ddpo", dynamic_ncols=True)
    stop = False
    announce("train")
    while step < total and not stop:
        epoch, first = divmod(step, steps_per_epoch)
        batches = epoch_batches(len(dataset), epoch, config, rank, world, openings)[first * config.grad_accum:]
        loader = torch.utils.data.DataLoader(dataset, batch_sampler=batches, collate_fn=collate,
                                             num_workers=config.num_workers, generator=own_generator(config))
        group, started = [], time.perf_counter()
        for i, batch in enumerate(loader):
            group.append(to_device(batch, device))
            if len(group) < config.grad_accum and i < len(batches) - 1:
                continue
            stats = optimizer_step(scorer, group, optimizer, scheduler, params, config, autocast, world)
            step += 1
            seconds = time.perf_counter() - started
            stats.update({"lr": scheduler.get_last_lr()[0], "tokens/s": stats.pop("tokens") / seconds,
                          "epoch": epoch + (first * config.grad_accum + i + 1) / (micro_per_epoch)})
            group, started = [], time.perf_counter()
            if on_metrics is not None and rank == 0:
                on_metrics(step, stats)
            if progress is not None:
                progress.update(1)
                progress.set_postfix(loss=f"{stats['loss']:.4f}", acc=f"{stats['rewards/accuracies']:.2f}")
            stop = agree(bool(should_stop and should_stop()), world, device) and step < total
            if rank == 0 and step < total and (stop or (config.save_steps and step % config.save_steps == 0)):
                save_checkpoint(output / f"checkpoint-{step}", model, processor, config, state_now())
            if stop or step >= total:
                break
    if rank == 0 and not stop:
        save_checkpoint(output / "final", model, processor, config, None, merge=config.lora)
    if progress is not None:
        progress.close()
    if world > 1:
        # The DDP wrapper's reducer must go while its process group lives: torn down with this frame after
        # destroy_process_group, it hung a rank once in a dozen runs (the stack showed the caller's line).
        del scorer
        dist.barrier()
        if owns_group:
            dist.destroy_process_group()
    return output / (f"checkpoint-{step}" if stop else "final"), model


def agree(flag: bool, world: int, device) -> bool:
    """True on every rank when any rank says True (all ranks stop at the same step)."""
    if world == 1:
        return flag
    value = torch.tensor([float(flag)], device=device)
    dist.all_reduce(value)
    return value.item() > 0


def optimizer_step(scorer, group, optimizer, scheduler, params, config, autocast, world) -> dict:
    """Forward/backward the micro-batches of one step, then clip and step; mean stats."""
    pairs = sum(len(b["keys"]) for b in group)
    totals, tokens = {}, 0
    for j, batch in enumerate(group):
        sync = world == 1 or j == len(group) - 1
        with (contextlib.nullcontext() if sync else scorer.no_sync()), autocast():
            logps = scorer(batch)                                       # (2B, C)
            loss, stats = pair_loss(logps.float(), batch, config)
        (loss * len(batch["keys"]) / pairs).backward()
        for k, v in stats.items():
            totals[k] = totals.get(k, 0.0) + v.float() * len(batch["keys"]) / pairs
        tokens += int(batch["prompt_attention_mask"].sum() + batch["completion_attention_mask"].sum())
    if config.max_grad_norm:
        torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    values = torch.stack(list(totals.values()))
    if world > 1:
        dist.all_reduce(values)
        values /= world
    return dict(zip(totals, values.tolist()), tokens=tokens)
