"""Scale: both Beam jobs on N phone-size photos, their time, rate and peak memory against N.

    python -m bench.scale [--sizes 250,4000] [--corpus DIR] [--bad] [--model EXPORT] [--photos-in-flight 16]
        [--stages preprocess,inpaint] [--floor-photos 60]

The corpus (bench/scale_corpus.py): N distinct 2400x1800 JPEGs made from the project's photos, each
with a mask file of a few boxes and strokes under a mirrored masks folder; made once into --corpus
(default: a temporary folder), never committed. With --bad, broken files are scattered through it
(truncated JPEGs, zero-byte files, masks of the wrong size, decompression bombs), and each run is
checked to end with every good photo done and every bad one a reject (in preprocess the zero-byte
files, all the same bytes, are one reject and its duplicates).

Each size runs, as subprocesses on the local runner (FnApiRunner, in_memory, one worker per core):
- preprocess: 16 random crops a photo, centre holes;
- inpaint: every photo at full size with its mask (`--masks`), PNG out, through a tiny untrained
  mask export (bench.inpaint's generator at --width/--bottleneck; speed does not depend on the
  weights) unless --model gives one.
For each: wall time, photos/s, the peak memory of the command's whole process tree (RSS summed over
the process and its descendants, sampled from /proc every 0.2 s) and its CPU seconds per photo, also net of
the fixed cost (start-up, model load) that a run on --fixed-photos photos measures.

The floor: the same per-photo work as a bare loop in this process, one core: for preprocess the
decode, crops, records and gzip members (bench.preprocess's loop), for inpaint the full-size decode
of photo and mask and the PNG encode of the result (pipelines/png.py, the writer's encoder), no
model (bench/scale_split.py, with malloc keeping the memory it frees: see there). "x floor" is the
pipeline's net CPU per photo over the loop's: what the job costs beyond that work (the model,
Beam's coders and bookkeeping; start-up is netted out).
For inpaint, bench.scale_split also makes the job's per-photo calls directly on the same photos,
taking turns with the floor's loop, each part timed (read, decode, EXIF/ICC, mask, windows, model,
paste-back, encode, write, ...): the model's CPU a photo from there gives "x floor w/o model" (what
a GPU worker's CPU does), and the pipeline's net CPU less the direct parts is Beam's share, printed
as a table for each N.
"""
from __future__ import annotations

from common import startup

startup.configure(command=__name__ == "__main__")  # before TensorFlow is imported

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench import scale_corpus, scale_split

PAGE = os.sysconf("SC_PAGE_SIZE")
CROPS = 16


def tree_rss(root: int) -> int:
    """Bytes resident in process `root` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/statm") as f:
                resident = int(f.read().split()[1]) * PAGE
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
        rss[int(entry)] = resident
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


def measured(command: list[str], log: Path) -> tuple[float, int, float]:
    """Runs `command`; (wall seconds, peak RSS of its process tree in bytes, CPU seconds of the
    tree). Fails with the command's log if it fails."""
    start = time.perf_counter()
    with open(log, "w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    peak, done = 0, threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.2):
            peak = max(peak, tree_rss(process.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    done.set()
    sampler.join()
    wall = time.perf_counter() - start
    if process.returncode:
        sys.exit(f"{' '.join(command)} failed ({process.returncode}):\n{log.read_text()[-4000:]}")
    return wall, peak, usage.ru_utime + usage.ru_stime


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def preprocess_floor(photos: list[Path], output: Path) -> float:
    """CPU seconds per photo of bench.preprocess's loop (decode, 16 crops, records, gzip members)."""
    from bench.preprocess import loop
    from pipelines import images
    from tfrecords import Geometry

    geometry = Geometry()
    spec = images.CropSpec(size=geometry.image_size, scale=(0.5, 1.0), mode="random", count=CROPS,
                           min_size=geometry.image_size, max_pixels=images.MAX_IMAGE_PIXELS)
    output.mkdir(parents=True, exist_ok=True)
    start = cpu_seconds()
    loop(photos, output, geometry, spec)
    return (cpu_seconds() - start) / len(photos)


def check_preprocess(manifest: dict, count: int, planted: dict[str, int]) -> str:
    bad = sum(v for k, v in planted.items() if k != scale_corpus.MASK_WRONG_SIZE)
    m = manifest
    # Zero-byte files are all the same bytes: one is the reject, the others its duplicates.
    ok = (m["files_matched"] == count == m["images"] + m["duplicates"] + m["rejects"]
          and m["rejects"] + m["duplicates"] == bad
          and m["duplicates"] == max(planted.get(scale_corpus.ZERO_BYTES, 0) - 1, 0)
          and m["records"] == m["images"] * CROPS)
    line = (f"files {m['files_matched']} = images {m['images']} + duplicates {m['duplicates']} + rejects "
            f"{m['rejects']} {m['rejects_by_reason']}")
    if not ok:
        sys.exit(f"preprocess accounting off ({bad} bad files planted): {line}")
    return line


def check_inpaint(summary: dict, count: int, planted: dict[str, int]) -> str:
    bad = sum(planted.values())
    skipped = summary.get("skipped", 0)
    ok = (summary["inputs"] == count == summary["inpainted"] + skipped + summary["rejects"]
          and summary["rejects"] == bad)
    line = (f"inputs {summary['inputs']} = done {summary['inpainted']} + skipped {skipped} + rejects "
            f"{summary['rejects']} {summary['rejects_by_reason']}")
    if not ok:
        sys.exit(f"inpaint accounting off ({bad} bad files planted): {line}")
    return line


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="250,4000", help="comma-separated corpus sizes N")
    parser.add_argument("--corpus", default="", help="folder for the corpus (kept, reused); default: a temporary one")
    parser.add_argument("--bad", action="store_true", help="scatter broken files through the corpus")
    parser.add_argument("--stages", default="preprocess,inpaint")
    parser.add_argument("--model", default="", help="a mask model's export (default: a tiny untrained one)")
    parser.add_argument("--width", type=int, default=16, help="the tiny export's generator width")
    parser.add_argument("--bottleneck", type=int, default=256, help="the tiny export's bottleneck")
    parser.add_argument("--photos-in-flight", type=int, default=16)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--floor-photos", type=int, default=60, help="photos the floor loops time")
    parser.add_argument("--fixed-photos", type=int, default=8,
                        help="a run on this many photos gives each job's fixed cost (start-up, model load)")
    args = parser.parse_args(argv)
    sizes = [int(n) for n in args.sizes.split(",")]
    stages = args.stages.split(",")
    temporary = tempfile.TemporaryDirectory(prefix="bench-scale-") if not args.corpus else None
    root = Path(args.corpus or temporary.name)
    work = Path(tempfile.mkdtemp(prefix="bench-scale-out-"))
    start = time.perf_counter()
    scale_corpus.make_all(root, max(sizes), args.workers)
    print(f"corpus: {max(sizes)} photos of {scale_corpus.WIDTH}x{scale_corpus.HEIGHT} under {root} "
          f"({time.perf_counter() - start:.0f}s)", flush=True)
    model = Path(args.model) if args.model else scale_corpus.make_export(root, args.width, args.bottleneck)
    floor_photos = sorted((root / "all" / "photos").glob("*.jpg"))[:args.floor_photos]
    floors = {"preprocess": preprocess_floor(floor_photos, work / "floor")} if "preprocess" in stages else {}
    split = None
    if "inpaint" in stages:
        split = scale_split.measure(floor_photos, root / "all" / "masks", str(model), in_flight=args.photos_in_flight)
        floors["inpaint"] = sum(split[0].values())
    print("floor (one core, CPU s/photo): " + ", ".join(f"{k} {v:.3f}" for k, v in floors.items()), flush=True)
    if split is not None:
        print(f"inpaint's parts, done directly on the same photos ({split[2]:.2f} windows a photo), CPU ms a photo:\n"
              f"{scale_split.table(split[0], split[1])}\n{scale_split.ratios(split[0], split[1])}", flush=True)
    beam = ["--runner", "FnApiRunner", "--direct_running_mode", "in_memory", "--direct_num_workers",
            str(args.workers)]
    rows, fixed = [], {}
    for n in [args.fixed_photos, *sizes]:
        photos, masks, planted = scale_corpus.subset(root, n, args.bad and n != args.fixed_photos)
        for stage in stages:
            out = work / f"{stage}-{n}"
            if stage == "preprocess":
                command = [sys.executable, "-m", "pipelines.preprocess", "--input", str(photos), "--output", str(out),
                           "--crops-per-image", str(CROPS), *beam]
            else:
                command = [sys.executable, "-m", "pipelines.inpaint", "--model", str(model), "--input", str(photos),
                           "--masks", str(masks), "--output", str(out), "--photos-in-flight",
                           str(args.photos_in_flight), *beam]
            wall, peak, cpu = measured(command, work / f"{stage}-{n}.log")
            if n == args.fixed_photos:
                fixed[stage] = cpu
                print(f"fixed cost, {stage} on {n} photos: {wall:.1f}s, {cpu:.1f} CPU s, peak {peak / 2**30:.2f} GiB",
                      flush=True)
                continue
            if stage == "preprocess":
                check = check_preprocess(json.loads((out / "manifest.json").read_text()), n, planted)
            else:
                check = check_inpaint(json.loads((out / "summary.json").read_text()), n, planted)
            steady = (cpu - fixed[stage]) / (n - args.fixed_photos)
            model_share = split[1]["model"] if stage == "inpaint" else 0.0
            rows.append((n, stage, wall, n / wall, peak, cpu / n, steady, steady / floors[stage],
                         (steady - model_share) / floors[stage]))
            print(f"N={n} {stage}: {wall:.1f}s, {n / wall:.1f} photos/s, peak {peak / 2**30:.2f} GiB, "
                  f"{cpu / n:.3f} CPU s/photo, {steady:.3f} net of the fixed cost ({steady / floors[stage]:.2f}x "
                  f"floor); {check}", flush=True)
            if stage == "inpaint":
                print(f"N={n} inpaint, CPU ms a photo by part (the pipeline's net CPU; Beam's share is the rest):\n"
                      f"{scale_split.table(split[0], split[1], steady)}\n"
                      f"{scale_split.ratios(split[0], split[1], steady)}", flush=True)
    print(f"\n{'N':>6} {'stage':<11} {'time s':>8} {'photos/s':>9} {'peak GiB':>9} {'CPU s/photo':>12} "
          f"{'net':>6} {'x floor':>8} {'w/o model':>10}")
    for n, stage, wall, rate, peak, per_photo, steady, ratio, without_model in rows:
        print(f"{n:>6} {stage:<11} {wall:>8.1f} {rate:>9.1f} {peak / 2**30:>9.2f} {per_photo:>12.3f} {steady:>6.3f} "
              f"{ratio:>8.2f} {without_model:>10.2f}")
    for stage in stages:
        mine = [r for r in rows if r[1] == stage]
        if len(mine) > 1:
            (n0, _, _, _, p0, *_), (n1, _, _, _, p1, *_) = mine[0], mine[-1]
            print(f"{stage}: peak memory at N={n1} is {p1 / p0:.2f}x that at N={n0}; time per photo "
                  f"{mine[-1][2] / n1 / (mine[0][2] / n0):.2f}x")
    print(f"(outputs under {work}; floors and the direct calls over {len(floor_photos)} photos)")


if __name__ == "__main__":
    main()
