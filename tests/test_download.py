"""`mnist download`: imports, mirrors on a local HTTP server, verification and its failures."""

import gzip
import http.server
from pathlib import Path

from mnist_cli.data import catalog, store
from tests.conftest import DEAD_MIRROR, app


def _files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def test_imports_from_a_folder_then_finds_them_verified(runner, tiny):
    result = runner.invoke(app(), ["download", "--from", str(tiny.source)])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("imported") == 4
    for name, content in tiny.contents.items():
        assert (Path("data/mnist") / name).read_bytes() == content

    again = runner.invoke(app(), ["download"])  # the only mirror is dead: nothing is fetched
    assert again.exit_code == 0, again.output
    assert again.stdout.count("already there") == 4
    assert "all files verified" in again.stdout


def test_downloads_the_real_mnist_from_a_local_mirror(runner, real_mnist, serve, tmp_path):
    url = serve(real_mnist)
    result = runner.invoke(app(), ["download", "--mirror", url, "--data-dir", "elsewhere"])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("downloaded") == 4
    assert url in result.stdout
    assert _files(Path("elsewhere/mnist")) == {f.name for f in catalog.MNIST.files}
    for datafile in catalog.MNIST.files:
        assert store.file_is_valid(Path("elsewhere/mnist") / datafile.name, datafile)


def test_data_dir_comes_from_the_environment(runner, tiny, monkeypatch):
    monkeypatch.setenv("MNIST_DATA_DIR", "from-env")
    result = runner.invoke(app(), ["download", "--from", str(tiny.source)])
    assert result.exit_code == 0, result.output
    assert len(_files(Path("from-env/mnist"))) == 4


def test_falls_back_to_the_next_mirror(runner, tiny, serve, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    missing, good = serve(empty), serve(tiny.source)
    result = runner.invoke(app(), ["download", "--mirror", missing, "--mirror", good])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("downloaded") == 4


def test_file_urls_work_as_mirrors(runner, tiny):
    result = runner.invoke(app(), ["download", "--mirror", tiny.source.as_uri()])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("downloaded") == 4


def test_refuses_wrong_bytes_and_keeps_nothing(runner, tiny, serve, tmp_path):
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    for name, content in tiny.contents.items():
        damaged = bytearray(content)
        damaged[-1] ^= 0xFF
        (wrong / f"{name}.gz").write_bytes(gzip.compress(bytes(damaged)))
    result = runner.invoke(app(), ["download", "--mirror", serve(wrong)])
    assert result.exit_code == 1
    assert "checksum mismatch" in result.stderr
    assert "Traceback" not in result.output
    assert _files(Path("data/mnist")) == set()  # no .part, nothing that looks valid


def test_refuses_a_file_larger_than_expected(runner, tiny, tmp_path):
    bomb = tmp_path / "bomb"
    bomb.mkdir()
    for name in tiny.contents:
        (bomb / f"{name}.gz").write_bytes(gzip.compress(bytes(10_000_000)))
    result = runner.invoke(app(), ["download", "--from", str(bomb)])
    assert result.exit_code == 1
    assert "more data than the expected" in result.stderr
    assert _files(Path("data/mnist")) == set()


def test_no_network_gives_one_clear_line(runner):
    result = runner.invoke(app(), ["download"])
    assert result.exit_code == 1
    assert DEAD_MIRROR in result.stderr
    assert "--from" in result.stderr
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.output


def test_missing_source_folder_files(runner, tiny, tmp_path):
    result = runner.invoke(app(), ["download", "--from", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert "not found in" in result.stderr


def test_a_damaged_file_is_found_and_repaired(runner, tiny):
    assert runner.invoke(app(), ["download", "--from", str(tiny.source)]).exit_code == 0
    target = Path("data/mnist/t10k-images-idx3-ubyte")
    damaged = bytearray(target.read_bytes())
    damaged[100] ^= 0xFF
    target.write_bytes(bytes(damaged))

    train = runner.invoke(app(), ["train", "--epochs", "1"])
    assert train.exit_code == 1
    assert "damaged" in train.stderr

    repaired = runner.invoke(app(), ["download", "--from", str(tiny.source)])
    assert repaired.exit_code == 0, repaired.output
    assert repaired.stdout.count("already there") == 3
    assert target.read_bytes() == tiny.contents["t10k-images-idx3-ubyte"]


def test_force_fetches_again(runner, tiny):
    assert runner.invoke(app(), ["download", "--from", str(tiny.source)]).exit_code == 0
    result = runner.invoke(app(), ["download", "--from", str(tiny.source), "--force"])
    assert result.exit_code == 0
    assert result.stdout.count("imported") == 4


def test_http_errors_are_reported_per_mirror(runner, tiny, serve, tmp_path):
    class Forbidden(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            self.send_error(403)

        def log_message(self, *args):
            pass

    result = runner.invoke(app(), ["download", "--mirror", serve(tmp_path, Forbidden)])
    assert result.exit_code == 1
    assert "HTTP 403" in result.stderr
