"""The generator's weight average against its raw weights, side by side in one training run.

    python -m bench.weight_average [--data data/tfrecords] [--seeds 0,1] [--steps 2400] [--momentum 0.99]
        [--batch-size 32 --bottleneck 1000 --width 32]

Trains the demo's network once per seed with the weight average on (model/averaging.py) and, at
every periodic evaluation, scores both the average and the raw weights the optimizer holds at that
step, on the same eval-split crops: the same data, the same steps, the same training trajectory.
Prints per seed the best and the last evaluation of each and their difference (hole PSNR, L1, SSIM),
then the mean over seeds. The run's own selection and export follow the average, as in the trainer
(its eval.jsonl holds both rows of each evaluation: the average's first).
"""
from __future__ import annotations

from common import startup

startup.configure(command=__name__ == "__main__")  # before TensorFlow is imported

import argparse
import contextlib
import json
import os
import statistics
import tempfile

import tensorflow as tf

from model.config import TrainConfig
from model.train import Trainer

METRICS = ("psnr", "l1", "ssim")


class SideBySideTrainer(Trainer):
    """A trainer whose evaluations score the raw weights too, beside the average it keeps and exports."""

    rows: list[dict]

    @contextlib.contextmanager
    def exported_weights(self):
        self._raw = [tf.identity(v) for v in self.generator.trainable_variables]
        with super().exported_weights():
            yield

    def evaluate(self, eval_data, writer=None, step=None):
        averaged = super().evaluate(eval_data, writer, step)  # inside exported_weights: the average
        variables = self.generator.trainable_variables
        average = [tf.identity(v) for v in variables]
        for variable, raw in zip(variables, self._raw):
            variable.assign(raw)
        raw = super().evaluate(eval_data, None, step)
        for variable, value in zip(variables, average):
            variable.assign(value)
        self.rows.append({"step": int(self.step), "raw": raw["hole"], "average": averaged["hole"]})
        return averaged


def summarize(rows: list[dict]) -> dict[str, dict[str, float]]:
    """{variant: best and last hole metrics} of one run's evaluations; best by PSNR."""
    out = {}
    for variant in ("raw", "average"):
        best = max(rows, key=lambda r: r[variant]["psnr"])
        out[variant] = {"best_step": best["step"], **{f"best_{m}": best[variant][m] for m in METRICS},
                        **{f"last_{m}": rows[-1][variant][m] for m in METRICS}}
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.weight_average", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="data/tfrecords")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--steps", type=int, default=2400)
    parser.add_argument("--momentum", type=float, default=TrainConfig.ema_momentum)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--bottleneck", type=int, default=1000)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--keep", default=None, help="keep the runs under this folder (default: a temporary one)")
    args = parser.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or tmp
        for seed in (int(s) for s in args.seeds.split(",")):
            config = TrainConfig(batch_size=args.batch_size, bottleneck=args.bottleneck, width=args.width, seed=seed,
                                 phase_steps=(args.steps, 0), ema_momentum=args.momentum)
            trainer = SideBySideTrainer(config, args.data, os.path.join(root, f"seed{seed}"))
            trainer.rows = []
            trainer.run()
            results[seed] = summarize(trainer.rows)
            with open(os.path.join(root, f"seed{seed}.jsonl"), "w") as f:
                f.writelines(json.dumps(row) + "\n" for row in trainer.rows)
            _print_seed(seed, results[seed])
    _print_means(results)


def _line(name: str, r: dict[str, float], when: str) -> str:
    return (f"{name:8s} {when:4s} {r[f'{when}_psnr']:6.2f} dB  L1 {100 * r[f'{when}_l1']:5.2f}%  "
            f"SSIM {r[f'{when}_ssim']:.3f}")


def _print_seed(seed: int, result: dict[str, dict[str, float]]) -> None:
    print(f"seed {seed}: eval-split hole metrics, best evaluation (by PSNR) and last")
    for name in ("raw", "average"):
        r = result[name]
        print(f"  {_line(name, r, 'best')} (step {r['best_step']});  {_line('', r, 'last').strip()}")
    for when in ("best", "last"):
        d = {m: result["average"][f"{when}_{m}"] - result["raw"][f"{when}_{m}"] for m in METRICS}
        print(f"  average - raw, {when}: {d['psnr']:+.2f} dB, L1 {100 * d['l1']:+.2f} points, SSIM {d['ssim']:+.3f}")


def _print_means(results: dict[int, dict[str, dict[str, float]]]) -> None:
    for when in ("best", "last"):
        d = {m: statistics.mean(r["average"][f"{when}_{m}"] - r["raw"][f"{when}_{m}"] for r in results.values())
             for m in METRICS}
        print(f"mean over seeds {sorted(results)}, average - raw, {when}: {d['psnr']:+.2f} dB, "
              f"L1 {100 * d['l1']:+.2f} points, SSIM {d['ssim']:+.3f}")


if __name__ == "__main__":
    main()
