"""make demo's stage estimates and wall times."""
import time

from demo import timing as demo_timing
from demo.timing import DemoSize, expected_seconds


def test_expectations_follow_the_work_the_cores_and_the_precision():
    demo = DemoSize(photos=452, crops=16, steps=3600, batch=32)
    base = expected_seconds(demo, 2, bfloat16=True)
    assert 18 * 60 < base["train"] < 25 * 60  # near the measured demo's training time
    assert expected_seconds(DemoSize(452, 16, 7200, 32), 2, True)["train"] > 1.9 * base["train"] - 60
    assert expected_seconds(demo, 4, True)["evaluate"] < base["evaluate"]
    assert expected_seconds(demo, 2, False)["train"] > 2 * base["train"]
    mixed = expected_seconds(DemoSize(452, 16, 2400, 32, "mixed"), 2, True)
    assert mixed["train"] > base["train"]
    # Near the measured HOLES=mixed demo's evaluation time, well above the centre hole's.
    assert 8 * 60 < mixed["evaluate"] < 11 * 60 and mixed["evaluate"] > 1.5 * base["evaluate"]


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
