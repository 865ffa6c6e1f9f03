"""Helpers for the sibling-dataset tests: synthetic files under a sibling's names, registered in
place of the real entry, checked either by content MD5 or, like KMNIST and QMNIST, by .gz MD5."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import struct
from pathlib import Path

from mnist_cli.data import catalog
from mnist_cli.data.catalog import DataFile, Dataset
from tests.conftest import DEAD_MIRROR, synthetic_split


def qmnist_label_bytes(labels: list[int], columns: int = 8, element: int = 0x0C) -> bytes:
    """QMNIST's extended labels, built with struct: N x columns big-endian int32, the class in
    column 0 and plausible NIST metadata (series, writer, index, ...) in the others."""
    rows = []
    for index, label in enumerate(labels):
        row = [label, index % 4, 1000 + index // 7, index % 7, 48 + label, 200_000 + index, 0, 0]
        rows.extend(row[:columns] + [0] * (columns - len(row)))
    header = struct.pack(">BBBB", 0, 0, element, 2) + struct.pack(">II", len(labels), columns)
    return header + struct.pack(f">{len(rows)}i", *rows)


def sibling_contents(dataset: Dataset, train: int = 600, test: int = 300) -> dict[str, bytes]:
    """The synthetic dataset of conftest, in the file names and label format of `dataset`."""
    train_images, train_labels = synthetic_split(train, seed=1)
    test_images, test_labels = synthetic_split(test, seed=2)
    if dataset.labels_format == "qmnist":
        train_labels = qmnist_label_bytes(list(train_labels[8:]))
        test_labels = qmnist_label_bytes(list(test_labels[8:]))
    contents = (train_images, train_labels, test_images, test_labels)
    return {
        datafile.name: content for datafile, content in zip(dataset.files, contents, strict=True)
    }


def write_gz(source: Path, contents: dict[str, bytes]) -> dict[str, bytes]:
    """Write <name>.gz for each file; return the .gz bytes (their MD5 is what gets checked)."""
    source.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, content in contents.items():
        written[name] = gzip.compress(content, mtime=0)
        (source / f"{name}.gz").write_bytes(written[name])
    return written


def register(monkeypatch, name: str, source: Path, **changes) -> Dataset:
    """Put synthetic files for registry entry `name` in `source` and register an entry that
    expects them. Its content MD5s are kept where the real entry has them, None where not."""
    real = catalog.DATASETS[name]
    contents = sibling_contents(real)
    gz_bytes = write_gz(source, contents)
    files = [
        DataFile(
            datafile.name,
            len(contents[datafile.name]),
            hashlib.md5(contents[datafile.name]).hexdigest() if datafile.md5 else None,
            hashlib.md5(gz_bytes[datafile.name]).hexdigest(),
        )
        for datafile in real.files
    ]
    dataset = dataclasses.replace(
        real,
        train_images=files[0],
        train_labels=files[1],
        test_images=files[2],
        test_labels=files[3],
        mirrors=(DEAD_MIRROR,),
        **changes,
    )
    monkeypatch.setitem(catalog.DATASETS, name, dataset)
    return dataset
