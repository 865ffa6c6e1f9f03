"""An ONNX file can do no more than our exports do, and answers for a checkpoint only when the
checkpoint names it (issue 29, items 1, 2, 8 and 9): a crafted `Loop` never reaches
onnxruntime, an export altered and sealed again is never run for `ckpt.pt`, a run that fails
is a sentence, a normalisation that would make NaN is refused, and a checkpoint's header is read
without running anything the file holds."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from mnist_cli.checkpoint.format import EXPORT_FIELD, read_header
from mnist_cli.errors import CheckpointError, MnistError
from mnist_cli.export.metadata import seal
from mnist_cli.inference.card import ModelCard
from mnist_cli.inference.ensemble import check_ensemble
from mnist_cli.inference.export_info import SEAL_KEY, SEAL_PLACEHOLDER, file_sha256
from mnist_cli.inference.onnx_graph import ALLOWED_OPS, parse, read_graph
from mnist_cli.inference.onnx_model import load_onnx, matching_export
from mnist_cli.models import MODELS
from tests.conftest import REPO, app, torch_loaded_after, train_mlp


def _digits(tiny, count: int = 3) -> list[str]:
    raw = tiny.contents["t10k-images-idx3-ubyte"]
    images = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28)
    for index in range(count):
        Image.fromarray(images[index]).save(f"digit{index}.png")
    return [f"digit{index}.png" for index in range(count)]


def _one_line_error(result, *fragments: str) -> None:
    assert result.exit_code != 0, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def _resealed(model) -> bytes:
    """The onnx ModelProto's bytes with a fresh, valid seal: what anyone can compute."""
    for entry in model.metadata_props:
        if entry.key == SEAL_KEY:
            entry.value = SEAL_PLACEHOLDER
    return seal(model.SerializeToString())


def _looping_export(metadata: dict[str, str], iterations: int = 2**62) -> bytes:
    """A model with our metadata and a valid seal whose graph ends in a Loop of `iterations`."""
    from onnx import TensorProto, helper

    body = helper.make_graph(
        [helper.make_node("Identity", ["carried"], ["carried_out"])],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("condition", TensorProto.BOOL, []),
            helper.make_tensor_value_info("carried", TensorProto.FLOAT, None),
        ],
        [
            helper.make_tensor_value_info("condition_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("carried_out", TensorProto.FLOAT, None),
        ],
    )
    body.node.insert(0, helper.make_node("Identity", ["condition"], ["condition_out"]))
    nodes = [
        helper.make_node(
            "Constant", [], ["count"], value=helper.make_tensor("c", 7, [], [iterations])
        ),
        helper.make_node("Constant", [], ["go"], value=helper.make_tensor("g", 9, [], [True])),
        helper.make_node("Flatten", ["images"], ["flat"]),
        helper.make_node("Loop", ["count", "go", "flat"], ["looped"], body=body),
        helper.make_node("Constant", [], ["size"], value=helper.make_tensor("s", 7, [2], [-1, 10])),
        helper.make_node("Reshape", ["looped", "size"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "spin",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 1, 28, 28])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in {**metadata, SEAL_KEY: SEAL_PLACEHOLDER}.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    return seal(model.SerializeToString())


def _metadata(path: str = "ckpt.onnx") -> dict[str, str]:
    import onnx

    return {e.key: e.value for e in onnx.load(path).metadata_props if e.key != SEAL_KEY}


# 1. A model's run time is bounded: only our operators reach onnxruntime


def test_every_registered_model_exports_only_allowed_operators(runner, tiny_data):
    for name in MODELS:
        checkpoint = Path(f"{name}.pt")
        result = runner.invoke(
            app(),
            ["train", "--model", name, "--epochs", "1", "--json", "--checkpoint", str(checkpoint)],
        )
        assert result.exit_code == 0, result.output
        graph = read_graph(checkpoint.with_suffix(".onnx").read_bytes())
        used = {node.op_type for node in graph.nodes}
        assert used and used <= ALLOWED_OPS, (name, used - ALLOWED_OPS)
        assert not any(node.has_subgraph for node in graph.nodes)


def test_a_sealed_export_that_loops_forever_is_refused_in_one_line(runner, tiny, tiny_checkpoint):
    Path("spin.onnx").write_bytes(_looping_export(_metadata()))
    with pytest.raises(CheckpointError, match="operator 'Loop'"):
        load_onnx(Path("spin.onnx"))
    result = runner.invoke(app(), ["predict", "--checkpoint", "spin.onnx", *_digits(tiny, 1)])
    _one_line_error(result, "spin.onnx", "'Loop'", "no mnist export uses")


def test_a_looping_export_beside_the_checkpoint_never_runs(tiny, tiny_checkpoint):
    """The attack as it was found: `ckpt.onnx` replaced by the Loop, a plain `mnist predict` in a
    real process. It answers (with torch) instead of spinning until SIGKILL."""
    Path("ckpt.onnx").write_bytes(_looping_export(_metadata()))
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "tests.tiny_cli", str(tiny.source), "predict", "--json"]
    # The bound only keeps a regression from hanging the suite; it is not a speed check.
    done = subprocess.run(
        [*command, *_digits(tiny, 1)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)


def test_a_window_wider_than_any_export_is_refused(runner, tiny_checkpoint):
    import onnx

    model = onnx.load("ckpt.onnx")
    from onnx import helper

    # An MLP has no Conv; put one in front with a padding of a million pixels.
    weight = helper.make_tensor("w", 1, [1, 1, 1, 1], [1.0])
    model.graph.initializer.append(weight)
    first = model.graph.node[0]
    pad = helper.make_node("Conv", ["images", "w"], ["padded"], pads=[10**6] * 4)
    model.graph.node.insert(0, pad)
    first.input[0] = "padded"
    Path("wide.onnx").write_bytes(_resealed(model))
    with pytest.raises(CheckpointError, match="pads"):
        load_onnx(Path("wide.onnx"))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512))
def test_parsing_any_bytes_is_a_graph_or_our_error(data):
    try:
        parse(data, Path("x.onnx"))
    except CheckpointError as error:
        assert "x.onnx" in str(error)


def test_a_model_that_fails_while_running_is_a_sentence(tiny_checkpoint):
    """An export whose Reshape cannot hold the batch fails in session.run: onnxruntime's raw
    exception becomes a CheckpointError that names the file."""
    import onnx

    model = onnx.load("ckpt.onnx")
    from onnx import helper, numpy_helper

    reshapes = [n for n in model.graph.node if n.op_type == "Reshape"]
    shape_name = reshapes[0].input[1]
    for index, tensor in enumerate(model.graph.initializer):
        if tensor.name == shape_name:
            model.graph.initializer[index].CopyFrom(
                numpy_helper.from_array(np.array([7, -1], np.int64), shape_name)
            )
    for node in model.graph.node:
        if node.op_type == "Constant" and node.output[0] == shape_name:
            node.attribute[0].t.CopyFrom(helper.make_tensor("s", 7, [2], [7, -1]))
    Path("broken.onnx").write_bytes(_resealed(model))
    broken = load_onnx(Path("broken.onnx"))
    with pytest.raises(CheckpointError, match="broken.onnx failed to run"):
        broken.logits(np.zeros((3, 28, 28), np.uint8))


# 2. ckpt.onnx answers for ckpt.pt only when ckpt.pt names its bytes


def test_train_records_its_export_in_the_checkpoint(tiny_checkpoint):
    header = read_header(Path("ckpt.pt"))
    assert header[EXPORT_FIELD] == file_sha256(Path("ckpt.onnx"))
    assert matching_export(Path("ckpt.pt")) is not None


def test_reading_a_header_imports_no_torch(tiny_checkpoint):
    code = (
        "from mnist_cli.checkpoint.format import read_header\n"
        "from mnist_cli.inference.onnx_model import matching_export\n"
        "assert read_header('ckpt.pt')['export_sha256']\n"
        "assert matching_export('ckpt.pt') is not None\n"
    )
    assert not torch_loaded_after(code)


def test_exporting_again_writes_the_bytes_the_checkpoint_names(runner, tiny_checkpoint):
    recorded = read_header(Path("ckpt.pt"))[EXPORT_FIELD]
    Path("ckpt.onnx").unlink()
    result = runner.invoke(app(), ["export", "ckpt.pt"])
    assert result.exit_code == 0, result.output
    assert file_sha256(Path("ckpt.onnx")) == recorded
    assert matching_export(Path("ckpt.pt")) is not None


def test_an_altered_and_resealed_export_never_answers_for_the_checkpoint(
    runner, tiny, tiny_checkpoint
):
    """The attack as it was found: 1000 added to logit 3 in ckpt.onnx, sealed again. predict and
    serve's loader use the checkpoint on torch instead, so the answer is the genuine model's."""
    import onnx
    from onnx import numpy_helper

    images = _digits(tiny, 3)
    genuine = json.loads(runner.invoke(app(), ["predict", "--json", *images]).stdout)
    model = onnx.load("ckpt.onnx")
    last_gemm = [n for n in model.graph.node if n.op_type == "Gemm"][-1]
    bias_name = last_gemm.input[2]
    for index, tensor in enumerate(model.graph.initializer):
        if tensor.name == bias_name:
            bias = numpy_helper.to_array(tensor).copy()
            bias[3] += 1000
            model.graph.initializer[index].CopyFrom(numpy_helper.from_array(bias, bias_name))
    Path("ckpt.onnx").write_bytes(_resealed(model))
    assert load_onnx(Path("ckpt.onnx")).logits(np.zeros((1, 28, 28), np.uint8)).argmax() == 3
    assert matching_export(Path("ckpt.pt")) is None
    after = json.loads(runner.invoke(app(), ["predict", "--json", *images]).stdout)
    assert [row["prediction"] for row in after] == [row["prediction"] for row in genuine]
    for row, expected in zip(after, genuine, strict=True):  # torch's answer, not the export's
        assert row["probability"] == pytest.approx(expected["probability"], abs=1e-5)


def test_a_checkpoint_without_a_recorded_export_uses_torch(runner, tiny, tiny_checkpoint):
    """A checkpoint of an earlier version (no export_sha256) with a genuine export beside it:
    nothing ties the two, so predict answers with torch."""
    import torch

    data = torch.load("ckpt.pt", weights_only=True)
    del data[EXPORT_FIELD]
    torch.save(data, "ckpt.pt")  # its sha256 does not cover the field: still a valid file
    assert matching_export(Path("ckpt.pt")) is None
    result = runner.invoke(app(), ["predict", *_digits(tiny, 1)])
    assert result.exit_code == 0, result.output


def test_a_new_run_over_an_old_one_does_not_use_the_old_export(runner, tiny, tiny_checkpoint):
    Path("ckpt.onnx").rename("old.onnx")
    train_mlp(runner, 1, "--seed", "1")
    Path("old.onnx").replace("ckpt.onnx")
    assert matching_export(Path("ckpt.pt")) is None


class _Planted:
    def __reduce__(self):
        return (os.system, ("touch planted",))


def test_reading_a_header_runs_nothing_the_file_holds(tmp_path):
    """A data.pkl with our marker and a REDUCE of os.system: read_header builds placeholders,
    so no command runs and no module is imported."""
    payload = pickle.dumps(
        {"format": "mnist-cli-checkpoint", "evil": _Planted(), EXPORT_FIELD: "0" * 64}, protocol=2
    )
    path = tmp_path / "evil.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("evil/data.pkl", payload)
    os.chdir(tmp_path)
    header = read_header(path)
    assert header is not None and header[EXPORT_FIELD] == "0" * 64
    assert not (tmp_path / "planted").exists()


# 8. A normalisation that makes every pixel infinite is no dataset's


def test_an_export_whose_normalisation_overflows_is_refused(runner, tiny, tiny_checkpoint):
    import onnx

    model = onnx.load("ckpt.onnx")
    for entry in model.metadata_props:
        if entry.key == "mean":
            entry.value = "1e308"
        elif entry.key == "std":
            entry.value = "1e-308"
    Path("huge.onnx").write_bytes(_resealed(model))
    result = runner.invoke(app(), ["predict", "--checkpoint", "huge.onnx", *_digits(tiny, 1)])
    _one_line_error(result, "huge.onnx", "normalisation")
    assert "nan" not in result.output.lower()


def test_a_checkpoint_whose_normalisation_overflows_is_refused(runner, tiny, tiny_checkpoint):
    import torch

    from mnist_cli.checkpoint.write import payload_sha256

    data = torch.load("ckpt.pt", weights_only=True)
    data["normalization"] = {"mean": 1e308, "std": 1e-308}
    data["sha256"] = payload_sha256(data)
    torch.save(data, "odd.pt")
    result = runner.invoke(app(), ["evaluate", "odd.pt"])
    _one_line_error(result, "odd.pt", "normalisation")


# 9. An ensemble of different class counts says so


def test_an_ensemble_of_different_class_counts_says_so():
    ten = ModelCard("cnn", "mnist", [str(i) for i in range(10)], 0.13, 0.31)
    five = ModelCard("cnn", "mnist", [str(i) for i in range(5)], 0.13, 0.31)
    with pytest.raises(MnistError) as caught:
        check_ensemble([ten, five], [Path("a.pt"), Path("b.onnx")])
    message = str(caught.value)
    assert "10 classes" in message and "5 classes" in message
    assert "same dataset" not in message
