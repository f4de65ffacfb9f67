"""The record format, trainer side: `FEATURE_SPEC` and a parser for `tf.data` and TF graphs.

Both are derived from `tfrecords.record.FEATURES`, the spec the Beam side builds records from.
"""
from __future__ import annotations

import tensorflow as tf

from tfrecords.geometry import Geometry
from tfrecords.record import (FEATURES, HEIGHT, HOLE_BOX, IMAGE, KEY, PATCH, PATCH_BOX, SCHEMA_VERSION,
                              VERSION)

_DTYPES = {"int64": tf.int64, "bytes": tf.string}

FEATURE_SPEC: dict[str, tf.io.FixedLenFeature] = {
    name: tf.io.FixedLenFeature([] if f.length == 1 else [f.length], _DTYPES[f.kind], default_value=f.default)
    for name, f in FEATURES.items()
}


def parse_examples(serialized: tf.Tensor, geometry: Geometry, with_truth: bool = True) -> dict[str, tf.Tensor]:
    """Parses a batch of serialized records in a TF graph.

    Returns uint8 `masked` (N,S,S,3), `key`, and with `with_truth` the true centre `patch`
    (N,P,P,3), which every record must then carry. Records must match `geometry` (read it from the
    manifest or from one record); a mismatch fails the graph with a message naming the field.
    """
    parsed = tf.io.parse_example(serialized, FEATURE_SPEC)
    s, p = geometry.image_size, geometry.patch_size
    checks = [
        tf.debugging.assert_equal(parsed[VERSION], tf.constant(SCHEMA_VERSION, tf.int64),
                                  message="record schema version"),
        tf.debugging.assert_equal(parsed[HEIGHT], tf.constant(s, tf.int64), message="record image size"),
        tf.debugging.assert_equal(parsed[PATCH_BOX], tf.constant([geometry.patch_box], tf.int64),
                                  message="record patch box"),
        tf.debugging.assert_equal(parsed[HOLE_BOX], tf.constant([geometry.hole_box], tf.int64),
                                  message="record hole box"),
    ]
    with tf.control_dependencies(checks):
        out = {"masked": tf.reshape(tf.io.decode_raw(parsed[IMAGE], tf.uint8), [-1, s, s, 3]),
               "key": tf.identity(parsed[KEY])}
        if with_truth:
            out["patch"] = tf.reshape(tf.io.decode_raw(parsed[PATCH], tf.uint8), [-1, p, p, 3])
    return out
