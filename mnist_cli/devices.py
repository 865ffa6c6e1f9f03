"""Choosing the torch device a command runs on."""

from __future__ import annotations

import torch

from mnist_cli.errors import DeviceError


def resolve_device(name: str) -> torch.device:
    """Map 'auto', 'cpu', 'cuda' or 'mps' to an available device, or explain why not."""
    cuda = torch.cuda.is_available()
    mps = hasattr(torch.backends, "mps") and torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if name == "cuda" and not cuda:
        raise DeviceError("CUDA is not available on this machine: use --device cpu (or auto)")
    if name == "mps" and not mps:
        raise DeviceError("Apple MPS is not available on this machine: use --device cpu (or auto)")
    if name not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"unknown device {name!r}: choose auto, cpu, cuda or mps")
    return torch.device(name)
