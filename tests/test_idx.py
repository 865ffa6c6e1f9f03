"""The IDX reader: synthetic files built with struct, the real files against torchvision's reader,
and arbitrary bytes, from which only our own error may come out."""

import gzip
import struct

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mnist_cli.data.idx import idx_array, images_array, labels_array
from mnist_cli.errors import DataError
from tests.conftest import idx_bytes


# The reader's arrays as the tensors the loop trains on (store.py wraps them the same way).
def parse_idx(data, name="IDX file", ndims=None):
    return torch.from_numpy(idx_array(data, name, ndims))


def parse_images(data, name="images"):
    return torch.from_numpy(images_array(data, name))


def parse_labels(data, num_classes, name="labels"):
    return torch.from_numpy(labels_array(data, num_classes, name))


def test_parses_images_and_labels():
    images = parse_images(idx_bytes((2, 3, 4), bytes(range(24))))
    assert images.shape == (2, 3, 4)
    assert images.dtype == torch.uint8
    assert images[1, 2, 3].item() == 23
    labels = parse_labels(idx_bytes((3,), bytes([0, 9, 5])), num_classes=10)
    assert labels.tolist() == [0, 9, 5]
    assert labels.dtype == torch.int64


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "too short"),
        (b"\x00\x00\x08", "too short"),
        (struct.pack(">BBBB", 0, 0, 0x0D, 1) + struct.pack(">I", 1) + b"\x00", "magic"),
        (struct.pack(">BBBB", 1, 0, 0x08, 1) + struct.pack(">I", 1) + b"\x00", "magic"),
        (struct.pack(">BBBB", 0, 0, 0x08, 3) + b"\x00\x00", "truncated"),
        (idx_bytes((2, 2, 2), bytes(7)), "header announces"),
        (idx_bytes((2, 2, 2), bytes(9)), "header announces"),
    ],
)
def test_refuses_malformed_files(data, message):
    with pytest.raises(DataError, match=message):
        parse_idx(data)


def test_refuses_absurd_dimensions_even_when_empty():
    with pytest.raises(DataError, match="implausible"):
        parse_idx(idx_bytes((0, 2**31, 2**31, 2**31), b""))


def test_refuses_wrong_dimensions_and_labels():
    with pytest.raises(DataError, match="dimensions"):
        parse_images(idx_bytes((4,), bytes(4)))
    with pytest.raises(DataError, match="outside 0-9"):
        parse_labels(idx_bytes((2,), bytes([1, 10])), num_classes=10)
    with pytest.raises(DataError, match="zero dimension"):
        parse_images(idx_bytes((2, 0, 28), b""))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_give_only_our_error(data):
    try:
        parse_images(data)
        parse_labels(data, 10)
    except DataError:
        pass


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(0, 2**32 - 1) | st.integers(0, 5), min_size=1, max_size=4),
    st.integers(0, 3),
    st.binary(max_size=64),
)
def test_plausible_headers_give_only_our_error(dims, ndims_delta, payload):
    header = struct.pack(">BBBB", 0, 0, 0x08, len(dims) + ndims_delta)
    data = header + struct.pack(f">{len(dims)}I", *dims) + payload
    try:
        parse_idx(data)
        parse_labels(data, 10)
    except DataError:
        pass


def test_agrees_with_torchvision_on_the_real_files(real_mnist, tmp_path):
    from torchvision.datasets.mnist import read_image_file, read_label_file

    for name, ours in (
        ("t10k-images-idx3-ubyte", parse_images),
        ("t10k-labels-idx1-ubyte", lambda data: parse_labels(data, 10)),
        ("train-labels-idx1-ubyte", lambda data: parse_labels(data, 10)),
    ):
        data = gzip.decompress((real_mnist / f"{name}.gz").read_bytes())
        (tmp_path / name).write_bytes(data)
        reader = read_image_file if "images" in name else read_label_file
        theirs = reader(str(tmp_path / name))
        assert torch.equal(ours(data), theirs.to(ours(data).dtype)), name
