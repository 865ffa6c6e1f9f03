"""One description of a training run, and the few defaults that live outside it.

Pure Python (no torch): the CLI reads its option defaults from here, and `--help` stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

DEFAULT_CHECKPOINT = Path("ckpt.pt")
DEFAULT_DATA_DIR = Path("data")
DATA_DIR_ENV = "MNIST_DATA_DIR"  # overrides DEFAULT_DATA_DIR

ModelName = Literal["cnn", "mlp"]
PrecisionName = Literal["auto", "fp32", "bf16"]
# The names in catalog.DATASETS (a test keeps the two the same); spelled out so --help needs no
# import of the registry.
DatasetName = Literal["mnist", "fashion-mnist", "kmnist", "qmnist", "qmnist10k"]
OptimizerName = Literal["adamw", "sgd"]
ScheduleName = Literal["onecycle", "constant"]
DeviceName = Literal["auto", "cpu", "cuda", "mps"]

# What each optimiser gets when --lr or --schedule is not given. sgd alone is the exercise's
# plain gradient descent: a constant rate.
DEFAULT_LR = {"adamw": 1e-2, "sgd": 0.05}
DEFAULT_SCHEDULE: dict[str, ScheduleName] = {"adamw": "onecycle", "sgd": "constant"}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides what a training run computes. Stored in every checkpoint."""

    dataset: DatasetName = "mnist"  # registry name in catalog.DATASETS
    model: ModelName = "cnn"  # "cnn" (default) or "mlp", the exercise's 784-256-128-10 sigmoid net
    epochs: int = 8  # passes over the 60,000 training images
    batch_size: int = 128  # images per optimiser step
    optimizer: OptimizerName = (
        "adamw"  # "adamw" or "sgd" (plain gradient descent, as in the exercise)
    )
    lr: float | None = None  # peak learning rate; None: DEFAULT_LR of the optimiser
    schedule: ScheduleName | None = None  # "onecycle" (warm up, anneal to zero) or "constant";
    # None: DEFAULT_SCHEDULE of the optimiser
    weight_decay: float = 5e-4  # AdamW's decoupled weight decay; unused by sgd
    label_smoothing: float = 0.1  # share of each target spread over the other classes
    augment: bool = True  # random small rotations, zooms and shifts of every training batch
    device: DeviceName = "auto"  # "auto" picks cuda, then mps, then cpu
    seed: int = 0  # seeds weights, batch order, augmentation; same seed + threads, same run
    threads: int | None = None  # CPU threads; None: one per available core
    precision: PrecisionName = "auto"  # "auto": bf16 autocast on CUDA, fp32 elsewhere
    compile: bool = False  # torch.compile the model (pays a compile time up front)

    def __post_init__(self) -> None:
        # Fill in the optimiser's defaults, so that a stored config says what really ran.
        if self.lr is None:
            object.__setattr__(self, "lr", DEFAULT_LR.get(self.optimizer))
        if self.schedule is None:
            object.__setattr__(self, "schedule", DEFAULT_SCHEDULE.get(self.optimizer))
