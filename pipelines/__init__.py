"""Apache Beam pipelines: preprocess raw photos into records, bulk-inpaint photos with the exported model."""
