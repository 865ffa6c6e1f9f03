"""MNIST's siblings in the registry and on the command line: complete entries with the published
checksums, `--dataset` on download and train, one folder per dataset side by side, checkpoints that
make evaluate and predict use their dataset, and the .gz-only verification of KMNIST and QMNIST."""

import gzip
import json
import re
import typing
from pathlib import Path

import pytest
from PIL import Image

from mnist_cli.config import DatasetName
from mnist_cli.data import catalog, store
from mnist_cli.data.catalog import DATASETS, FASHION_MNIST, KMNIST, MNIST
from mnist_cli.data.store import LABEL_READERS, checksum_path, load_split, missing_files
from mnist_cli.errors import DataError
from mnist_cli.predict.pipeline import PREPARERS
from tests.conftest import app
from tests.siblings import register, sibling_contents

HEX32 = re.compile(r"[0-9a-f]{32}")


def test_the_cli_offers_exactly_the_registered_datasets():
    assert typing.get_args(DatasetName) == tuple(DATASETS)


@pytest.mark.parametrize("dataset", DATASETS.values(), ids=list(DATASETS))
def test_every_entry_is_complete(dataset):
    assert len(dataset.files) == 4
    assert len(set(dataset.class_names)) == 10
    for datafile in dataset.files:
        assert HEX32.fullmatch(datafile.gz_md5)
        assert datafile.md5 is None or HEX32.fullmatch(datafile.md5)
    assert dataset.mirrors and all(m.startswith(("http://", "https://")) for m in dataset.mirrors)
    assert 0 < dataset.mean < 1 and 0 < dataset.std < 1
    assert dataset.preprocessing in PREPARERS
    assert dataset.labels_format in LABEL_READERS


def test_published_checksums_and_class_names():
    # ../shared/datasets/README.md lists the decompressed content's MD5 of Fashion-MNIST.
    assert [f.md5 for f in FASHION_MNIST.files] == [
        "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "9018921c3c673c538a1fc5bad174d6f9",
        "8181f5470baa50b63fa0f6fddb340f0a",
        "15d484375f8d13e6eb1aabb0c3f46965",
    ]
    assert FASHION_MNIST.train_images.gz_md5 == "8d4fb7e6c68d591d4c3dfef9ec88bf0d"  # torchvision
    assert FASHION_MNIST.class_names[0] == "T-shirt/top"
    assert FASHION_MNIST.class_names[9] == "Ankle boot"
    assert "".join(name[0] for name in KMNIST.class_names) == "おきすつなはまやれを"
    # Nobody publishes the decompressed MD5 of KMNIST or QMNIST: only the .gz can be checked.
    assert all(f.md5 is None for f in (*KMNIST.files, *DATASETS["qmnist"].files))
    assert all(f.md5 for f in (*MNIST.files, *FASHION_MNIST.files))


@pytest.fixture
def two_datasets(tmp_path, monkeypatch, runner, tiny):
    """The synthetic set imported as MNIST and, under Fashion-MNIST's entry, as Fashion-MNIST."""
    fashion = tmp_path / "fashion-source"
    register(monkeypatch, "fashion-mnist", fashion)
    for options in ([], ["--dataset", "fashion-mnist"]):
        source = fashion if options else tiny.source
        result = runner.invoke(app(), ["download", *options, "--from", str(source)])
        assert result.exit_code == 0, result.output
    return Path("data")


def test_datasets_live_side_by_side_and_checkpoints_remember_theirs(runner, two_datasets):
    assert sorted(p.name for p in two_datasets.iterdir()) == ["fashion-mnist", "mnist"]
    for name in ("mnist", "fashion-mnist"):
        trained = runner.invoke(
            app(),
            ["train", "--dataset", name, "--model", "mlp", "--epochs", "2"]
            + ["--checkpoint", f"{name}.pt", "--json"],
        )
        assert trained.exit_code == 0, trained.output
    (two_datasets / "mnist").rename("mnist-elsewhere")  # evaluate must not need MNIST's files

    evaluated = runner.invoke(app(), ["evaluate", "fashion-mnist.pt"])
    assert evaluated.exit_code == 0, evaluated.output
    assert "on the Fashion-MNIST test set" in " ".join(evaluated.stdout.split())  # title wraps
    assert "per article" in evaluated.stdout
    assert "T-shirt/top" in evaluated.stdout and "Ankle boot" in evaluated.stdout
    as_json = json.loads(runner.invoke(app(), ["evaluate", "fashion-mnist.pt", "--json"]).stdout)
    assert as_json["dataset"] == "fashion-mnist"
    assert list(as_json["per_class_accuracy"]) == list(FASHION_MNIST.class_names)

    images, _ = load_split(catalog.DATASETS["fashion-mnist"], two_datasets, "test")
    Image.fromarray(images[3].numpy()).save("article.png")
    command = ["predict", "article.png", "--checkpoint", "fashion-mnist.pt", "--no-preprocess"]
    answer = json.loads(runner.invoke(app(), [*command, "--json"]).stdout)[0]
    assert answer["label"] == FASHION_MNIST.class_names[answer["prediction"]]
    predicted = runner.invoke(app(), command)
    assert predicted.exit_code == 0, predicted.output
    assert "article" in predicted.stdout  # the column header
    assert answer["label"] in predicted.stdout


def test_unknown_dataset_is_a_usage_error(runner):
    for command in ("download", "train"):
        result = runner.invoke(app(), [command, "--dataset", "cifar10"])
        assert result.exit_code == 2
        assert "cifar10" in result.output


def test_offline_download_says_how_to_import(runner):
    result = runner.invoke(app(), ["download", "--dataset", "kmnist"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "run `mnist download --dataset kmnist --from DIR`" in result.stderr
    assert not list(Path("data/kmnist").iterdir())  # nothing half-written kept


def test_train_on_a_missing_sibling_tries_to_download_it_first(runner):
    result = runner.invoke(app(), ["train", "--dataset", "fashion-mnist"])
    assert result.exit_code == 1
    assert "Fashion-MNIST is not in data: downloading it first" in result.stderr
    assert "--dataset fashion-mnist --from DIR" in result.stderr


# KMNIST and QMNIST: only the MD5 of the original .gz is published ------------------------------


@pytest.fixture
def kmnist_source(tmp_path, monkeypatch) -> Path:
    source = tmp_path / "kmnist-source"
    register(monkeypatch, "kmnist", source)
    return source


def _download_kmnist(runner, source):
    return runner.invoke(app(), ["download", "--dataset", "kmnist", "--from", str(source)])


def test_original_gz_is_accepted_and_its_content_md5_recorded(runner, kmnist_source):
    result = _download_kmnist(runner, kmnist_source)
    assert result.exit_code == 0, result.output
    assert "all files verified (MD5 of the original .gz)" in result.stdout
    kmnist = catalog.DATASETS["kmnist"]
    for datafile, content in sibling_contents(kmnist).items():
        path = Path("data/kmnist") / datafile
        assert path.read_bytes() == content
        md5, name = checksum_path(path).read_text().split()
        assert (md5, name) == (store.md5_of(content), datafile)  # md5sum -c reads it
    images, labels = load_split(kmnist, "data", "train")
    assert images.shape == (600, 28, 28) and labels.tolist()[:3] == [0, 1, 2]
    again = _download_kmnist(runner, kmnist_source)
    assert again.stdout.count("already there") == 4


def test_a_recompressed_gz_is_refused(runner, kmnist_source):
    # Same content, other gzip bytes: without a published content MD5 it cannot be trusted.
    for path in kmnist_source.iterdir():
        path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes()), compresslevel=1))
    result = _download_kmnist(runner, kmnist_source)
    assert result.exit_code == 1
    assert "checksum mismatch (not the original .gz file)" in result.stderr
    assert not list(Path("data/kmnist").iterdir())


def test_an_extracted_file_is_refused(runner, kmnist_source):
    for path in kmnist_source.iterdir():
        path.with_suffix("").write_bytes(gzip.decompress(path.read_bytes()))
        path.unlink()
    result = _download_kmnist(runner, kmnist_source)
    assert result.exit_code == 1
    assert "only the MD5 of its original .gz is published" in result.stderr
    assert "give the .gz file" in result.stderr


def test_damage_or_a_lost_record_is_caught_then_repaired(runner, kmnist_source):
    assert _download_kmnist(runner, kmnist_source).exit_code == 0
    kmnist = catalog.DATASETS["kmnist"]
    images_path = Path("data/kmnist") / kmnist.test_images.name
    damaged = bytearray(images_path.read_bytes())
    damaged[500] ^= 0xFF
    images_path.write_bytes(bytes(damaged))
    with pytest.raises(DataError, match="damaged: run `mnist download --dataset kmnist"):
        load_split(kmnist, "data", "test")

    checksum_path(Path("data/kmnist") / kmnist.train_labels.name).unlink()
    assert missing_files(kmnist, "data") == [kmnist.train_labels]  # size alone is not enough
    with pytest.raises(DataError, match="never verified"):
        load_split(kmnist, "data", "train")
    repaired = _download_kmnist(runner, kmnist_source)
    assert repaired.exit_code == 0, repaired.output
    assert repaired.stdout.count("imported") == 2 and repaired.stdout.count("already there") == 2
    load_split(kmnist, "data", "train")
    load_split(kmnist, "data", "test")


@pytest.mark.parametrize("name", ["fashion-mnist", "kmnist", "qmnist"])
def test_import_from_torchvision_layout(runner, tmp_path, monkeypatch, name):
    folder = catalog.DATASETS[name].torchvision_folder
    register(monkeypatch, name, tmp_path / "root" / folder / "raw")
    result = runner.invoke(app(), ["download", "--dataset", name, "--from", str(tmp_path / "root")])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("imported") == 4
