"""The inpaint job's two inference engines behind one interface, `InpaintEngine`: Items -> (each
item with the model's outputs, rejects). Both run Beam's RunInference with its dead-letter output:
a batch that fails is rejected whole, one row per member with the error (reason
`inference_failed`), and the job goes on.

- `InpaintWithKeyedHandler`: this project's handler (pipelines/model_handler.py) on the model's
  `serving_default` signature: the export's layout picks the centre-hole or the mask handler.
- `InpaintWithTfxBsl`: tfx-bsl's handler on the model's `serve_examples` signature, one serialized
  tf.Example (the record) per item, PredictionLog protos out.
"""
from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.ml.inference.base import KeyedModelHandler, RunInference

from model.hole_layouts import CentreHole, HoleLayout
from pipelines.inpaint_settings import KEYED, TFX_BSL, Settings
from pipelines.items import Item
from pipelines.model_handler import KeyedInpainterModelHandler
from pipelines.rejects import reject
from tfrecords.geometry import Geometry

INFERENCE_FAILED = "inference_failed"
# An item and what goes with it: typed, so that the item takes ItemCoder (pipelines/items.py).
WithItem = beam.typehints.Tuple[Item, beam.typehints.Any]
EXAMPLES_SIGNATURE = "serve_examples"


class InpaintEngine(beam.PTransform):
    """Items -> (outputs: (item, {output name: array}), rejects: a row per member of a failed batch).
    A subclass says which handler runs the model (`handler`), what goes into it for an item
    (`model_input`) and how its inference reads as outputs (`outputs_of`): plain functions, which
    Beam pickles without the transform."""

    def handler(self) -> Any:
        raise NotImplementedError

    def model_input(self) -> Callable[[Item], Any]:
        raise NotImplementedError

    def outputs_of(self) -> Callable[[Any], dict[str, np.ndarray]]:
        raise NotImplementedError

    def expand(self, items: beam.PCollection) -> tuple[beam.PCollection, beam.PCollection]:
        model_input, outputs_of = self.model_input(), self.outputs_of()
        results, failed = (
            items
            | "PairWithModelInput" >> beam.Map(lambda item: (item, model_input(item))).with_output_types(WithItem)
            | "RunInference" >> RunInference(self.handler()).with_exception_handling())
        # RunInference declares no output type (its DoFn's is Any): the keyed handler's results are
        # (item, inference), typed here so that they too take ItemCoder.
        results.element_type = WithItem
        outputs = results | "Outputs" >> beam.MapTuple(
            lambda item, inference: (item, outputs_of(inference))).with_output_types(WithItem)
        rejects = failed.failed_inferences | "RejectFailedBatches" >> beam.FlatMap(_failed_batch)
        return outputs, rejects


class InpaintWithKeyedHandler(InpaintEngine):
    """This project's handler (`KeyedInpainterModelHandler`) on each item's model input."""

    def __init__(self, model: str, batch_size: int, layout: HoleLayout = CentreHole(),
                 model_copies: int | None = None, photos_in_flight: int | None = None) -> None:
        super().__init__()
        self._model = model
        self._batch_size = batch_size
        self._layout = layout
        self._model_copies = model_copies
        self._photos_in_flight = photos_in_flight

    def handler(self) -> KeyedInpainterModelHandler:
        return KeyedInpainterModelHandler(self._model, self._batch_size, self._layout, self._model_copies,
                                          self._photos_in_flight)

    def model_input(self) -> Callable[[Item], Any]:
        return operator.attrgetter("model_input")

    def outputs_of(self) -> Callable[[Any], dict[str, np.ndarray]]:
        return operator.attrgetter("inference")  # a PredictionResult's


class InpaintWithTfxBsl(InpaintEngine):
    """tfx-bsl's SavedModel handler on each item's serialized record (`Item.example`)."""

    def __init__(self, model: str, batch_size: int, geometry: Geometry, layout: HoleLayout = CentreHole()) -> None:
        super().__init__()
        self._model = model
        self._batch_size = batch_size
        self._geometry = geometry
        self._names = layout.serving_outputs

    def handler(self) -> KeyedModelHandler:
        from tfx_bsl.public.beam.run_inference import CreateModelHandler
        from tfx_bsl.public.proto import model_spec_pb2

        spec = model_spec_pb2.InferenceSpecType(
            saved_model_spec=model_spec_pb2.SavedModelSpec(model_path=self._model,
                                                           signature_name=[EXAMPLES_SIGNATURE]),
            batch_parameters=model_spec_pb2.BatchParameters(min_batch_size=self._batch_size,
                                                            max_batch_size=self._batch_size))
        return _ExamplesByItem(CreateModelHandler(spec))

    def model_input(self) -> Callable[[Item], bytes]:
        return functools.partial(Item.example, geometry=self._geometry)

    def outputs_of(self) -> Callable[[Any], dict[str, np.ndarray]]:
        return functools.partial(_prediction_outputs, names=self._names)


class _ExamplesByItem(KeyedModelHandler):
    """tfx-bsl's handler on (item, serialized example) pairs. The stock keyed handler pickles the
    keys to size a batch; the examples' bytes are the measure here."""

    def get_num_bytes(self, batch: Any) -> int:
        return sum(len(example) for _, example in batch)


def engine_for(settings: Settings) -> InpaintEngine:
    """The engine --engine names, for the export's hole layout. On photos, a batch holds at most
    `photos_in_flight` of them (records carry no full-size photo: the batch size alone holds)."""
    s = settings
    in_flight = s.photos_in_flight if s.input_format == "images" else None
    if s.engine == KEYED:
        return InpaintWithKeyedHandler(s.model, s.batch_size, s.layout, s.model_copies, in_flight)
    assert s.engine == TFX_BSL, s.engine
    return InpaintWithTfxBsl(s.model, min(s.batch_size, in_flight or s.batch_size), s.geometry, s.layout)


def _prediction_outputs(log: Any, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    import tensorflow as tf

    outputs = log.predict_log.response.outputs
    return {name: tf.make_ndarray(outputs[name])[0] for name in names}


def _failed_batch(failure: tuple[list[tuple[Item, Any]], tuple]) -> list[dict[str, str]]:
    batch, (_, error, _) = failure
    detail = f"batch of {len(batch)} failed: {error}"
    return [reject(item.file, INFERENCE_FAILED, detail, stage="inference", source=item.source, item_id=item.id)
            for item, _ in batch]
