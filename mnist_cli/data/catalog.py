"""The datasets the tool knows: MNIST and its siblings, each one entry holding everything that
differs between them (files, checksums, mirrors, class names, normalisation, label format, how a
user's photo is prepared). Pure data, no torch: `store.py` loads them, `download.py` fetches them.

The .gz MD5s are the ones torchvision lists (torchvision/datasets/mnist.py). The MD5 of the
decompressed content is known for MNIST and Fashion-MNIST (../shared/datasets/README.md), so their
recompressed copies, such as Debian's, are accepted; for KMNIST and QMNIST only the .gz MD5 is
known, so their files are accepted only as the original .gz (see `DataFile.md5`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DataFile:
    """One IDX file of a dataset, as it sits extracted in the data directory."""

    name: str  # file name without .gz, e.g. "train-images-idx3-ubyte"
    size: int  # bytes once decompressed
    # MD5 of the decompressed content: accepts any faithful recompression. None where nobody
    # publishes it: then the .gz itself must match gz_md5, and the content's MD5 is recorded
    # beside the extracted file when it is imported (see store.expected_md5).
    md5: str | None
    gz_md5: str  # MD5 of the public .gz file, as torchvision lists it


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
    folder: str = ""  # its folder in the data directory; "" means `name`
    torchvision_folder: str = "MNIST"  # torchvision keeps the files in <root>/<this>/raw
    labels_format: str = "idx1-ubyte"  # or "qmnist": idx2 int32, n x 8, the class in column 0
    test_rows: int | None = None  # score on only the first rows of the test files
    preprocessing: str = "handwriting"  # how predict prepares a photo: predict/pipeline.py
    class_noun: str = "digit"  # what a class is, in the tables: "accuracy per digit"

    @property
    def files(self) -> tuple[DataFile, ...]:
        """All four, in the order they are fetched."""
        return (self.train_images, self.train_labels, self.test_images, self.test_labels)

    def split_files(self, split: str) -> tuple[DataFile, DataFile]:
        """(images, labels) of the "train" or "test" split."""
        if split == "train":
            return self.train_images, self.train_labels
        if split == "test":
            return self.test_images, self.test_labels
        raise ValueError(f"unknown split {split!r}")


def _idx_files(md5s: tuple[str | None, ...], gz_md5s: tuple[str, ...], prefix: str = ""):
    """The four files of the classic layout: 60,000 training and 10,000 test images."""
    names = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
    names += ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    sizes = (47_040_016, 60_008, 7_840_016, 10_008)
    return [
        DataFile(prefix + name, size, md5, gz_md5)
        for name, size, md5, gz_md5 in zip(names, sizes, md5s, gz_md5s, strict=True)
    ]


DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

MNIST = Dataset(
    "mnist",
    "MNIST",
    *_idx_files(
        (
            "6bbc9ace898e44ae57da46a324031adb",
            "a25bea736e30d166cdddb491f175f624",
            "2646ac647ad5339dbf082846283269ea",
            "27ae3e4e09519cfbb04c329615203637",
        ),
        (
            "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "d53e105ee54ea40749a09fcbcd1e9432",
            "9fb629c4189551a2d022fa330f9573f3",
            "ec29112dd5afa0611ce80d1b7f02629c",
        ),
    ),
    # torchvision's mirrors, the one that still answers first: yann.lecun.com has been
    # answering 403/404 for years.
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    class_names=DIGITS,  # the names the exercise gives the classes
    mean=0.1307,
    std=0.3081,
)

FASHION_MNIST = Dataset(
    "fashion-mnist",
    "Fashion-MNIST",
    *_idx_files(
        (
            "f4a8712d7a061bf5bd6d2ca38dc4d50a",
            "9018921c3c673c538a1fc5bad174d6f9",
            "8181f5470baa50b63fa0f6fddb340f0a",
            "15d484375f8d13e6eb1aabb0c3f46965",
        ),
        (
            "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "25c81989df183df01b3e8a0aad5dffbe",
            "bef4ecab320f06d8554ea6380940ec79",
            "bb300cfdad3c16e7a12a480ee83cd310",
        ),
    ),
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),  # torchvision's
    class_names=(
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    # Computed here from the real training images (Debian's dataset-fashion-mnist):
    # mean 0.28604, std 0.35302.
    mean=0.2860,
    std=0.3530,
    torchvision_folder="FashionMNIST",
    preprocessing="object",  # photos of articles: no centre-of-mass step (predict/fashion.py)
    class_noun="article",
)

KMNIST = Dataset(
    "kmnist",
    "KMNIST",
    # Only the .gz MD5s are published; nobody lists the decompressed content's MD5.
    *_idx_files(
        (None, None, None, None),
        (
            "bdb82020997e1d708af4cf47b453dcf7",
            "e144d726b3acfaa3e44228e80efcd344",
            "5c965bf0a639b31b8f53240b1b52f4d7",
            "7320c461ea6c1c855c0b718fb2a4b134",
        ),
    ),
    mirrors=("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",),  # torchvision's (ROIS-DS CODH)
    # Kuzushiji-MNIST's ten hiragana, in label order (rois-codh/kmnist's kmnist_classmap.csv),
    # with the romanisation torchvision uses as class names.
    class_names=(
        "お (o)",
        "き (ki)",
        "す (su)",
        "つ (tsu)",
        "な (na)",
        "は (ha)",
        "ま (ma)",
        "や (ya)",
        "れ (re)",
        "を (wo)",
    ),
    # Published, not recomputed (the files are not available offline here): the values that
    # code using KMNIST commonly normalises with.
    mean=0.1918,
    std=0.3483,
    torchvision_folder="KMNIST",
    class_noun="character",
)

_QMNIST_FILES = dict(
    # Only the .gz MD5s are published (torchvision); the decompressed content's MD5 is unknown.
    # The test files hold 60,000 images: MNIST's 10,000 test images come first, in MNIST's
    # order, then 50,000 reconstructed from NIST that MNIST never used.
    train_images=DataFile(
        "qmnist-train-images-idx3-ubyte", 47_040_016, None, "ed72d4157d28c017586c42bc6afe6370"
    ),
    train_labels=DataFile(
        "qmnist-train-labels-idx2-int", 1_920_012, None, "0058f8dd561b90ffdd0f734c6a30e5e4"
    ),
    test_images=DataFile(
        "qmnist-test-images-idx3-ubyte", 47_040_016, None, "1394631089c404de565df7b7aeaf9412"
    ),
    test_labels=DataFile(
        "qmnist-test-labels-idx2-int", 1_920_012, None, "5b5b05890a5e13444e108efe57b788aa"
    ),
    mirrors=("https://raw.githubusercontent.com/facebookresearch/qmnist/master/",),
    class_names=DIGITS,
    # QMNIST's training set reconstructs MNIST's 60,000 training digits, so MNIST's values hold.
    mean=0.1307,
    std=0.3081,
    folder="qmnist",
    torchvision_folder="QMNIST",
    labels_format="qmnist",
)

QMNIST = Dataset("qmnist", "QMNIST", **_QMNIST_FILES)

# torchvision's QMNIST(what="test10k"): the same files, scored on the first 10,000 test images
# only, the ones that match MNIST's test set, so results compare with MNIST's.
QMNIST10K = Dataset(
    "qmnist10k", "QMNIST (10k MNIST-compatible test)", test_rows=10_000, **_QMNIST_FILES
)

DATASETS: dict[str, Dataset] = {
    dataset.name: dataset for dataset in (MNIST, FASHION_MNIST, KMNIST, QMNIST, QMNIST10K)
}
