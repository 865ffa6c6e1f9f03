"""Checkpoint integrity: the SHA-256 catches a flipped byte, format 1 is refused clearly, the
write is fsynced before the rename, and a full disk keeps the previous checkpoint."""

import os
import subprocess
import zipfile
from pathlib import Path

import pytest
import torch

from mnist_cli import files as files_module
from mnist_cli.checkpoint.read import load_checkpoint
from mnist_cli.checkpoint.write import payload_sha256, save_checkpoint
from mnist_cli.errors import CheckpointError
from tests.conftest import app
from tests.test_checkpoint import _checkpoint


def _flip_in_entry(path: Path, entry_suffix: str) -> str:
    """Flip one byte in the middle of a stored zip entry (a tensor's raw bytes)."""
    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith(entry_suffix))
    data = bytearray(path.read_bytes())
    # local header: 30 bytes + name + extra; the entry is stored uncompressed.
    name_length = int.from_bytes(data[info.header_offset + 26 : info.header_offset + 28], "little")
    extra_length = int.from_bytes(data[info.header_offset + 28 : info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_length + extra_length
    data[start + info.file_size // 2] ^= 0x01
    path.write_bytes(bytes(data))
    return info.filename


def test_a_flipped_byte_in_a_tensor_is_caught(tmp_path):
    _, payload = _checkpoint("mlp")
    path = tmp_path / "c.pt"
    save_checkpoint(payload, path)
    _flip_in_entry(path, "data/0")
    with pytest.raises(CheckpointError, match="not a valid mnist checkpoint") as caught:
        load_checkpoint(path)
    assert "\n" not in str(caught.value)


def test_a_changed_tensor_with_a_stale_digest_is_caught(tmp_path):
    """The zip's own CRC cannot catch this one (the file is rewritten whole): only our SHA-256."""
    _, payload = _checkpoint("mlp")
    first = next(iter(payload["state_dict"]))
    payload["state_dict"][first] = payload["state_dict"][first].clone()
    payload["state_dict"][first].view(-1)[0] += 1e-3
    torch.save(payload, tmp_path / "c.pt")
    with pytest.raises(CheckpointError, match="SHA-256 does not match its content"):
        load_checkpoint(tmp_path / "c.pt")


def test_the_digest_covers_every_field_and_value():
    _, payload = _checkpoint("mlp")
    digest = payload_sha256(payload)
    assert payload["sha256"] == digest
    assert payload_sha256({**payload, "history": [{"epoch": 1}]}) != digest
    assert payload_sha256({**payload, "class_names": ["x"] * 10}) != digest
    weights = dict(payload["state_dict"])
    key = next(iter(weights))
    weights[key] = weights[key].to(torch.float64)  # same values, another dtype
    assert payload_sha256({**payload, "state_dict": weights}) != digest


def test_format_1_is_refused_with_a_reason(tmp_path):
    _, payload = _checkpoint("mlp")
    old = {k: v for k, v in payload.items() if k not in ("sha256", "training")}
    torch.save({**old, "format_version": 1}, tmp_path / "old.pt")
    with pytest.raises(CheckpointError, match="format version 1 is not supported: written by an"):
        load_checkpoint(tmp_path / "old.pt")


def test_fsync_of_the_file_before_the_rename_then_of_the_directory(tmp_path, monkeypatch):
    _, payload = _checkpoint("mlp")
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append("fsync-dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "fsync-file")
        real_fsync(fd)

    def replace(src, dst):
        events.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(files_module.os, "fsync", fsync)
    monkeypatch.setattr(files_module.os, "replace", replace)
    save_checkpoint(payload, tmp_path / "c.pt")
    assert events == ["fsync-file", "replace", "fsync-dir"]


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs of `size` bytes at tmp_path/disk (root only); unmounted after the test."""
    mounts = []

    def mount(size: int) -> Path:
        folder = tmp_path / "disk"
        folder.mkdir()
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
            capture_output=True,
        )
        if result.returncode != 0:
            pytest.skip("cannot mount a tmpfs here (needs root)")
        mounts.append(folder)
        return folder

    yield mount
    for folder in mounts:
        subprocess.run(["umount", str(folder)], check=False)


def test_a_full_disk_keeps_the_previous_checkpoint(runner, tiny_data, small_disk):
    first = runner.invoke(app(), ["train", "--model", "mlp", "--epochs", "1", "--batch-size", "32"])
    assert first.exit_code == 0, first.output
    size = Path("ckpt.pt").stat().st_size
    disk = small_disk(size * 3 // 2)  # room for one checkpoint, not for a second beside it
    path = disk / "ckpt.pt"
    arguments = ["train", "--model", "mlp", "--batch-size", "32", "--checkpoint", str(path)]
    result = runner.invoke(app(), [*arguments, "--epochs", "2"])
    assert result.exit_code == 1, result.output
    # Progress lines may come first (they are timed); the error is the one line that ends it.
    lines = result.stderr.splitlines()
    assert lines[-1] == f"error: cannot write checkpoint {path}: No space left on device"
    assert [line for line in lines if line.startswith("error:")] == lines[-1:]
    assert len(load_checkpoint(path).history) == 1  # epoch 1 survives
    # No temporary file left: the checkpoint and its run record (ckpt.jsonl) only.
    assert sorted(p.name for p in disk.iterdir()) == ["ckpt.jsonl", "ckpt.pt"]
