"""The compute devices a user can name, and how a name becomes a torch device.

One list for every command's --device option and the app's choices; torch is imported only when a
device is actually chosen, so argument parsing stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

DEVICES = ("auto", "cpu", "cuda", "mps")


class DeviceError(RuntimeError):
    """A requested device that this machine does not have."""


def select_device(name: str = "auto") -> torch.device:
    """auto: CUDA, then Apple MPS, then the CPU; a named device must exist."""
    import torch

    name = (name or "auto").lower()
    mps = getattr(torch.backends, "mps", None)
    has_mps = bool(mps and mps.is_available())
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if has_mps else torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError("CUDA was requested but no CUDA GPU is usable here (torch.cuda.is_available() is False)")
        return torch.device(name)
    if name == "mps":
        if not has_mps:
            raise DeviceError("Apple MPS was requested but is not available on this machine")
        return torch.device("mps")
    if name == "cpu":
        return torch.device("cpu")
    raise DeviceError(f"unknown device '{name}' (choose from {', '.join(DEVICES)})")


def describe_device(device: torch.device) -> str:
    import torch

    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return device.type
