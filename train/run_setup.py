"""What a training run settles before its first architecture: its folder (a new one, or an
interrupted run's read back for --resume, whose resume state must load before anything is
decoded), its processes (torch.distributed under torchrun), its device and mixed precision.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import torch
import torch.distributed as dist

from train.config import TrainConfig
from train.loop import Dist
from xtalviewer.model.architectures import autocast_dtype, non_finite_tensors
from xtalviewer.model.inference import select_device
from xtalviewer.paths import data_dir
from xtalviewer.settings import default_db_location
from xtalviewer.store.location import location_of


class TrainError(Exception):
    """A clear reason why training cannot start (exit status 2)."""


def runs_dir() -> Path:
    """Where run folders go unless --runs-dir says otherwise."""
    return data_dir() / "runs"


def dist_setup() -> Dist:
    """This process's rank and the world size; the process group is joined under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return Dist(dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else Dist()


def resolve_run(config: TrainConfig, d: Dist) -> tuple[Path, TrainConfig]:
    """The run folder and its configuration: new, or read back from an interrupted run."""
    base = Path(config.runs_dir) if config.runs_dir else runs_dir()
    if config.resume:
        folder = Path(config.resume)
        if not folder.is_dir():
            folder = base / config.resume
        if (folder / "args.json").is_file() and not (folder / "split.json").is_file():
            folder = folder.parent  # an architecture's sub-folder was named
        if not (folder / "args.json").is_file():
            raise TrainError(f"--resume {config.resume}: no run folder with args.json there (looked in {folder})")
        try:
            saved = TrainConfig.load(folder / "args.json")
        except (ValueError, TypeError) as exc:
            raise TrainError(f"--resume {config.resume}: {folder / 'args.json'} is damaged ({exc})") from None
        saved.events, saved.device, saved.resume = config.events, config.device, str(folder)
        return folder, saved
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    run_id = f"{stamp}-{config.name}" if config.name else stamp
    if d.main:
        n = 1
        while (base / run_id).exists():  # two runs started in the same second get their own folders
            n += 1
            run_id = f"{stamp}-{n}" + (f"-{config.name}" if config.name else "")
        (base / run_id).mkdir(parents=True)
    box = [run_id]
    if d.world > 1:
        dist.broadcast_object_list(box, src=0)
    resolved = TrainConfig.from_dict(config.to_dict())
    # a file by its absolute path, a server by its URL without a password (args.json keeps this)
    resolved.db = location_of(config.db or default_db_location()).absolute().argument()
    return base / box[0], resolved


def choose_device(config: TrainConfig, d: Dist) -> torch.device:
    """The run's device; under torchrun with CUDA each process takes the GPU of its local rank."""
    if d.world > 1 and config.device == "auto" and torch.cuda.is_available():
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", d.rank)) % torch.cuda.device_count())
    else:
        device = select_device(config.device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True
    return device


def choose_amp(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    """The autocast type of ``--amp`` on ``device`` (None: float32)."""
    amp = None if config.amp == "off" else autocast_dtype(device, "", training=True)
    if config.amp == "on" and amp is None:
        amp = torch.bfloat16 if device.type == "cpu" else torch.float16
    return amp


def check_resume_state(folder: Path, archs: list[str]) -> None:
    """Every last.pt a resume would load must load (weights only), before anything is decoded."""
    for arch in archs:
        last = folder / arch / "last.pt"
        if not last.is_file() or (folder / arch / "result.json").is_file():
            continue
        try:
            state = torch.load(last, map_location="cpu", weights_only=True)
            missing = {"model", "optimizer", "scheduler", "epoch"} - set(state)
        except Exception as exc:  # truncated, foreign, or a pickle that wants more than tensors
            first = (str(exc).splitlines() or [type(exc).__name__])[0].split(". ")[0][:160]
            raise TrainError(f"{last} cannot be resumed from: it is damaged or not ours ({first}); delete it to "
                             f"train {arch} again from the start of this run") from None
        if missing:
            raise TrainError(f"{last} cannot be resumed from: it lacks {', '.join(sorted(missing))} (written by an "
                             f"older xtal-train?); delete it to train {arch} again from the start of this run")
        broken = non_finite_tensors(state["model"])
        if broken:
            raise TrainError(f"{last} cannot be resumed from: its weights are not numbers (NaN or infinite, e.g. "
                             f"{broken[0]}); delete it to train {arch} again from the start of this run")
