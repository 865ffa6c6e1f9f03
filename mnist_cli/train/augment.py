"""Data augmentation done on the device, one batch at a time: a small random rotation, scale and
shift for every image (never a flip: a mirrored 2 is not a 2). One `affine_grid` + `grid_sample`
per batch, so it costs little next to the model on a CPU and nothing on a GPU."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Augmentation:
    """How far an image may move. The defaults keep every digit readable."""

    degrees: float = 10.0  # rotation, either way
    scale: float = 0.1  # zoom in or out by up to this fraction
    shift: float = 2.0  # translation in pixels, each axis, either way


NOISE_COLUMNS = 4  # random numbers per image: rotation, zoom, shift x, shift y


def augment(
    images: torch.Tensor,
    background: float,
    generator: torch.Generator,
    spec: Augmentation = Augmentation(),
) -> torch.Tensor:
    """A randomly moved copy of a batch of normalised images (N, C, H, W). `background` is the
    normalised value of a blank pixel, used for the area that moves into view. The random numbers
    come from `generator` (on the CPU, so runs repeat on every device) and move to the images."""
    uniform = torch.rand(len(images), NOISE_COLUMNS, generator=generator) * 2 - 1
    return augment_with(images, background, uniform.to(images.device), spec)


def augment_with(
    images: torch.Tensor,
    background: float,
    uniform: torch.Tensor,
    spec: Augmentation = Augmentation(),
) -> torch.Tensor:
    """`augment` with its random numbers given: `uniform` [N, NOISE_COLUMNS] in [-1, 1), on the
    images' device. The training loop draws a whole epoch's at once (steps.epoch_uniform): a
    copy to the device per batch would make the host wait for the GPU at every step."""
    _, _, height, width = images.shape
    angle = uniform[:, 0] * math.radians(spec.degrees)
    zoom = 1 + uniform[:, 1] * spec.scale
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    # affine_grid works in [-1, 1] coordinates: a pixel is 2 / size of them.
    shift_x = uniform[:, 2] * spec.shift * 2 / width
    shift_y = uniform[:, 3] * spec.shift * 2 / height
    theta = torch.stack(
        [torch.stack([cos, -sin, shift_x], 1), torch.stack([sin, cos, shift_y], 1)], 1
    ).to(images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    # grid_sample fills with zeros, so sample the offset from the background and add it back.
    moved = F.grid_sample(images - background, grid, align_corners=False, padding_mode="zeros")
    return moved + background
