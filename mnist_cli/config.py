"""One description of a training run, and the few defaults that live outside it.

Pure Python (no torch): the CLI reads its option defaults from here, and `--help` stays fast.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Literal

from mnist_cli.errors import MnistError
from mnist_cli.models import MODELS, model_kwargs

DEFAULT_CHECKPOINT = Path("ckpt.pt")
DEFAULT_DATA_DIR = Path("data")
DATA_DIR_ENV = "MNIST_DATA_DIR"  # overrides DEFAULT_DATA_DIR

# The names in models.MODELS (tests/test_models.py keeps the two the same).
ModelName = Literal["cnn", "mlp"]
ExportFormat = Literal["onnx", "safetensors"]  # mnist export --format
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

# The batch size a device trains with when --batch-size is not given (docs/gpu.md). A GPU runs a
# step of 512 images in about the time of 128, so it takes 512 and, unless --lr is given, a rate
# scaled by the square root of the batch ratio: DEFAULT_LR * 2.
DEFAULT_BATCH_SIZE = 128
DEVICE_BATCH_SIZE = {"cuda": 512}

# The recipe scales with the run: from LONG_RUN epochs on, a wider cnn and stronger augmentation
# (elastic distortion, thicker and thinner strokes) that a short run has no time to profit from.
LONG_RUN = 20
SHORT_RECIPE = {"width": 24, "elastic": 0.0, "thickness": 0.0}
LONG_RECIPE = {"width": 32, "elastic": 1.5, "thickness": 0.5}
# What ran before these fields were stored: a checkpoint without them was trained so.
LEGACY_RECIPE = SHORT_RECIPE
MAX_ELASTIC = 28.0  # pixels: a bend as large as the image itself


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides what a training run computes. Stored in every checkpoint."""

    dataset: DatasetName = "mnist"  # registry name in catalog.DATASETS
    model: ModelName = "cnn"  # "cnn" (default) or "mlp", the exercise's 784-256-128-10 sigmoid net
    # Passes over the training images (60,000 less `val_split`). 20, the shortest long run: three
    # such models make an ensemble of 99.7% where three 8-epoch ones did not (docs/training.md).
    epochs: int = 20
    batch_size: int | None = None  # images per optimiser step; None: the device's
    # (DEVICE_BATCH_SIZE, else DEFAULT_BATCH_SIZE), filled in by for_device
    optimizer: OptimizerName = (
        "adamw"  # "adamw" or "sgd" (plain gradient descent, as in the exercise)
    )
    lr: float | None = None  # peak learning rate; None: DEFAULT_LR of the optimiser
    schedule: ScheduleName | None = None  # "onecycle" (warm up, anneal to zero) or "constant";
    # None: DEFAULT_SCHEDULE of the optimiser
    weight_decay: float = 5e-4  # AdamW's decoupled weight decay; unused by sgd
    label_smoothing: float = 0.1  # share of each target spread over the other classes
    augment: bool = True  # random small rotations, zooms and shifts of every training batch
    width: int | None = None  # cnn's channels in its first conv layer, twice that in the second;
    # None: from the recipe for --epochs (SHORT_RECIPE, or LONG_RECIPE from LONG_RUN epochs)
    elastic: float | None = None  # elastic distortion with augment, at most this many pixels;
    # None: from the recipe
    thickness: float | None = None  # stroke thickness jitter with augment: a blend of up to
    # this much of a 3x3 dilation or erosion; None: from the recipe
    # Share of the training 4s whose crossbar passes the stem added again with a closed top
    # (train/styles.py; digit datasets only). Off by default: it costs 5 to 12 test images.
    closed_fours: float = 0.0
    device: DeviceName = "auto"  # "auto" picks cuda, then mps, then cpu
    seed: int = 0  # seeds weights, batch order, augmentation; same seed + threads, same run
    threads: int | None = None  # CPU threads; None: one per available core
    precision: PrecisionName = "auto"  # "auto": bf16 autocast on CUDA, fp32 elsewhere
    compile: bool = False  # torch.compile the model (pays a compile time up front)
    # Training images held out, chosen by `seed`, to score each epoch and fit the temperature
    # (train/validation.py); at most a tenth of the training images. 0: none held out.
    val_split: int = 5000
    # A checkpoint whose weights the run starts from (--init-from), with a fresh optimiser and
    # schedule; None: random weights from `seed`.
    init_from: str | None = None

    def __post_init__(self) -> None:
        # Fill in the optimiser's defaults, so that a stored config says what really ran. The
        # rate waits for the batch size where the device is still to choose it (for_device).
        if self.lr is None and self.batch_size is not None:
            object.__setattr__(self, "lr", DEFAULT_LR.get(self.optimizer))
        if self.schedule is None:
            object.__setattr__(self, "schedule", DEFAULT_SCHEDULE.get(self.optimizer))
        recipe = LONG_RECIPE if self.epochs >= LONG_RUN else SHORT_RECIPE
        for name, value in recipe.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)

    def model_kwargs(self) -> dict[str, int]:
        """What the model's constructor takes from this config, besides the number of classes."""
        return model_kwargs(self.model, self)


def check_config(config: TrainConfig) -> None:
    """One sentence for a setting no run can use."""
    if config.epochs < 1:
        raise MnistError("--epochs must be at least 1")
    if config.batch_size is not None and config.batch_size < 1:
        raise MnistError("--batch-size must be at least 1")
    spec = MODELS.get(config.model)
    if spec is None:
        raise MnistError(f"unknown model {config.model!r}: choose {' or '.join(MODELS)}")
    if config.batch_size is not None and config.batch_size < spec.min_batch:
        raise MnistError(
            f"--batch-size must be at least {spec.min_batch} for the {config.model}"
            f" ({spec.min_batch_why})"
        )
    if config.lr is not None and (config.lr <= 0 or not math.isfinite(config.lr)):
        raise MnistError("--lr must be a positive number")
    if not 0 <= config.label_smoothing < 1:
        raise MnistError("--label-smoothing must be at least 0 and below 1")
    if not 0 <= config.weight_decay < math.inf:
        raise MnistError("--weight-decay must be a finite number, at least 0")
    if not -(2**63) <= config.seed < 2**64:  # what torch's generators take
        raise MnistError("--seed must be at least -2**63 and below 2**64")
    if not (0 <= config.thickness <= 1 and config.elastic >= 0):  # NaN too
        raise MnistError("--thickness must be from 0 to 1, and --elastic at least 0")
    if not config.elastic <= MAX_ELASTIC:  # infinity too
        raise MnistError(f"--elastic must be from 0 to {MAX_ELASTIC:g} pixels (the image's side)")
    if not 0 <= config.closed_fours <= 1:
        raise MnistError("--closed-fours must be from 0 to 1")
    if config.threads is not None and config.threads < 1:
        raise MnistError("--threads must be at least 1")
    if not 1 <= config.width <= 512:
        raise MnistError("--width must be from 1 to 512")
    _check_finite(config)


def _check_finite(config: TrainConfig) -> None:
    """Every number with a fraction is finite, whatever checks above cover it: NaN or infinity
    fails a run only later ("diverged"), after a stop may already have saved it."""
    for field in fields(config):
        value = getattr(config, field.name)
        if "float" in str(field.type) and value is not None and not math.isfinite(value):
            raise MnistError(f"--{field.name.replace('_', '-')} must be a finite number")


def for_device(config: TrainConfig, device_type: str) -> TrainConfig:
    """`config` with the device's recipe filled in, as the checkpoint records it: where no batch
    size was given, the device's (DEVICE_BATCH_SIZE), and where no rate was given either, the
    optimiser's default scaled by the square root of the batch ratio. A given batch size keeps
    the default rate, as on every device before."""
    if config.batch_size is not None:
        return config
    batch_size = DEVICE_BATCH_SIZE.get(device_type, DEFAULT_BATCH_SIZE)
    lr = config.lr
    if lr is None and config.optimizer in DEFAULT_LR:
        lr = DEFAULT_LR[config.optimizer] * math.sqrt(batch_size / DEFAULT_BATCH_SIZE)
    return replace(config, batch_size=batch_size, lr=lr)


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, as taskset or a container sets)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def check_threads(threads: int | None) -> None:
    """--threads is at most the usable cores: more only make the threads wait on each other."""
    cores = usable_cores()
    if threads is not None and threads > cores:
        raise MnistError(
            f"--threads {threads} is more than the {cores} cores this process may use:"
            f" give at most {cores}"
        )
