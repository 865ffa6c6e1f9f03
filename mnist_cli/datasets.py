"""The dataset registry, and loading a verified split from the data directory as uint8 tensors.

Each entry holds everything that differs between datasets: files and checksums, mirrors, class
names and normalisation. Files live extracted in `<data_dir>/<dataset>/`, so several datasets can
share one data directory. Fetching them is `download.py`'s job.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from mnist_cli.errors import DataError
from mnist_cli.idx import parse_images, parse_labels


@dataclass(frozen=True)
class DataFile:
    """One IDX file of a dataset, as it sits extracted in the data directory."""

    name: str  # file name without .gz, e.g. "train-images-idx3-ubyte"
    size: int  # bytes once decompressed
    md5: str  # MD5 of the decompressed content: accepts any faithful recompression
    gz_md5: str  # MD5 of the public .gz file, as torchvision lists it (for reference)


@dataclass(frozen=True)
class Dataset:
    """Everything the tool needs to know about one dataset."""

    name: str
    title: str
    train_images: DataFile
    train_labels: DataFile
    test_images: DataFile
    test_labels: DataFile
    mirrors: tuple[str, ...]  # base URLs, tried in this order; each serves <file>.gz
    class_names: tuple[str, ...]
    mean: float  # of the training pixels scaled to [0, 1]
    std: float

    @property
    def files(self) -> tuple[DataFile, ...]:
        return (self.train_images, self.train_labels, self.test_images, self.test_labels)

    def split_files(self, split: str) -> tuple[DataFile, DataFile]:
        if split == "train":
            return self.train_images, self.train_labels
        if split == "test":
            return self.test_images, self.test_labels
        raise ValueError(f"unknown split {split!r}")


MNIST = Dataset(
    name="mnist",
    title="MNIST",
    train_images=DataFile(
        "train-images-idx3-ubyte",
        47_040_016,
        "6bbc9ace898e44ae57da46a324031adb",
        "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    ),
    train_labels=DataFile(
        "train-labels-idx1-ubyte",
        60_008,
        "a25bea736e30d166cdddb491f175f624",
        "d53e105ee54ea40749a09fcbcd1e9432",
    ),
    test_images=DataFile(
        "t10k-images-idx3-ubyte",
        7_840_016,
        "2646ac647ad5339dbf082846283269ea",
        "9fb629c4189551a2d022fa330f9573f3",
    ),
    test_labels=DataFile(
        "t10k-labels-idx1-ubyte",
        10_008,
        "27ae3e4e09519cfbb04c329615203637",
        "ec29112dd5afa0611ce80d1b7f02629c",
    ),
    # torchvision's mirrors, the one that still answers first: yann.lecun.com has been
    # answering 403/404 for years.
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    # The names the exercise gives the classes.
    class_names=("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
    mean=0.1307,
    std=0.3081,
)

DATASETS: dict[str, Dataset] = {MNIST.name: MNIST}


def get_dataset(name: str) -> Dataset:
    try:
        return DATASETS[name]
    except KeyError:
        known = ", ".join(DATASETS)
        raise DataError(f"unknown dataset {name!r}: choose one of {known}") from None


def dataset_dir(dataset: Dataset, data_dir: Path) -> Path:
    return Path(data_dir) / dataset.name


def md5_of(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def file_is_valid(path: Path, datafile: DataFile) -> bool:
    """True if `path` holds exactly the expected decompressed content."""
    try:
        if path.stat().st_size != datafile.size:
            return False
        return md5_of(path.read_bytes()) == datafile.md5
    except OSError:
        return False


def missing_files(dataset: Dataset, data_dir: Path) -> list[DataFile]:
    """The files that are absent or of the wrong size (a cheap check, no hashing)."""
    folder = dataset_dir(dataset, data_dir)
    missing = []
    for datafile in dataset.files:
        path = folder / datafile.name
        if not path.is_file() or path.stat().st_size != datafile.size:
            missing.append(datafile)
    return missing


def _read_verified(dataset: Dataset, data_dir: Path, datafile: DataFile) -> bytes:
    path = dataset_dir(dataset, data_dir) / datafile.name
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(
            f"no {dataset.title} data in {data_dir}: run `mnist download --data-dir {data_dir}`"
        ) from None
    except OSError as error:
        raise DataError(f"cannot read {path}: {error.strerror or error}") from None
    if len(data) != datafile.size or md5_of(data) != datafile.md5:
        raise DataError(
            f"{path} is damaged: run `mnist download --data-dir {data_dir}` to repair it"
        )
    return data


def load_split(dataset: Dataset, data_dir: Path, split: str):
    """Return (images uint8 [N, 28, 28], labels int64 [N]) of a split, verified byte for byte."""
    images_file, labels_file = dataset.split_files(split)
    images = parse_images(_read_verified(dataset, data_dir, images_file), images_file.name)
    labels = parse_labels(
        _read_verified(dataset, data_dir, labels_file), len(dataset.class_names), labels_file.name
    )
    if len(images) != len(labels):
        raise DataError(f"{split} split has {len(images)} images but {len(labels)} labels")
    return images, labels
