"""Apache Beam pipelines: preprocess raw photos, bulk-inpaint with the exported model."""
