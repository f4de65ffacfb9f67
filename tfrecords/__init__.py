"""The record format: the contract between the pipelines and the trainer.

Importing this package does not import TensorFlow; `tfrecords.schema` (the tf.data parser) does.
"""
from tfrecords.geometry import Geometry, mask_centre, paste_hole, unmask
from tfrecords.record import SCHEMA_VERSION, Record

__all__ = ["SCHEMA_VERSION", "Geometry", "Record", "mask_centre", "paste_hole", "unmask"]
