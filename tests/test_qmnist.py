"""QMNIST: its extended label format (idx2 int32, N x 8, the class in column 0) read from
synthetic files built with struct, checked against torchvision's reader, refused when malformed;
its 60,000-image test set, and the 10k MNIST-compatible split (`qmnist10k`) beside it."""

import dataclasses
import json
import struct

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mnist_cli.data import catalog
from mnist_cli.data.catalog import QMNIST, QMNIST10K
from mnist_cli.data.idx import qmnist_labels_array
from mnist_cli.data.store import dataset_dir, load_split
from mnist_cli.errors import DataError
from tests.conftest import app, idx_bytes
from tests.siblings import qmnist_label_bytes, register


def parse_qmnist_labels(data, num_classes, name="labels"):
    """The reader's array as the tensor the loop trains on."""
    return torch.from_numpy(qmnist_labels_array(data, num_classes, name))


def test_reads_the_class_from_column_0_and_ignores_the_metadata():
    labels = parse_qmnist_labels(qmnist_label_bytes([3, 0, 9, 7]), num_classes=10)
    assert labels.tolist() == [3, 0, 9, 7]
    assert labels.dtype == torch.int64


def test_agrees_with_torchvision_reader(tmp_path):
    from torchvision.datasets.mnist import read_sn3_pascalvincent_tensor

    data = qmnist_label_bytes([i % 10 for i in range(57)])
    path = tmp_path / "labels"
    path.write_bytes(data)
    table = read_sn3_pascalvincent_tensor(str(path))
    assert table.shape == (57, 8)
    assert torch.equal(parse_qmnist_labels(data, 10), table[:, 0].long())


def _int32_table(dims, values) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 0x0C, len(dims)) + struct.pack(f">{len(dims)}I", *dims)
    return header + struct.pack(f">{len(values)}i", *values)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "too short"),
        (qmnist_label_bytes([1, 2], element=0x08), "not an int32 IDX file"),
        (idx_bytes((2,), bytes([1, 2])), "not an int32 IDX file"),  # MNIST's idx1-ubyte labels
        (qmnist_label_bytes([1, 2], columns=7), "N x 8"),
        (_int32_table((3,), [1, 2, 3]), "N x 8"),
        (qmnist_label_bytes([1, 2])[:-4], "header announces"),
        (qmnist_label_bytes([1, 2]) + b"\x00", "header announces"),
        (qmnist_label_bytes([1, 10]), "label 10 is outside 0-9"),
        (qmnist_label_bytes([-1, 2]), "label -1 is outside 0-9"),
    ],
)
def test_refuses_malformed_label_files(data, message):
    with pytest.raises(DataError, match=message):
        parse_qmnist_labels(data, 10, "labels")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_give_labels_or_our_error(data):
    try:
        labels = parse_qmnist_labels(data, 10)
    except DataError:
        return
    assert labels.dtype == torch.int64 and (labels.numel() == 0 or int(labels.max()) < 10)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.integers(-(2**31), 2**31 - 1), min_size=8, max_size=8), max_size=20))
def test_any_int32_table_is_read_by_column_0(rows):
    data = _int32_table((len(rows), 8), [value for row in rows for value in row])
    column = [row[0] for row in rows]
    if all(0 <= value < 10 for value in column):
        assert parse_qmnist_labels(data, 10).tolist() == column
    else:
        with pytest.raises(DataError, match="outside 0-9"):
            parse_qmnist_labels(data, 10)


def test_the_registry_entry_describes_the_real_files():
    # 60,000 training and 60,000 test images, 28x28 unsigned bytes after a 16-byte header;
    # 8 int32 columns per image after a 12-byte header.
    assert QMNIST.test_images.size == 16 + 60_000 * 28 * 28 == QMNIST.train_images.size
    assert QMNIST.test_labels.size == 12 + 60_000 * 8 * 4 == QMNIST.train_labels.size
    assert QMNIST10K.files == QMNIST.files
    assert (QMNIST.test_rows, QMNIST10K.test_rows) == (None, 10_000)


@pytest.fixture
def qmnist_source(tmp_path, monkeypatch):
    """Synthetic QMNIST (600 training, 300 test images) and qmnist10k scoring the first 100."""
    source = tmp_path / "qmnist-source"
    register(monkeypatch, "qmnist", source)
    register(monkeypatch, "qmnist10k", source, test_rows=100)
    return source


def test_both_entries_share_one_download(runner, qmnist_source):
    first = runner.invoke(app(), ["download", "--dataset", "qmnist", "--from", str(qmnist_source)])
    assert first.exit_code == 0, first.output
    assert first.stdout.count("imported") == 4
    assert "MD5 of the original .gz" in first.stdout
    compat = runner.invoke(app(), ["download", "--dataset", "qmnist10k"])
    assert compat.exit_code == 0, compat.output
    assert compat.stdout.count("already there") == 4
    qmnist, qmnist10k = catalog.DATASETS["qmnist"], catalog.DATASETS["qmnist10k"]
    assert dataset_dir(qmnist, "data") == dataset_dir(qmnist10k, "data")

    images, labels = load_split(qmnist, "data", "test")
    assert images.shape == (300, 28, 28)
    assert labels.tolist() == [i % 10 for i in range(300)]
    compat_images, compat_labels = load_split(qmnist10k, "data", "test")
    assert torch.equal(compat_images, images[:100])
    assert torch.equal(compat_labels, labels[:100])
    train_images, _ = load_split(qmnist10k, "data", "train")
    assert len(train_images) == 600  # only the test split is cut


def test_a_test_file_shorter_than_the_compat_split_is_refused(qmnist_source, monkeypatch, runner):
    runner.invoke(app(), ["download", "--dataset", "qmnist", "--from", str(qmnist_source)])
    short = dataclasses.replace(catalog.DATASETS["qmnist10k"], test_rows=1000)
    with pytest.raises(DataError, match="300 images, fewer than the 1,000"):
        load_split(short, "data", "test")


def test_train_and_evaluate_on_each_test_split(runner, qmnist_source):
    runner.invoke(app(), ["download", "--dataset", "qmnist", "--from", str(qmnist_source)])
    for name, count in (("qmnist", 300), ("qmnist10k", 100)):
        checkpoint = f"{name}.pt"
        trained = runner.invoke(
            app(),
            ["train", "--dataset", name, "--model", "mlp", "--epochs", "2"]
            + ["--checkpoint", checkpoint, "--json"],
        )
        assert trained.exit_code == 0, trained.output
        assert json.loads(trained.stdout)["config"]["dataset"] == name
        evaluated = runner.invoke(app(), ["evaluate", checkpoint, "--json"])
        assert evaluated.exit_code == 0, evaluated.output
        report = json.loads(evaluated.stdout)
        assert (report["dataset"], report["count"]) == (name, count)
        assert report["accuracy"] >= 0.5  # chance is 0.1: it learned (2 augmented epochs)
        assert list(report["per_class_accuracy"]) == list(QMNIST.class_names)
