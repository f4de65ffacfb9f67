"""The record format, trainer side: `FEATURE_SPEC` and a parser for `tf.data` and TF graphs.

Both are derived from `tfrecords.record.FEATURES`, the spec the Beam side builds records from.
"""
from __future__ import annotations

import tensorflow as tf

from tfrecords.geometry import Geometry
from tfrecords.masks import LAYOUTS
from tfrecords.record import (FEATURES, HEIGHT, HOLE_BOX, HOLE_KIND, IMAGE, KEY, MASK, PATCH, PATCH_BOX,
                              READABLE_VERSIONS, TRUTH, VERSION)

_DTYPES = {"int64": tf.int64, "bytes": tf.string}

FEATURE_SPEC: dict[str, tf.io.FixedLenFeature] = {
    name: tf.io.FixedLenFeature([] if f.length == 1 else [f.length], _DTYPES[f.kind], default_value=f.default)
    for name, f in FEATURES.items()
}


def parse_examples(serialized: tf.Tensor, geometry: Geometry, with_truth: bool = True,
                   layout: str = "center") -> dict[str, tf.Tensor]:
    """Parses a batch of serialized records in a TF graph.

    Returns uint8 `masked` (N,S,S,3), `key`, `kind` (the hole kind, string) and:
    - layout "center" (the data set's holes are the centre box; version 1 or 2 records): with
      `with_truth` the true centre `patch` (N,P,P,3), which every record must then carry;
    - layout "anywhere" (version 2 records with masks): `mask` bool (N,S,S,1), True in the hole, and
      with `with_truth` the true crop `original` (N,S,S,3).
    Records must match `geometry` (read it from the manifest or from one record); a mismatch fails
    the graph with a message naming the field.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout {layout!r} is not one of {LAYOUTS}")
    parsed = tf.io.parse_example(serialized, FEATURE_SPEC)
    s, p = geometry.image_size, geometry.patch_size
    versions = tf.constant(READABLE_VERSIONS if layout == "center" else READABLE_VERSIONS[1:], tf.int64)
    checks = [
        tf.debugging.assert_equal(tf.reduce_all(tf.reduce_any(parsed[VERSION][:, None] == versions, axis=1)), True,
                                  message=f"record schema version (layout {layout})"),
        tf.debugging.assert_equal(parsed[HEIGHT], tf.constant(s, tf.int64), message="record image size"),
        tf.debugging.assert_equal(parsed[PATCH_BOX], tf.constant([geometry.patch_box], tf.int64),
                                  message="record patch box"),
        tf.debugging.assert_equal(parsed[HOLE_BOX], tf.constant([geometry.hole_box], tf.int64),
                                  message="record hole box"),
    ]
    with tf.control_dependencies(checks):
        out = {"masked": tf.reshape(tf.io.decode_raw(parsed[IMAGE], tf.uint8), [-1, s, s, 3]),
               "key": tf.identity(parsed[KEY]), "kind": tf.identity(parsed[HOLE_KIND])}
        if layout == "anywhere":
            out["mask"] = tf.reshape(tf.io.decode_raw(parsed[MASK], tf.uint8), [-1, s, s, 1]) > 127
            if with_truth:
                out["original"] = tf.reshape(tf.io.decode_raw(parsed[TRUTH], tf.uint8), [-1, s, s, 3])
        elif with_truth:
            out["patch"] = tf.reshape(tf.io.decode_raw(parsed[PATCH], tf.uint8), [-1, p, p, 3])
    return out
