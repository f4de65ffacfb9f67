"""The two hole layouts (docs/DESIGN.md section 4) as one object each, chosen once from the data's
manifest, a run's run.json or an export's inpainting.json and passed along; everything that differs
between them is here:

- `CentreHole` ("center"): the context encoder predicts the centre patch of a crop whose centre hole
  is painted with the fill colour; records keep the true patch.
- `HolesAnywhere` ("anywhere"): the mask generator takes the mask as a 4th input channel and predicts
  the whole crop; records keep the whole true crop and their own mask.

tfrecords/masks.py names the layouts (LAYOUTS) in the record contract; this module is the model's side.
"""
from __future__ import annotations

import abc
from typing import Any, Callable

import keras
import numpy as np
import tensorflow as tf

from model import inference
from model.metrics import inpainting_metrics, masked_metrics
from model.config import TrainConfig
from model.networks import build_generator, build_mask_generator
from model.unet import build_unet
from tfrecords.geometry import Box, Geometry
from tfrecords.masks import HOLE, LAYOUTS, centre_mask
from tfrecords.schema import parse_examples

Batch = dict[str, tf.Tensor]
Transform = Callable[[tf.Tensor], tf.Tensor]


class HoleLayout(abc.ABC):
    """What a hole layout decides: the generator, the inference path, the export's inputs, what a
    training batch holds and how the holes are scored."""

    name: str  # the layout's name in manifests, run.json and inpainting.json ("holes")
    serves_masks: bool  # whether the export takes `masks` as well as `images`
    fixed_hole: bool  # whether every record's hole is the geometry's centre box
    description: str  # what the layout's holes are, for messages
    batch_keys: tuple[str, ...]  # the keys of a training batch the train step takes
    grid_name: str  # the TensorBoard image grid's name, its columns in order
    serving_outputs: tuple[str, ...]  # what the export's signatures return (model/inference.py)

    def build_generator(self, geometry: Geometry, config: TrainConfig, dtype: Any) -> keras.Model:
        """The layout's generator network of `config.generator`: the gated U-Net (model/unet.py) or
        the context encoder (model/networks.py)."""
        if config.generator == "unet":
            return build_unet(geometry, config.width, dtype, centre_hole=self.fixed_hole)
        return self.build_context_encoder(geometry, config.bottleneck, config.width, dtype, config.upsampling,
                                          config.coarse_fill)

    @abc.abstractmethod
    def build_context_encoder(self, geometry: Geometry, bottleneck: int, width: int, dtype: Any,
                              upsampling: str, coarse_fill: str) -> keras.Model:
        """The layout's context encoder (model/networks.py)."""

    @abc.abstractmethod
    def discriminator_side(self, geometry: Geometry) -> int | None:
        """The side of the images the discriminator judges (None: the patch size)."""

    @abc.abstractmethod
    def inference_inputs(self, batch: Batch) -> tuple[tf.Tensor, ...]:
        """What `inpaint` takes of a parsed batch, after the generator."""

    @abc.abstractmethod
    def inpaint(self, generator: keras.Model, geometry: Geometry, *inputs: tf.Tensor,
                self_ensemble: str = "none") -> dict[str, tf.Tensor]:
        """The inference path (model/inference.py): `inpainted` uint8 crops and the raw prediction."""

    @abc.abstractmethod
    def truth(self, batch: Batch, geometry: Geometry) -> tf.Tensor:
        """The uint8 original crops (N,S,S,3) of a parsed batch."""

    @abc.abstractmethod
    def hole_masks(self, batch: Batch, geometry: Geometry) -> np.ndarray:
        """The holes of a parsed batch as uint8 (N,S,S) masks, HOLE inside."""

    @abc.abstractmethod
    def hole_scores(self, predicted: np.ndarray, truth: np.ndarray, mask: np.ndarray,
                    geometry: Geometry) -> dict[str, dict[str, float]]:
        """One uint8 crop's hole metrics (model/metrics.py), by region."""

    @abc.abstractmethod
    def perceptual_box(self, geometry: Geometry) -> Box:
        """The region the evaluation's VGG feature distance compares."""

    @abc.abstractmethod
    def network_inputs(self, batch: Batch) -> Batch:
        """A training batch as the generator's `inputs` and the `truth` in [-1, 1] (and its `mask`)."""

    @abc.abstractmethod
    def training_batch(self, parsed: Batch, geometry: Geometry, move: Transform, augment: Transform,
                       augmenting: bool) -> Batch:
        """A parsed training batch, augmented: `move` (flips, turns) is what a crop and its mask share,
        `augment` is `move` and the colour changes; `augmenting` whether either does anything."""

    @abc.abstractmethod
    def fresh_holes(self, parsed: Batch) -> Batch:
        """A parsed training batch whose crops take holes they were not preprocessed with (where the
        layout's holes vary), for fresh views (model/data.py)."""

    @abc.abstractmethod
    def grid_columns(self, batch: Batch, inpainted: tf.Tensor, truth: tf.Tensor) -> list[tf.Tensor]:
        """The columns of the TensorBoard image grid, uint8 (N,S,S,3) each, named by `grid_name`."""

    @abc.abstractmethod
    def serving_endpoints(self, generator: keras.Model, geometry: Geometry,
                          self_ensemble: str) -> tuple[Callable, list[tf.TensorSpec], Callable]:
        """The export's (serve_images, its input signature, serve_examples) (model/export.py)."""

    @abc.abstractmethod
    def serving_feed(self, images: np.ndarray, masks: np.ndarray) -> dict[str, tf.Tensor]:
        """The keyword arguments of the export's `serving_default` for uint8 images and masks."""


class CentreHole(HoleLayout):
    name = "center"
    serves_masks = False
    fixed_hole = True
    description = "the centre hole"
    batch_keys = ("masked", "patch")
    grid_name = "masked_inpainted_truth"
    serving_outputs = ("inpainted", "patch")

    def build_context_encoder(self, geometry, bottleneck, width, dtype, upsampling, coarse_fill):
        return build_generator(geometry, bottleneck, width, dtype=dtype, upsampling=upsampling,
                               coarse_fill=coarse_fill)

    def discriminator_side(self, geometry):
        return None

    def inference_inputs(self, batch):
        return (batch["masked"],)

    def inpaint(self, generator, geometry, images, self_ensemble="none"):
        return inference.inpaint(generator, images, geometry, self_ensemble)

    def truth(self, batch, geometry):
        return inference.originals(batch["masked"], batch["patch"], geometry)

    def hole_masks(self, batch, geometry):
        return np.broadcast_to(centre_mask(geometry), tuple(batch["masked"].shape[:3]))

    def hole_scores(self, predicted, truth, mask, geometry):
        return inpainting_metrics(predicted, truth, geometry)

    def perceptual_box(self, geometry):
        return geometry.patch_box

    def network_inputs(self, batch):
        return {"inputs": inference.to_unit_range(batch["masked"]), "truth": inference.to_unit_range(batch["patch"])}

    def training_batch(self, parsed, geometry, move, augment, augmenting):
        masked, patch = parsed["masked"], parsed["patch"]
        if augmenting:
            masked, patch = inference.mask_again(augment(inference.originals(masked, patch, geometry)), geometry)
        return {"masked": masked, "patch": patch}

    def fresh_holes(self, parsed):
        return parsed

    def grid_columns(self, batch, inpainted, truth):
        return [batch["masked"], inpainted, truth]

    def serving_endpoints(self, generator, geometry, self_ensemble):
        s = geometry.image_size

        def serve_images(images):
            return inference.inpaint(generator, images, geometry, self_ensemble)

        def serve_examples(examples):
            return inference.inpaint(generator, parse_examples(examples, geometry, with_truth=False)["masked"],
                                     geometry, self_ensemble)

        return serve_images, [tf.TensorSpec([None, s, s, 3], tf.uint8, name="images")], serve_examples

    def serving_feed(self, images, masks):
        return {"images": tf.constant(images)}


class HolesAnywhere(HoleLayout):
    name = "anywhere"
    serves_masks = True
    fixed_hole = False
    description = "holes anywhere (a mask per record)"
    batch_keys = ("masked", "mask", "original")
    grid_name = "masked_mask_inpainted_truth"
    serving_outputs = ("inpainted", "prediction")

    def build_context_encoder(self, geometry, bottleneck, width, dtype, upsampling, coarse_fill):
        return build_mask_generator(geometry, bottleneck, width, dtype=dtype, upsampling=upsampling,
                                    coarse_fill=coarse_fill)

    def discriminator_side(self, geometry):
        return geometry.image_size

    def inference_inputs(self, batch):
        return batch["masked"], batch["mask"]

    def inpaint(self, generator, geometry, images, mask, self_ensemble="none"):
        return inference.inpaint_anywhere(generator, images, mask, geometry, self_ensemble)

    def truth(self, batch, geometry):
        return batch["original"]

    def hole_masks(self, batch, geometry):
        return np.where(np.asarray(batch["mask"])[..., 0], HOLE, 0).astype(np.uint8)

    def hole_scores(self, predicted, truth, mask, geometry):
        return {"hole": masked_metrics(predicted, truth, mask)}

    def perceptual_box(self, geometry):
        s = geometry.image_size
        return (0, 0, s, s)

    def network_inputs(self, batch):
        return {"inputs": inference.mask_model_input(batch["masked"], batch["mask"]),
                "truth": inference.to_unit_range(batch["original"]), "mask": batch["mask"]}

    def training_batch(self, parsed, geometry, move, augment, augmenting):
        mask = move(parsed["mask"])
        original = augment(parsed["original"])
        return {"masked": inference.fill_holes(original, mask, geometry), "mask": mask, "original": original}

    def fresh_holes(self, parsed):
        # The batch is a shuffle of the split: the next record's mask is a random other hole, and the
        # flips and turns then drawn for it are its own.
        return {**parsed, "mask": tf.roll(parsed["mask"], 1, axis=0)}

    def grid_columns(self, batch, inpainted, truth):
        return [batch["masked"], tf.repeat(tf.cast(batch["mask"], tf.uint8) * 255, 3, axis=-1), inpainted, truth]

    def serving_endpoints(self, generator, geometry, self_ensemble):
        s = geometry.image_size

        def serve_images(images, masks):
            return inference.inpaint_anywhere(generator, images, inference.masks_from_uint8(masks), geometry,
                                              self_ensemble)

        def serve_examples(examples):
            parsed = parse_examples(examples, geometry, with_truth=False, layout=self.name)
            return inference.inpaint_anywhere(generator, parsed["masked"], parsed["mask"], geometry, self_ensemble)

        inputs = [tf.TensorSpec([None, s, s, 3], tf.uint8, name="images"),
                  tf.TensorSpec([None, s, s], tf.uint8, name="masks")]
        return serve_images, inputs, serve_examples

    def serving_feed(self, images, masks):
        return {"images": tf.constant(images), "masks": tf.constant(masks)}


def hole_layout(name: str) -> HoleLayout:
    """The layout called `name` (tfrecords/masks.py LAYOUTS); ValueError for another name."""
    for layout in (CentreHole(), HolesAnywhere()):
        if layout.name == name:
            return layout
    raise ValueError(f"hole layout {name!r} is not one of {LAYOUTS}")


def generator_layout(generator: keras.Model) -> HoleLayout:
    """The layout a generator serves: holes anywhere for the mask generator (4 input channels), else
    the centre hole."""
    return hole_layout("anywhere" if generator.input_shape[-1] == 4 else "center")
