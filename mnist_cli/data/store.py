"""The datasets on disk: a verified split of a registered dataset as uint8 arrays or tensors, and as
normalised tensors on the device, ready for a model.

The registry itself (files and checksums, mirrors, class names, normalisation) is in catalog.py.
Files live extracted in `<data_dir>/<dataset>/`, so several datasets share one data directory.
Fetching them is `download.py`'s job.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mnist_cli.data.catalog import DATASETS, MNIST, DataFile, Dataset
from mnist_cli.data.idx import images_array, labels_array, qmnist_labels_array
from mnist_cli.errors import DataError
from mnist_cli.files import write_atomically

if TYPE_CHECKING:  # torch is imported where tensors are made: `mnist download` needs none
    import torch

# How each labels_format is read: (bytes, num_classes, name) -> int64 labels [N]
LABEL_READERS = {"idx1-ubyte": labels_array, "qmnist": qmnist_labels_array}


def get_dataset(name: str) -> Dataset:
    """The registry entry of `name`, or a DataError that lists the known names."""
    try:
        return DATASETS[name]
    except KeyError:
        known = ", ".join(DATASETS)
        raise DataError(f"unknown dataset {name!r}: choose one of {known}") from None


def find_dataset(name: str) -> Dataset | None:
    """The registry entry, or None for a name this version does not know (an old checkpoint)."""
    return DATASETS.get(name)


def dataset_dir(dataset: Dataset, data_dir: Path) -> Path:
    """Where a dataset's files live inside the data directory."""
    return Path(data_dir) / (dataset.folder or dataset.name)


def download_command(dataset: Dataset, data_dir: Path | None = None) -> str:
    """The command that fetches or repairs this dataset, for error messages."""
    command = "mnist download"
    if dataset.name != MNIST.name:
        command += f" --dataset {dataset.name}"
    return command if data_dir is None else f"{command} --data-dir {data_dir}"


def md5_of(data: bytes) -> str:
    """The hex MD5 of some bytes: a checksum against damage, not a security check."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def checksum_path(path: Path) -> Path:
    """Where the content MD5 of a file verified by its .gz MD5 is recorded (md5sum's format)."""
    return path.with_name(path.name + ".md5")


def record_md5(path: Path, md5: str) -> None:
    """Record the content MD5 of `path`, once its original .gz has been verified."""
    write_atomically(checksum_path(path), f"{md5}  {path.name}\n".encode("ascii"), "checksum")


def expected_md5(path: Path, datafile: DataFile) -> str | None:
    """The MD5 the extracted file must have: the registry's where it is published, else the one
    recorded when the file's original .gz was verified. None: the file cannot be trusted."""
    if datafile.md5:
        return datafile.md5
    try:
        recorded = checksum_path(path).read_text(encoding="ascii").split()
    except (OSError, UnicodeDecodeError):
        return None
    if len(recorded) == 2 and recorded[1] == path.name and len(recorded[0]) == 32:
        return recorded[0].lower()
    return None


def file_is_valid(path: Path, datafile: DataFile) -> bool:
    """True if `path` holds exactly the expected decompressed content."""
    try:
        if path.stat().st_size != datafile.size:
            return False
        return md5_of(path.read_bytes()) == expected_md5(path, datafile)
    except OSError:
        return False


def missing_files(dataset: Dataset, data_dir: Path) -> list[DataFile]:
    """The files that are absent, of the wrong size or without a known checksum (a cheap check,
    no hashing)."""
    folder = dataset_dir(dataset, data_dir)
    missing = []
    for datafile in dataset.files:
        path = folder / datafile.name
        if (
            not path.is_file()
            or path.stat().st_size != datafile.size
            or expected_md5(path, datafile) is None
        ):
            missing.append(datafile)
    return missing


def _read_verified(dataset: Dataset, data_dir: Path, datafile: DataFile) -> bytes:
    path = dataset_dir(dataset, data_dir) / datafile.name
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(
            f"no {dataset.title} data in {data_dir}: run `{download_command(dataset, data_dir)}`"
        ) from None
    except OSError as error:
        raise DataError(f"cannot read {path}: {error.strerror or error}") from None
    md5 = expected_md5(path, datafile)
    if md5 is None:
        raise DataError(
            f"{path} was never verified (no {checksum_path(path).name} beside it):"
            f" run `{download_command(dataset, data_dir)}`"
        )
    if len(data) != datafile.size or md5_of(data) != md5:
        raise DataError(
            f"{path} is damaged: run `{download_command(dataset, data_dir)}` to repair it"
        )
    return data


def load_split_arrays(
    dataset: Dataset, data_dir: Path, split: str
) -> tuple[np.ndarray, np.ndarray]:
    """Return (images uint8 [N, 28, 28], labels int64 [N]) of a split as numpy arrays, verified
    byte for byte. No torch: the ONNX path of `mnist evaluate` reads the test set with it."""
    images_file, labels_file = dataset.split_files(split)
    images = images_array(_read_verified(dataset, data_dir, images_file), images_file.name)
    read_labels = LABEL_READERS[dataset.labels_format]
    labels = read_labels(
        _read_verified(dataset, data_dir, labels_file), len(dataset.class_names), labels_file.name
    )
    if len(images) != len(labels):
        raise DataError(f"{split} split has {len(images)} images but {len(labels)} labels")
    if split == "test" and dataset.test_rows is not None:
        if len(images) < dataset.test_rows:
            raise DataError(
                f"{images_file.name} has {len(images):,} images, fewer than the"
                f" {dataset.test_rows:,} that {dataset.name} scores on"
            )
        images, labels = images[: dataset.test_rows], labels[: dataset.test_rows]
    return images, labels


def load_split(dataset: Dataset, data_dir: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (images uint8 [N, 28, 28], labels int64 [N]) of a split, verified byte for byte."""
    import torch

    images, labels = load_split_arrays(dataset, data_dir, split)
    return torch.from_numpy(images), torch.from_numpy(labels)


@dataclass(frozen=True)
class LabelledImages:
    """A split ready for a model: normalised images [N, 1, 28, 28] and their labels [N], both on
    one device."""

    images: torch.Tensor
    labels: torch.Tensor


def normalise(images: torch.Tensor, mean: float, std: float, device=None) -> torch.Tensor:
    """uint8 (0-255) or float (0-1) images [N, 28, 28] -> normalised float [N, 1, 28, 28]."""
    import torch

    images = images.to(device) if device is not None else images
    pixels = images.float() / 255 if images.dtype == torch.uint8 else images.float()
    return ((pixels - mean) / std).unsqueeze(1)


# A normalisation outside these bounds is no dataset's (pixels lie in [0, 1]); one such as mean
# 1e308, std 1e-308 would turn every pixel into infinity and every answer into NaN.
MAX_ABS_MEAN, MIN_STD, MAX_STD = 1e3, 1e-3, 1e3


def normalisation_ok(mean: float, std: float) -> bool:
    """Whether (pixel - mean) / std stays finite and meaningful for pixels in [0, 1]."""
    return (
        isinstance(mean, float)
        and isinstance(std, float)
        and math.isfinite(mean)
        and abs(mean) <= MAX_ABS_MEAN
        and MIN_STD <= std <= MAX_STD
    )


def normalise_array(images: np.ndarray, mean: float, std: float) -> np.ndarray:
    """`normalise` in numpy, for the ONNX path: -> float32 [N, 1, 28, 28]."""
    pixels = images.astype(np.float32) / 255 if images.dtype == np.uint8 else images
    return ((pixels.astype(np.float32) - np.float32(mean)) / np.float32(std))[:, None]


def load_normalised(dataset: Dataset, data_dir: Path, split: str, device) -> LabelledImages:
    """A verified split, normalised with the dataset's mean and std, on `device`."""
    images, labels = load_split(dataset, data_dir, split)
    return LabelledImages(normalise(images, dataset.mean, dataset.std, device), labels.to(device))
