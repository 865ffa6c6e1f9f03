"""Data augmentation done on the device, one batch at a time: a small random rotation, scale and
shift for every image (never a flip: a mirrored 2 is not a 2), and for long runs an elastic
distortion and thicker or thinner strokes. Batched tensor operations only (a max-pool for the
strokes, one `grid_sample` for the geometry), so it costs little next to the model on a CPU and
nothing on a GPU."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mnist_cli.config import TrainConfig

ELASTIC_GRID = 4  # the elastic field is drawn on a 4x4 grid and smoothly upsampled: one bend
# per few strokes, like a hand's, not pixel noise


@dataclass(frozen=True)
class Augmentation:
    """How far an image may move. The defaults keep every digit readable."""

    degrees: float = 10.0  # rotation, either way
    scale: float = 0.1  # zoom in or out by up to this fraction
    shift: float = 2.0  # translation in pixels, each axis, either way
    elastic: float = 0.0  # elastic displacement, at most this many pixels each axis; 0: none
    thickness: float = 0.0  # blend of up to this share of a 3x3 dilation or erosion; 0: none

    @property
    def columns(self) -> int:
        """Random numbers per image: the affine's, then thickness's, then the elastic grid's."""
        thickness = 1 if self.thickness > 0 else 0
        elastic = 2 * ELASTIC_GRID * ELASTIC_GRID if self.elastic > 0 else 0
        return NOISE_COLUMNS + thickness + elastic


NOISE_COLUMNS = 4  # random numbers per image for the affine: rotation, zoom, shift x, shift y


def augmentation_of(config: TrainConfig) -> Augmentation:
    """The augmentation a run's configuration asks for (its recipe's elastic and thickness)."""
    return Augmentation(elastic=config.elastic or 0.0, thickness=config.thickness or 0.0)


def _thickness(ink: torch.Tensor, amount: torch.Tensor) -> torch.Tensor:
    """Strokes made thicker (amount > 0, towards a 3x3 dilation) or thinner (amount < 0,
    towards a 3x3 erosion), image by image. `ink` is 0 on blank paper."""
    amount = amount.view(-1, 1, 1, 1).to(ink.dtype)
    dilated = F.max_pool2d(ink, 3, stride=1, padding=1)
    eroded = -F.max_pool2d(-ink, 3, stride=1, padding=1)
    return ink + amount.clamp(min=0) * (dilated - ink) + (-amount).clamp(min=0) * (eroded - ink)


def _affine_grid(images: torch.Tensor, uniform: torch.Tensor, spec: Augmentation) -> torch.Tensor:
    """The sampling grid of a random rotation, zoom and shift per image."""
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
    return F.affine_grid(theta, list(images.shape), align_corners=False)


def _elastic_field(coarse: torch.Tensor, height: int, width: int, pixels: float) -> torch.Tensor:
    """A smooth displacement (N, H, W, 2) in grid coordinates from a coarse random one
    (N, 2, g, g) in [-1, 1]: at most `pixels` each axis."""
    field = F.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=False)
    field = field.clamp(-1, 1) * pixels
    scale = torch.tensor([2 / width, 2 / height], dtype=field.dtype, device=field.device)
    return field.permute(0, 2, 3, 1) * scale


def augment(
    images: torch.Tensor,
    background: float,
    generator: torch.Generator,
    spec: Augmentation = Augmentation(),
) -> torch.Tensor:
    """A randomly moved copy of a batch of normalised images (N, C, H, W). `background` is the
    normalised value of a blank pixel, used for the area that moves into view. The random numbers
    come from `generator` (on the CPU, so runs repeat on every device) and move to the images."""
    uniform = torch.rand(len(images), spec.columns, generator=generator) * 2 - 1
    return augment_with(images, background, uniform.to(images.device), spec)


def augment_with(
    images: torch.Tensor,
    background: float,
    uniform: torch.Tensor,
    spec: Augmentation = Augmentation(),
) -> torch.Tensor:
    """`augment` with its random numbers given: `uniform` [N, spec.columns] in [-1, 1), on the
    images' device. The training loop draws a whole epoch's at once (steps.epoch_uniform): a
    copy to the device per batch would make the host wait for the GPU at every step. With
    elastic and thickness at 0 the numbers are the affine's four, as before they existed, so
    short runs repeat those of earlier versions."""
    count, _, height, width = images.shape
    ink = images - background  # grid_sample and the max-pools fill with 0: blank paper
    grid = _affine_grid(images, uniform[:, :NOISE_COLUMNS], spec)
    column = NOISE_COLUMNS
    if spec.thickness > 0:
        ink = _thickness(ink, uniform[:, column] * spec.thickness)
        column += 1
    if spec.elastic > 0:
        coarse = uniform[:, column:].reshape(count, 2, ELASTIC_GRID, ELASTIC_GRID)
        grid = grid + _elastic_field(coarse, height, width, spec.elastic).to(grid.dtype)
    moved = F.grid_sample(ink, grid, align_corners=False, padding_mode="zeros")
    return moved + background
