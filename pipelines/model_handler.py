"""A Beam `ModelHandler` for the exported inpainting SavedModel: uint8 images in, numpy out.

Beam's stock TensorFlow handler loads through `tf.keras.models.load_model`, which Keras 3 refuses
for a SavedModel directory (and it imports tensorflow_hub); this one uses `tf.saved_model.load` and
calls the `serving_default` signature. RunInference keeps its batching, its model sharing (one load
per worker process, shared by the process's threads) and its metrics.
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import KeyedModelHandler, ModelHandler, PredictionResult

from model.export import load_inpainter

NAMESPACE = "inpaint_model"
MODEL_LOADS = "model_loads"
OUTPUTS = ("inpainted", "patch")


@dataclasses.dataclass
class LoadedInpainter:
    """The loaded signature, where it runs, and whether its load has been counted yet."""

    signature: Any
    device: str
    load_counted: bool = False

    def __call__(self, images: np.ndarray) -> dict[str, np.ndarray]:
        with tf.device(self.device):
            outputs = self.signature(images=tf.constant(images, tf.uint8))
        return {name: outputs[name].numpy() for name in OUTPUTS}


def enable_memory_growth() -> None:
    """Lets TF take GPU memory as it needs it rather than all of it up front."""
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # the GPUs were already initialised in this process: nothing to change
            logging.warning("GPU memory growth not set: TensorFlow already initialised %s", gpu.name)


def inference_device() -> tuple[str, str]:
    """(TF device name, description): the first GPU if TF sees one, else the CPU."""
    gpus = tf.config.list_logical_devices("GPU")
    if not gpus:
        return "/CPU:0", "CPU (no GPU visible to TensorFlow)"
    details = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0])
    return gpus[0].name, f"GPU {details.get('device_name', gpus[0].name)}"


class InpainterModelHandler(ModelHandler[np.ndarray, PredictionResult, LoadedInpainter]):
    """uint8 (S,S,3) images -> PredictionResult(image, {"inpainted": (S,S,3), "patch": (P,P,3)})."""

    def __init__(self, model_path: str, batch_size: int = 64) -> None:
        if batch_size < 1:
            raise ValueError(f"batch size must be >= 1, got {batch_size}")
        super().__init__(min_batch_size=batch_size, max_batch_size=batch_size)
        self._model_path = model_path

    def load_model(self) -> LoadedInpainter:
        enable_memory_growth()
        device, description = inference_device()
        signature, geometry = load_inpainter(self._model_path)
        logging.info("Inpainting model %s (%dx%d input) loaded on %s", self._model_path,
                     geometry.image_size, geometry.image_size, description)
        return LoadedInpainter(signature, device)

    def run_inference(self, batch: Sequence[np.ndarray], model: LoadedInpainter,
                      inference_args: dict[str, Any] | None = None) -> Iterable[PredictionResult]:
        # Counted at first use, not in load_model: loads happen in DoFn.setup, outside any bundle,
        # where a counter update would be dropped.
        if not model.load_counted:
            model.load_counted = True
            Metrics.counter(NAMESPACE, MODEL_LOADS).inc()
        outputs = model(np.stack(batch))
        return [PredictionResult(image, {name: outputs[name][i] for name in OUTPUTS})
                for i, image in enumerate(batch)]

    def get_num_bytes(self, batch: Sequence[np.ndarray]) -> int:
        return sum(image.nbytes for image in batch)

    def get_metrics_namespace(self) -> str:
        return NAMESPACE


class KeyedInpainterModelHandler(KeyedModelHandler):
    """`InpainterModelHandler` on (key, image) pairs; the keys carry each element's context."""

    def __init__(self, model_path: str, batch_size: int = 64) -> None:
        super().__init__(InpainterModelHandler(model_path, batch_size))

    def get_num_bytes(self, batch: Sequence[tuple[Any, np.ndarray]]) -> int:
        # The stock keyed handler pickles the keys to size them; ours hold full-size originals.
        return self._unkeyed.get_num_bytes([image for _, image in batch])
