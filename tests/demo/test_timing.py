"""make demo's stage estimates and wall times."""
import time

import pytest

from demo import timing as demo_timing
from demo.timing import DemoSize, expected_seconds


def test_expectations_follow_the_work_the_cores_and_the_precision():
    demo = DemoSize(photos=452, crops=16, steps=1000, batch=32)
    base = expected_seconds(demo, 2, bfloat16=True)
    assert 18 * 60 < base["train"] < 25 * 60  # near the demo's training time
    # The context encoder's steps cost a fraction of the U-Net's.
    assert 18 * 60 < expected_seconds(DemoSize(452, 16, 3600, 32, generator="context-encoder"), 2, True)["train"] < 25 * 60
    assert expected_seconds(DemoSize(452, 16, 2000, 32), 2, True)["train"] > 1.9 * base["train"] - 60
    assert expected_seconds(demo, 4, True)["evaluate"] < base["evaluate"]
    assert expected_seconds(demo, 2, False)["train"] > 2 * base["train"]
    mixed = expected_seconds(DemoSize(452, 16, 1000, 32, "mixed"), 2, True)
    assert mixed["train"] > base["train"]
    # Near the measured HOLES=mixed demo's evaluation time, well above the centre hole's.
    assert 8 * 60 < mixed["evaluate"] < 11 * 60 and mixed["evaluate"] > 1.3 * base["evaluate"]


def test_plan_took_and_summary_write_and_read_one_log(tmp_path, capsys):
    raw = tmp_path / "raw"
    (raw / "a").mkdir(parents=True)
    for name in ("a/x.jpg", "y.png", "notes.txt", ".hidden.png"):
        (raw / name).write_bytes(b"")
    log = str(tmp_path / "run" / "timing.tsv")
    demo_timing.main(["plan", "--raw", str(raw), "--crops", "2", "--steps", "10", "--batch", "4", "--log", log])
    assert "2 photos" in capsys.readouterr().out
    demo_timing.main(["took", "preprocess", str(time.time() - 75), "--log", log])
    demo_timing.main(["summary", "--log", log])
    out = capsys.readouterr().out
    assert "preprocess" in out and "-> 75 s" in out and "train" not in out


def test_a_smaller_test_fraction_shortens_only_the_stages_that_read_the_test_split(tmp_path):
    demo = DemoSize(photos=840, crops=16, steps=2400, batch=32)
    full = expected_seconds(demo, 2, bfloat16=True)
    held = expected_seconds(DemoSize(840, 16, 2400, 32, test_fraction=0.045), 2, True)
    assert held["train"] == full["train"] and held["preprocess"] == full["preprocess"]
    assert held["evaluate"] - 15.0 == pytest.approx((full["evaluate"] - 15.0) * 0.45)
    # Twice the photos at 0.045 cost the evaluation what the ~450 photos did at 0.1.
    before = expected_seconds(DemoSize(452, 16, 2400, 32), 2, True)
    assert held["evaluate"] == pytest.approx(before["evaluate"], rel=0.2)
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "a.jpg").write_bytes(b"")
    log = str(tmp_path / "timing.tsv")
    demo_timing.main(["plan", "--raw", str(raw), "--crops", "1000", "--steps", "1", "--batch", "1",
                      "--test-fraction", "0.5", "--log", log])
    expected = dict(line.split("\t")[1:] for line in open(log).read().splitlines())
    planned = DemoSize(1, 1000, 1, 1, test_fraction=0.5)
    assert float(expected["evaluate"]) == pytest.approx(
        expected_seconds(planned, demo_timing.cores(), demo_timing.cpu_has_amx_bfloat16())["evaluate"], abs=0.1)
