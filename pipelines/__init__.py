"""Apache Beam pipelines: preprocess raw photos, bulk-inpaint with the exported model."""
# Sets TensorFlow's CPU kernel options (model/__init__.py) before any worker imports TensorFlow.
import model  # noqa: F401
