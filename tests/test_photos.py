"""The claim of issue 4 on real data: a default model trained on the real MNIST reads phone-like
photos of real MNIST test digits (benchmarks/photos.py) when they are preprocessed, and a plain
resize does far worse. The full measurement is benchmarks/photo_accuracy.py."""

import json

import numpy as np
import pytest

from benchmarks.photos import photo_set
from tests.conftest import app

pytestmark = pytest.mark.real_data

COUNT = 200


def test_preprocessing_reads_photos_that_a_plain_resize_cannot(runner, real_mnist, tmp_path):
    from mnist_cli.data.catalog import MNIST
    from mnist_cli.data.store import load_split

    imported = runner.invoke(app(), ["download", "--from", str(real_mnist)])
    assert imported.exit_code == 0, imported.output
    trained = runner.invoke(app(), ["train", "--epochs", "1", "--json"])
    assert trained.exit_code == 0, trained.output

    images, labels = load_split(MNIST, tmp_path / "data", "test")
    # Photos of the last test digits, seeded apart from the benchmark's.
    photos = photo_set(images[-COUNT:].numpy(), labels[-COUNT:].numpy(), COUNT, seed=10_000)
    folder = tmp_path / "photos"
    folder.mkdir()
    for index, photo in enumerate(photos):
        (folder / f"{index:03d}.jpg").write_bytes(photo.data)
    truth = np.array([photo.label for photo in photos])

    def accuracy(*options: str) -> float:
        result = runner.invoke(app(), ["predict", str(folder), "--json", *options])
        assert result.exit_code == 0, result.output
        answers = json.loads(result.stdout)
        assert len(answers) == COUNT
        return float((np.array([a["prediction"] for a in answers]) == truth).mean())

    preprocessed, plain = accuracy(), accuracy("--no-preprocess")
    assert preprocessed >= 0.95
    assert plain <= 0.5
