"""Progress lines of local Beam runs."""
import io
import threading

from common.progress import Progress, line


def test_the_line_says_done_of_total_rate_and_eta():
    assert line("preprocess", "files", 1200, 4000, 10.0) == \
        "preprocess: 1,200 of 4,000 files (30%), 120.0 files/s, ETA 0m23s"
    assert line("inpaint", "images", 50, None, 2.0) == "inpaint: 50 images, 25.0 images/s"


def test_threads_share_one_count_and_lines_are_rate_limited_but_the_last_unit_prints():
    progress = Progress("test-run", "photos", total=400, every_seconds=3600)
    stream = io.StringIO()
    progress.start(stream)  # drops an earlier run's count
    threads = [threading.Thread(target=lambda: [progress.tick(stream=stream) for _ in range(100)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    printed = stream.getvalue().splitlines()
    assert len(printed) == 1 and printed[0].startswith("test-run: 400 of 400 photos (100%)")


def test_disabled_progress_prints_nothing():
    stream = io.StringIO()
    Progress("off", "files", total=1, enabled=False).tick(stream=stream)
    assert stream.getvalue() == ""


def test_start_begins_a_new_count_on_the_stream_it_names():
    progress = Progress("test-start", "files", total=2, every_seconds=3600)
    first, second = io.StringIO(), io.StringIO()
    progress.start(first)
    progress.tick()
    progress.start(second)  # a second run in the same process: the first run's count is gone
    progress.tick(2)
    assert first.getvalue() == "" and second.getvalue().startswith("test-start: 2 of 2 files (100%)")
