"""The record format: the contract between the pipelines and the trainer."""
from tfrecords.geometry import Geometry, mask_centre, paste_hole, unmask
from tfrecords.schema import FEATURE_SPEC, SCHEMA_VERSION, Record, parse_examples

__all__ = ["FEATURE_SPEC", "SCHEMA_VERSION", "Geometry", "Record", "mask_centre", "parse_examples",
           "paste_hole", "unmask"]
