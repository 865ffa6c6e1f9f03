"""Reader for the IDX format that MNIST and its siblings are stored in: bytes -> uint8 numpy array
(torch-free, for the ONNX path; the loop wraps it with torch.from_numpy, no copy).

Every check is explicit (never `assert`), since the bytes come from the network or the user.
"""

from __future__ import annotations

import struct

import numpy as np

from mnist_cli.errors import DataError

# The third byte of the magic number is the element type: 0x08 means unsigned byte, 0x0C a
# big-endian 32-bit integer (QMNIST's labels).
UBYTE = 0x08
INT32 = 0x0C
ELEMENTS = {UBYTE: (1, "unsigned-byte"), INT32: (4, "int32")}  # type -> (bytes, name)
QMNIST_COLUMNS = 8  # class, NIST series, writer, index, NIST class, NIST index, duplicate, unused
IMAGES_DIMS = 3
LABELS_DIMS = 1
MAX_ELEMENTS = 2**36  # far beyond any dataset of this family, far below an overflow


def parse_header(data: bytes, name: str = "IDX file", element: int = UBYTE) -> tuple[int, ...]:
    """Return the dimensions an IDX header announces, after checking it against the length."""
    if len(data) < 4:
        raise DataError(f"{name}: too short to be an IDX file ({len(data)} bytes)")
    zero1, zero2, dtype, ndims = struct.unpack(">BBBB", data[:4])
    element_size, element_name = ELEMENTS[element]
    if zero1 != 0 or zero2 != 0 or dtype != element or not 1 <= ndims <= 4:
        raise DataError(f"{name}: not an {element_name} IDX file (bad magic number)")
    header_size = 4 + 4 * ndims
    if len(data) < header_size:
        raise DataError(f"{name}: IDX header is truncated")
    dims = struct.unpack(f">{ndims}I", data[4:header_size])
    payload = element_size
    extent = 1  # the product of the non-zero dimensions: an empty file can still be absurd
    for dim in dims:
        payload *= dim
        extent *= max(dim, 1)
    if extent > MAX_ELEMENTS:
        raise DataError(f"{name}: implausible dimensions {dims}")
    if len(data) != header_size + payload:
        raise DataError(
            f"{name}: header announces {header_size + payload} bytes but the file has {len(data)}"
        )
    return dims


def idx_array(data: bytes, name: str = "IDX file", ndims: int | None = None) -> np.ndarray:
    """Parse IDX bytes into a writable uint8 array shaped as the header says."""
    dims = parse_header(data, name)
    if ndims is not None and len(dims) != ndims:
        raise DataError(f"{name}: expected {ndims} dimensions, found {len(dims)}")
    header_size = 4 + 4 * len(dims)
    return np.frombuffer(bytearray(data[header_size:]), dtype=np.uint8).reshape(dims)


def images_array(data: bytes, name: str = "images") -> np.ndarray:
    """Parse an IDX images file: N x rows x cols uint8."""
    images = idx_array(data, name, ndims=IMAGES_DIMS)
    if images.shape[1] == 0 or images.shape[2] == 0:
        raise DataError(f"{name}: images have a zero dimension {tuple(images.shape)}")
    return images


def labels_array(data: bytes, num_classes: int, name: str = "labels") -> np.ndarray:
    """Parse an IDX labels file: N uint8 labels, each below num_classes, as int64."""
    labels = idx_array(data, name, ndims=LABELS_DIMS)
    if labels.size and int(labels.max()) >= num_classes:
        raise DataError(f"{name}: label {int(labels.max())} is outside 0-{num_classes - 1}")
    return labels.astype(np.int64)


def qmnist_labels_array(data: bytes, num_classes: int, name: str = "labels") -> np.ndarray:
    """Parse QMNIST's extended labels (idx2 int32, N x 8 columns): the class is column 0; the
    other columns (NIST writer, series, indices) are checked for shape only. Returns int64 [N]."""
    dims = parse_header(data, name, INT32)
    if len(dims) != 2 or dims[1] != QMNIST_COLUMNS:
        raise DataError(f"{name}: expected N x {QMNIST_COLUMNS} int32 labels, found {dims}")
    header_size = 4 + 4 * len(dims)
    table = np.frombuffer(data, dtype=">i4", offset=header_size).reshape(dims)
    labels = table[:, 0].astype(np.int64)
    if labels.size and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        bad = int(labels.min()) if int(labels.min()) < 0 else int(labels.max())
        raise DataError(f"{name}: label {bad} is outside 0-{num_classes - 1}")
    return labels
