"""What keeps the two jobs' memory flat as the data set grows (issue 26): preprocess records stream
to per-bundle spill files and no group-by takes the records themselves; the inpaint job's model
batches hold at most --photos-in-flight photos."""
import json
from pathlib import Path

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that

from model.hole_layouts import hole_layout
from pipelines import images, preprocess
from pipelines.model_handler import KeyedInpainterModelHandler
from pipelines.shard_files import SPILL_FOLDER, SpillRecords, WriteShard, read_frames, spill_folder
from pipelines.splits import SplitSpec
from tests.builders import real_photo, same_shards, save
from tfrecords import Geometry, shards
from tfrecords.writer import compress_record


def _settings(tmp_path: Path) -> preprocess.Settings:
    geometry = Geometry()
    spec = images.CropSpec(size=geometry.image_size, scale=(0.5, 1.0), mode="random", count=2,
                           min_size=geometry.image_size, max_pixels=images.MAX_IMAGE_PIXELS)
    return preprocess.Settings(input=str(tmp_path / "in"), output=str(tmp_path / "out"), geometry=geometry,
                               spec=spec, splits=SplitSpec(), shard_counts={"train": 2, "eval": 1, "test": 1})


def test_no_group_by_takes_the_records(tmp_path):
    """The records' only consumer is the spill writer; the one group-by of the shard writer groups
    the spill files' names (what went through GroupByShard before held every record at once)."""
    pipeline = beam.Pipeline()
    preprocess.build(pipeline, _settings(tmp_path))
    consumers, group_bys = {}, []

    class Visitor(beam.pipeline.PipelineVisitor):
        def visit_transform(self, node):
            for pcoll in node.inputs:
                consumers.setdefault(pcoll, []).append(node.full_label)
            if isinstance(node.transform, beam.GroupByKey):
                group_bys.append((node.full_label, node.inputs[0].producer.full_label))

    pipeline.visit(Visitor())
    records = [p for p in consumers
               if p.producer is not None and p.producer.full_label.startswith("ReadHashAndDecode") and p.tag == "records"]
    assert len(records) == 1 and consumers[records[0]] == ["WriteShards/SpillRecords"]
    assert ("WriteShards/GroupSpillsByShard", "WriteShards/SpillRecords") in group_bys
    assert not any("GroupByShard" in label for label, _ in group_bys)


def _member(record_id: str) -> bytes:
    return compress_record(record_id.encode() * 3)


def test_records_stream_to_spill_files_and_a_shard_is_made_from_them(tmp_path):
    output = str(tmp_path)
    spill = SpillRecords(output)
    spill.start_bundle()
    ids = ["r5", "r1", "r4", "r2", "r3"]
    for n, record_id in enumerate(ids):
        path = "dup.jpg" if record_id == "r4" else f"p{n}.jpg"
        assert spill.process((("train", n % 2), (record_id, path, _member(record_id)))) is None  # held by no list
    spilled = [value.value for value in spill.finish_bundle()]
    assert sorted(shard for shard, _ in spilled) == [("train", 0), ("train", 1)]
    for shard, name in spilled:
        assert name.startswith(spill_folder(output))
        with open(name, "rb") as f:
            assert [(i, m) for i, _, m in read_frames(f)] == [
                (i, _member(i)) for n, i in enumerate(ids) if n % 2 == shard[1]]

    writer = WriteShard(output, {"train": 2})
    written = {}
    for shard, name in spilled:
        (row,) = writer.process((shard, [name]), duplicates=[{"path": "dup.jpg"}])
        written[shard] = row
        assert not Path(name).exists()
    assert written[("train", 0)]["records"] == 2 and written[("train", 1)]["records"] == 2  # r4 left out
    with open(written[("train", 0)]["path"], "rb") as f:
        assert f.read() == _member("r3") + _member("r5")  # sorted by id


@pytest.mark.slow
def test_preprocess_streams_and_reruns_identically(tmp_path):
    (tmp_path / "in").mkdir()
    photo = real_photo()
    for i in range(6):
        save(photo.crop((20 * i, 10 * i, 20 * i + 300, 10 * i + 260)), tmp_path / "in" / f"p{i}.jpg", "JPEG",
             quality=90)
    first, second = tmp_path / "out", tmp_path / "again"
    for output in (first, second):
        preprocess.run(["--input", str(tmp_path / "in"), "--output", str(output), "--crops-per-image", "3",
                        "--num-shards", "2"])
        assert not (output / SPILL_FOLDER).exists()
    manifest = json.loads((first / "manifest.json").read_text())
    assert manifest["records"] == 18 and manifest["images"] == 6
    assert sum(len(shards.split_files(str(first), s)) for s in shards.SPLITS) == 6
    assert same_shards(first, second)
    assert (first / "manifest.json").read_bytes() == (second / "manifest.json").read_bytes()


def _windows(count: int) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((count, 2, 2, 3), np.uint8), np.zeros((count, 2, 2), np.uint8)


@pytest.mark.parametrize("in_flight,batch_size", [(3, 64), (5, 8), (100, 16)])
def test_photos_in_flight_bounds_what_a_batch_holds(in_flight, batch_size):
    """BatchElements with the mask handler's arguments: no batch holds more than --photos-in-flight
    photos, nor more than --batch-size windows."""
    handler = KeyedInpainterModelHandler("unused", batch_size, hole_layout("anywhere"), photos_in_flight=in_flight)
    counts = [1, 4, 2, 7, 1, 1, 3, 30, 2, 5, 1, 1, 1, 1, 6] * 3
    elements = [(f"photo{i}", _windows(k)) for i, k in enumerate(counts)]
    expected = sorted(key for key, _ in elements)

    def check(batches):
        assert sorted(key for batch in batches for key, _ in batch) == expected
        assert all(0 < len(batch) <= min(in_flight, batch_size) for batch in batches), batches
        assert all(sum(min(k, batch_size) for _, k in batch) <= batch_size for batch in batches), batches
        assert max(len(batch) for batch in batches) > 1  # still batches

    with BeamTestPipeline() as p:
        batches = (p | beam.Create(elements, reshuffle=False)
                   | beam.BatchElements(**handler.batch_elements_kwargs())
                   | beam.Map(lambda batch: [(key, len(w[0])) for key, w in batch]))
        assert_that(batches, check)


def test_photos_in_flight_bounds_a_centre_models_batch():
    handler = KeyedInpainterModelHandler("unused", 64, hole_layout("center"), photos_in_flight=4)
    kwargs = handler.batch_elements_kwargs()
    weigh, limit = kwargs["element_size_fn"], kwargs["max_batch_size"]
    assert limit // weigh(("photo", np.zeros((128, 128, 3), np.uint8))) == 4


def test_without_photos_in_flight_the_batch_is_of_windows():
    handler = KeyedInpainterModelHandler("unused", 64, hole_layout("anywhere"))
    kwargs = handler.batch_elements_kwargs()
    assert kwargs["max_batch_size"] == 64 and kwargs["element_size_fn"](("photo", _windows(5))) == 5
