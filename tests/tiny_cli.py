"""`python -m tests.tiny_cli DIR ARGS...`: the real `mnist` command, with the synthetic dataset
whose .gz files are in DIR registered as 'mnist'. Lets fault-injection tests run, and kill, the
command in a subprocess without the real 55 MB of MNIST."""

import dataclasses
import gzip
import hashlib
import sys
from pathlib import Path

from mnist_cli.__main__ import main
from mnist_cli.data import catalog
from mnist_cli.data.catalog import DataFile, Dataset


def tiny_dataset(contents: dict[str, bytes], mirrors: tuple[str, ...]) -> Dataset:
    """MNIST's registry entry, with the files (name -> decompressed bytes) of a synthetic set."""
    files = {}
    for name, content in contents.items():
        md5 = hashlib.md5(content).hexdigest()
        files[name] = DataFile(name, len(content), md5, md5)
    return dataclasses.replace(
        catalog.MNIST,
        train_images=files["train-images-idx3-ubyte"],
        train_labels=files["train-labels-idx1-ubyte"],
        test_images=files["t10k-images-idx3-ubyte"],
        test_labels=files["t10k-labels-idx1-ubyte"],
        mirrors=mirrors,
    )


def register(source: Path) -> None:
    """Register the synthetic dataset whose .gz files are in `source` as 'mnist'."""
    contents = {
        f.name: gzip.decompress((source / f"{f.name}.gz").read_bytes()) for f in catalog.MNIST.files
    }
    catalog.DATASETS["mnist"] = tiny_dataset(contents, mirrors=("http://127.0.0.1:9/",))


if __name__ == "__main__":
    register(Path(sys.argv[1]))
    main(sys.argv[2:])
