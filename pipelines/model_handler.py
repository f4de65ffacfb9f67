"""Beam `ModelHandler`s for the exported inpainting SavedModels: uint8 images (and masks) in, numpy out.

Beam's stock TensorFlow handler loads through `tf.keras.models.load_model`, which Keras 3 refuses
for a SavedModel directory (and it imports tensorflow_hub); these use `tf.saved_model.load` and
call the `serving_default` signature. RunInference keeps its batching, its model sharing (one load
per worker process, shared by the process's threads; or `model_copies` per machine, shared by its
processes) and its metrics.

The centre-hole export takes one image per element. The mask export takes one window, or a stack of
a photo's K windows, per element (images and masks): a batch weighs its windows, and the handler
calls the model on `batch_size` windows at a time across the batch's elements and splits the
outputs back, so a photo with many holes needs no grouping of its windows downstream.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import threading
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf
from apache_beam.metrics import Metrics
from apache_beam.ml.inference import base as run_inference
from apache_beam.ml.inference.base import KeyedModelHandler, ModelHandler, PredictionResult

from model.exported import load_inpainter
from model.hole_layouts import CentreHole, HoleLayout

# Beam 2.77 imports `resource` in the same `try` as its torch-only ModelManager, so without torch
# RunInference has no `resource`: it warns "Resource module is not available for current platform"
# at every model load and reports the loaded model's memory as 0. POSIX systems have the module.
if getattr(run_inference, "resource", False) is None:
    with contextlib.suppress(ImportError):
        import resource

        run_inference.resource = resource

NAMESPACE = "inpaint_model"
MODEL_LOADS = "model_loads"
# One mask-model element: (images (S,S,3), masks (S,S)) for a window, (K,S,S,3), (K,S,S) for K.
Windows = tuple[np.ndarray, np.ndarray]


@dataclasses.dataclass
class LoadedInpainter:
    """The loaded signature, where it runs, and whether its load has been counted yet.

    The process's worker threads share it and take turns: TensorFlow already spreads one batch over
    every core (or queues it on the one device), and two batches at once only contend for them
    (bench.inpaint on 2 cores: 5% faster with turns)."""

    signature: Any
    device: str
    load_counted: bool = False
    turn: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def __call__(self, images: np.ndarray, masks: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """The signature's outputs for a batch of images (and their masks, for a mask model)."""
        inputs = {"images": tf.constant(images, tf.uint8)}
        if masks is not None:
            inputs["masks"] = tf.constant(masks, tf.uint8)
        with self.turn, tf.device(self.device):
            outputs = self.signature(**inputs)
            return {name: value.numpy() for name, value in outputs.items()}

    def first_use(self) -> bool:
        """True at the first call only. Loads are counted at their first use, not in load_model:
        they happen in DoFn.setup (or in the process that holds a shared copy), outside any bundle,
        where a counter update would be dropped."""
        with self.turn:
            first, self.load_counted = not self.load_counted, True
        return first


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


def _count_load(model: LoadedInpainter) -> None:
    if model.first_use():
        Metrics.counter(NAMESPACE, MODEL_LOADS).inc()


class InpainterModelHandler(ModelHandler[np.ndarray, PredictionResult, LoadedInpainter]):
    """uint8 (S,S,3) images -> PredictionResult(image, {"inpainted": (S,S,3), "patch": (P,P,3)}).

    By default each SDK process loads the model once for its threads. With `model_copies`, a
    machine holds that many copies in processes of their own, which every SDK process on it calls
    (RunInference's model sharing): one SDK process per vCPU without a model in each."""

    def __init__(self, model_path: str, batch_size: int = 64, model_copies: int | None = None) -> None:
        if batch_size < 1:
            raise ValueError(f"batch size must be >= 1, got {batch_size}")
        if model_copies is not None and model_copies < 1:
            raise ValueError(f"model copies must be >= 1, got {model_copies}")
        super().__init__(min_batch_size=batch_size, max_batch_size=batch_size, model_copies=model_copies)
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
        _count_load(model)
        outputs = model(np.stack(batch))
        return [PredictionResult(image, {name: value[i] for name, value in outputs.items()})
                for i, image in enumerate(batch)]

    def get_num_bytes(self, batch: Sequence[np.ndarray]) -> int:
        return sum(image.nbytes for image in batch)

    def get_metrics_namespace(self) -> str:
        return NAMESPACE


class MaskInpainterModelHandler(InpainterModelHandler):
    """`Windows` -> PredictionResult(windows, {"inpainted", "prediction"}), each uint8 of the
    element's images' shape: the mask export, called on `batch_size` windows at a time."""

    def __init__(self, model_path: str, batch_size: int = 64, model_copies: int | None = None) -> None:
        super().__init__(model_path, batch_size, model_copies)
        self._batch_size = batch_size

    def run_inference(self, batch: Sequence[Windows], model: LoadedInpainter,
                      inference_args: dict[str, Any] | None = None) -> Iterable[PredictionResult]:
        _count_load(model)
        stacks = [_stacked(windows) for windows in batch]
        images = np.concatenate([images for images, _ in stacks])
        masks = np.concatenate([masks for _, masks in stacks])
        n = self._batch_size
        calls = [model(images[i:i + n], masks[i:i + n]) for i in range(0, len(images), n)]
        outputs = {name: np.concatenate([call[name] for call in calls]) for name in calls[0]}
        results, start = [], 0
        for windows, (stack, _) in zip(batch, stacks):
            one = windows[0].ndim == 3
            results.append(PredictionResult(windows, {
                name: value[start] if one else value[start:start + len(stack)] for name, value in outputs.items()}))
            start += len(stack)
        return results

    def get_num_bytes(self, batch: Sequence[Windows]) -> int:
        return sum(images.nbytes + masks.nbytes for images, masks in batch)


def window_count(windows: Windows) -> int:
    """How many windows a mask-model element holds."""
    return len(_stacked(windows)[0])


def _stacked(windows: Windows) -> Windows:
    """The element as a stack of windows: one window is a stack of one."""
    images, masks = windows
    return (images[None], masks[None]) if images.ndim == 3 else windows


class KeyedInpainterModelHandler(KeyedModelHandler):
    """The layout's handler on (key, input) pairs; the keys carry each element's context. A batch of
    mask-model elements weighs their windows (an element of more than `batch_size` weighs
    `batch_size`: BatchElements would emit an empty batch before it).

    With `photos_in_flight` P (photos, whose full-size pixels ride in the keys), a batch also holds
    at most P elements: each weighs max(windows x P, batch_size) against a limit of batch_size x P,
    so at most P elements and at most batch_size windows go in. The step then holds at most P photos
    in its batch (and the one that closes it), whatever the batch size."""

    def __init__(self, model_path: str, batch_size: int = 64, layout: HoleLayout = CentreHole(),
                 model_copies: int | None = None, photos_in_flight: int | None = None) -> None:
        if photos_in_flight is not None and photos_in_flight < 1:
            raise ValueError(f"photos in flight must be >= 1, got {photos_in_flight}")
        handler = MaskInpainterModelHandler if layout.serves_masks else InpainterModelHandler
        super().__init__(handler(model_path, batch_size, model_copies))
        self._batch_size = batch_size
        self._photos_in_flight = photos_in_flight
        self._weigh = None
        if photos_in_flight is not None:
            self._weigh = functools.partial(_weight_in_flight, limit=batch_size, photos=photos_in_flight,
                                            windows=window_count if layout.serves_masks else _one)
        elif layout.serves_masks:
            self._weigh = functools.partial(_keyed_windows_weight, limit=batch_size)

    def batch_elements_kwargs(self) -> dict[str, Any]:
        kwargs = dict(super().batch_elements_kwargs())
        if self._weigh is not None:
            kwargs["element_size_fn"] = self._weigh
        if self._photos_in_flight is not None:
            kwargs["min_batch_size"] = kwargs["max_batch_size"] = self._batch_size * self._photos_in_flight
        return kwargs

    def get_num_bytes(self, batch: Sequence[tuple[Any, Any]]) -> int:
        # The stock keyed handler pickles the keys to size them; ours hold full-size originals.
        return self._unkeyed.get_num_bytes([value for _, value in batch])


def _keyed_windows_weight(element: tuple[Any, Windows], limit: int) -> int:
    return min(window_count(element[1]), limit)


def _one(_: Any) -> int:
    return 1


def _weight_in_flight(element: tuple[Any, Any], limit: int, photos: int, windows: Any) -> int:
    """An element's weight against a limit of `limit` x `photos`: at least `limit` (so at most
    `photos` elements fit) and its windows x `photos` (so at most `limit` windows fit)."""
    return max(min(windows(element[1]), limit) * photos, limit)
