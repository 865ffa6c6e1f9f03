"""Which torch device a name means: 'auto', 'cpu', 'cuda' or 'mps' mapped to one this machine
has, or a one-line DeviceError that says what to use instead. Training and inference both ask
here. Importing this module imports torch."""

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
