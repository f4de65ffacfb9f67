"""An item's coder: pickles it whole, and estimates its size without pickling it."""
from __future__ import annotations

import pickle

import apache_beam as beam
import numpy as np
from PIL import Image

from pipelines import full_resolution, hole_windows
from pipelines.items import Item, ItemCoder, estimated_size


def _item() -> Item:
    pixels = np.random.default_rng(0).integers(0, 256, (300, 400, 3), np.uint8)
    photo = full_resolution.Photo.of(Image.fromarray(pixels))
    photo.info["inpaint/exif"] = b"x" * 1000
    mask = np.zeros((300, 400), np.uint8)
    mask[100:140, 200:260] = 255
    windows = hole_windows.plan(mask, 128)
    model_input = hole_windows.model_inputs(photo, mask, windows, 128, (117, 104, 123))
    return Item("key", "photo.jpg", model_input, photo=photo, windows=windows)


def test_the_coder_round_trips_an_item_and_is_the_one_registered_for_items():
    item, coder = _item(), beam.coders.registry.get_coder(Item)
    assert isinstance(coder, ItemCoder) and coder.to_type_hint() is Item
    back = coder.decode(coder.encode(item))
    assert np.array_equal(back.photo.pixels, item.photo.pixels) and back.photo.info == item.photo.info
    assert np.array_equal(back.model_input[0], item.model_input[0]) and back.windows[0].region == item.windows[0].region


def test_the_size_estimate_is_near_the_pickled_size():
    item = _item()
    pickled = len(pickle.dumps(item, pickle.HIGHEST_PROTOCOL))
    assert 0.9 * pickled <= estimated_size(item) <= 1.1 * pickled
    assert ItemCoder().estimate_size(item) == ItemCoder().get_impl().estimate_size(item) == estimated_size(item)
    assert estimated_size(("not", "an item")) == len(pickle.dumps(("not", "an item"), pickle.HIGHEST_PROTOCOL))
