"""VGG16 weight sources: the ONNX extraction, the Keras .h5 and Caffe .npy paths, `random`, failures."""
import logging
from pathlib import Path

import keras
import numpy as np
import onnx
import pytest
from onnx.reference import ReferenceEvaluator
from skimage import data

from model import vgg_weights
from model.vgg import build_vgg_features, preprocess
from model.vgg_weights import LAYERS, VggWeightsError, load_vgg_weights

ONNX_RELU = "functional_1/{layer}_1/Relu:0"


@pytest.fixture(scope="module")
def extracted(imagenet_vgg_npz):
    return Path(imagenet_vgg_npz), vgg_weights.sha256_of(imagenet_vgg_npz)


@pytest.fixture(scope="module")
def imagenet(extracted):
    return vgg_weights.read_npz(extracted[0])


def test_extract_is_reproducible_and_checksummed(extracted, tmp_path):
    path, digest = extracted
    assert digest == vgg_weights.NPZ_SHA256 == vgg_weights.sha256_of(path)
    assert (path.parent / (path.name + ".sha256")).read_text().split()[0] == digest
    assert vgg_weights.extract(tmp_path / "again.npz") == digest
    tampered = tmp_path / "tampered.npz"
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0xFF  # one flipped byte inside a kernel
    tampered.write_bytes(bytes(content))
    with pytest.raises(VggWeightsError, match="sha256"):
        load_vgg_weights("imagenet", npz=tampered)


def test_extracted_layers_give_the_onnx_graphs_features_on_a_photo(imagenet):
    photo = data.chelsea()[60:124, 150:214]  # 64x64 RGB uint8
    unit = photo.astype(np.float32)[None] / 127.5 - 1.0
    ours = build_vgg_features(imagenet)(preprocess(unit))

    # The ONNX graph truncated at the three feature ReLUs, run by onnx's reference evaluator.
    keras_input = keras.applications.vgg16.preprocess_input(photo.astype(np.float32)[None].copy())
    np.testing.assert_allclose(preprocess(unit).numpy(), keras_input, atol=1e-3)
    model = onnx.load(str(vgg_weights.onnx_path()))
    outputs = [ONNX_RELU.format(layer=layer) for layer in ("block1_conv1", "block2_conv1", "block3_conv1")]
    truncated = _truncated(model, outputs)
    theirs = ReferenceEvaluator(truncated).run(None, {"input": keras_input.astype(np.float32)})
    for mine, reference in zip(ours, theirs):
        reference = reference.transpose(0, 2, 3, 1)  # NCHW -> NHWC
        assert mine.shape == reference.shape
        np.testing.assert_allclose(mine.numpy(), reference, rtol=1e-3, atol=1e-4 * float(reference.max()))


def _truncated(model: onnx.ModelProto, outputs: list[str]) -> onnx.ModelProto:
    """The graph's nodes up to the last wanted output, with the initializers they read."""
    nodes = []
    for node in model.graph.node:
        nodes.append(node)
        if outputs[-1] in node.output:
            break
    needed = {name for node in nodes for name in node.input}
    graph = onnx.helper.make_graph(
        nodes, "vgg16_to_conv3_1", list(model.graph.input),
        [onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None) for name in outputs],
        [t for t in model.graph.initializer if t.name in needed])
    return onnx.helper.make_model(graph, opset_imports=model.opset_import)


def test_imagenet_prefers_the_npz_and_records_it(extracted):
    weights = load_vgg_weights("imagenet", npz=extracted[0])
    assert weights.source["mode"] == "imagenet" and weights.source["sha256"] == vgg_weights.NPZ_SHA256
    assert set(weights.arrays) == set(LAYERS)


def _keras_vgg_with(arrays):
    model = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    for layer in LAYERS:
        model.get_layer(layer).set_weights(list(arrays[layer]))
    return model


def test_keras_notop_h5_path_and_cache(imagenet, extracted, tmp_path, monkeypatch):
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    path = tmp_path / vgg_weights.KERAS_NOTOP
    with h5py.File(path, "w") as f:  # the legacy layout Keras's published notop file uses
        legacy_h5_format.save_weights_to_hdf5_group(f, _keras_vgg_with(imagenet))
    from_path = load_vgg_weights(str(path))
    assert from_path.source["mode"] == "path"
    for layer in LAYERS:
        np.testing.assert_array_equal(from_path.arrays[layer][0], imagenet[layer][0])
        np.testing.assert_array_equal(from_path.arrays[layer][1], imagenet[layer][1])
    # Without the npz, `imagenet` takes Keras's cached file.
    (tmp_path / "models").mkdir()
    path.rename(tmp_path / "models" / vgg_weights.KERAS_NOTOP)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    cached = load_vgg_weights("imagenet", npz=tmp_path / "missing.npz")
    assert cached.source["source"] == "Keras cache"
    np.testing.assert_array_equal(cached.arrays["block3_conv1"][0], imagenet["block3_conv1"][0])


def test_caffe_npy_path(imagenet, tmp_path):
    table = {caffe: [imagenet[layer][0], imagenet[layer][1]] for layer, caffe in vgg_weights.CAFFE_NAMES.items()}
    table["fc6"] = [np.zeros((4, 2), np.float32), np.zeros(2, np.float32)]
    path = tmp_path / "vgg16.npy"
    np.save(path, table, allow_pickle=True)
    weights = load_vgg_weights(str(path))
    for layer in LAYERS:
        np.testing.assert_array_equal(weights.arrays[layer][0], imagenet[layer][0])


def test_a_pickle_that_runs_code_is_refused(tmp_path):
    class Exploit:
        def __reduce__(self):
            return (print, ("owned",))

    path = tmp_path / "vgg16.npy"
    np.save(path, np.array({"conv1_1": Exploit()}, dtype=object), allow_pickle=True)
    with pytest.raises(VggWeightsError, match="refusing to unpickle builtins.print"):
        load_vgg_weights(str(path))


def test_random_is_explicit_and_loud(caplog):
    with caplog.at_level(logging.WARNING):
        weights = load_vgg_weights("random")
    assert weights.arrays is None and weights.source["mode"] == "random"
    assert "NOT the paper's structural loss" in caplog.text


def test_bad_paths_fail_with_a_reason(tmp_path):
    with pytest.raises(VggWeightsError, match="no such file"):
        load_vgg_weights(str(tmp_path / "nope.h5"))
    other = tmp_path / "weights.bin"
    other.write_bytes(b"x")
    with pytest.raises(VggWeightsError, match="expected a .npz"):
        load_vgg_weights(str(other))
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, **{"block1_conv1/kernel": np.zeros((3, 3, 3, 8), np.float32)})
    with pytest.raises((VggWeightsError, KeyError)):
        load_vgg_weights(str(wrong))


def test_imagenet_with_nothing_available_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))

    def offline(*args, **kwargs):  # what get_file raises on these offline machines
        raise Exception("URL fetch failure: no network")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    with pytest.raises(VggWeightsError, match="python -m model.vgg_weights extract"):
        load_vgg_weights("imagenet", npz=tmp_path / "missing.npz")
