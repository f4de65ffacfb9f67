"""Training on a tiny record set of real photos: input, steps, resume, NaN stop, export and reload; the
same for holes anywhere (boxes, strokes and mixed masks) with the mask generator."""
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from tests.builders import build_tiny_records, tiny

from model.config import TrainConfig
from common.cpu import cpu_has_amx_bfloat16
from model.data import eval_dataset, jitter_colours, train_dataset
from model.export import main as export_main, restore_run
from model.exported import export_hole_layout, load_inpainter, read_metadata
from model.hole_layouts import HolesAnywhere
from model.inference import inpaint, inpaint_anywhere, originals
from model.run_files import resolve_config
from model.selection import improves
from model.self_ensemble import DEFAULT_SELF_ENSEMBLE
from model.train import NonFiniteLossError, Trainer, main
from model.train_options import overrides_from_args, parser as train_parser
from tfrecords.geometry import Geometry, unmask
from tfrecords.masks import HOLE, centre_mask

pytestmark = pytest.mark.slow  # trains, resumes and exports tiny runs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SMALL = Geometry(image_size=64, patch_size=32, overlap=2)


@pytest.fixture(scope="module")
def vgg_npz(imagenet_vgg_npz):
    return imagenet_vgg_npz


def weights_of(trainer: Trainer) -> list[np.ndarray]:
    return ([v.numpy() for v in trainer.generator.weights] + [v.numpy() for v in trainer.discriminator.weights]
            + [v.numpy() for v in trainer.optimizer_g.variables] + [v.numpy() for v in trainer.optimizer_d.variables])


def test_batches_flip_consistently_and_replay_from_a_position(tiny_records):
    geometry = Geometry(image_size=64, patch_size=32, overlap=2)
    stream = train_dataset(tiny_records, geometry, 4, seed=3, shuffle_buffer=16, flip=True)
    first = list(stream.take(8))  # 24 records: 6 batches an epoch, so this crosses into epoch 1
    assert [(int(b["epoch"]), int(b["batch"])) for b in first] == [(0, i) for i in range(6)] + [(1, 0), (1, 1)]
    fill = np.array(geometry.fill_rgb, np.uint8)
    unflipped = {b["masked"].numpy()[i].tobytes(): b for b in
                 train_dataset(tiny_records, geometry, 4, 3, 16, flip=False).take(6) for i in range(4)}
    flips = 0
    for batch in first[:6]:
        for masked, patch in zip(batch["masked"].numpy(), batch["patch"].numpy()):
            top, left, bottom, right = geometry.hole_box
            assert np.all(masked[top:bottom, left:right] == fill)
            original = unmask(masked, patch, geometry)
            if masked.tobytes() not in unflipped:  # flipped: its mirror image is a record
                flips += 1
                assert original[:, ::-1].copy().tobytes() != original.tobytes()
                mirrored = original[:, ::-1].copy()
                masked_again = mirrored.copy()
                masked_again[top:bottom, left:right] = fill
                assert masked_again.tobytes() in unflipped
    assert 0 < flips < 24
    resumed = list(train_dataset(tiny_records, geometry, 4, seed=3, shuffle_buffer=16, start=(0, 5)).take(2))
    for a, b in zip(resumed, first[5:7]):
        np.testing.assert_array_equal(a["masked"], b["masked"])
        np.testing.assert_array_equal(a["patch"], b["patch"])


def test_a_few_steps_lower_the_loss(tiny_records, vgg_npz, tmp_path):
    trainer = Trainer(tiny(vgg_npz, phase_steps=(16, 0), lr_g=3e-3), tiny_records, str(tmp_path / "run"))
    assert trainer.config.coarse_fill == "none"  # "auto": the paper's network for the centre hole
    batch = next(iter(train_dataset(tiny_records, trainer.geometry, 8, seed=9, shuffle_buffer=16, flip=False)))

    def structural():
        # Batch statistics: 16 steps leave BatchNorm's moving averages mostly at their initial values.
        predicted = trainer.generator(tf.cast(batch["masked"], tf.float32) / 127.5 - 1, training=True)
        return float(trainer.train_steps.structural(predicted, tf.cast(batch["patch"], tf.float32) / 127.5 - 1)["structural"])

    before = structural()
    trainer.run()
    assert int(trainer.step) == 16
    assert structural() < 0.85 * before


def test_the_harmonic_start_trains_its_correction(tiny_records, vgg_npz, tmp_path):
    # The start is already a fair fill, so a few steps on varied crops barely move the loss
    # (bench/RESULTS.md); steps on one batch show the gradient reaches every layer and cuts it.
    trainer = Trainer(tiny(vgg_npz, phase_steps=(30, 0), coarse_fill="harmonic"), tiny_records, str(tmp_path / "run"))
    batch = next(iter(train_dataset(tiny_records, trainer.geometry, 8, seed=9, shuffle_buffer=16, flip=False)))

    def structural():
        predicted = trainer.generator(tf.cast(batch["masked"], tf.float32) / 127.5 - 1, training=True)
        return float(trainer.train_steps.structural(predicted, tf.cast(batch["patch"], tf.float32) / 127.5 - 1)["structural"])

    before = structural()
    for _ in range(30):
        trainer.train_step(batch)
    assert structural() < 0.5 * before
    assert np.abs(trainer.generator.get_layer("decoder_rgb").kernel.numpy()).max() > 0


def test_resume_continues_the_step_count_and_reproduces_the_next_step(tiny_records, vgg_npz, tmp_path):
    config = tiny(vgg_npz, phase_steps=(2, 3))
    straight = Trainer(config, tiny_records, str(tmp_path / "straight"))
    straight.run(until_step=4)

    interrupted = str(tmp_path / "interrupted")
    Trainer(config, tiny_records, interrupted).run(until_step=3)  # stops as a killed run would, at a checkpoint
    resumed = Trainer(config, tiny_records, interrupted)
    summary = resumed.run(until_step=4)
    assert summary["trained_steps"] == 1 and int(resumed.step) == 4
    assert (int(resumed.data_epoch), int(resumed.data_batch)) == (int(straight.data_epoch), int(straight.data_batch))
    for a, b in zip(weights_of(straight), weights_of(resumed)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)

    # A non-finite loss stops the run and keeps the last good checkpoint.
    with pytest.raises(NonFiniteLossError, match="ckpt-4"):
        Trainer(tiny(vgg_npz, phase_steps=(2, 3), lambda_feat=float("inf")), tiny_records, interrupted).run()
    assert tf.train.latest_checkpoint(os.path.join(interrupted, "checkpoints")).endswith("ckpt-4")

    # Finishing exports; rerunning the finished run does nothing.
    final = Trainer(config, tiny_records, interrupted).run()
    assert final["step"] == 5 and final["export"] == os.path.join(interrupted, "export")
    assert read_metadata(final["export"])["step"] == 5
    again = Trainer(config, tiny_records, interrupted).run()
    assert again == {"step": 5, "trained_steps": 0, "already_finished": True}
    run = json.load(open(os.path.join(interrupted, "run.json")))
    assert run["vgg_weights"]["path"] == vgg_npz and run["geometry"]["image_size"] == 64 and run["holes"] == "center"


def test_cli_exports_and_a_fresh_process_agrees_with_the_trained_model(tiny_records, vgg_npz, tmp_path):
    model_dir = str(tmp_path / "run")
    argv = ["--data", tiny_records, "--model-dir", model_dir, "--steps", "3", "--phase-steps", "2,1",
            "--batch-size", "4", "--bottleneck", "32", "--width", "8", "--vgg-weights", vgg_npz,
            "--eval-every", "3", "--image-every", "3", "--checkpoint-every", "2"]
    assert main(argv) == 0
    assert sorted(os.listdir(model_dir)) == ["checkpoints", "config.json", "eval.jsonl", "export", "logs", "run.json"]
    eval_log = [json.loads(line) for line in open(os.path.join(model_dir, "eval.jsonl"))]
    assert eval_log[-1]["step"] == 3 and eval_log[-1]["count"] == 4 and set(eval_log[-1]["hole"]) == {
        "psnr", "ssim", "l1", "l2"}

    # The in-process generator at the last checkpoint, and images to inpaint.
    trainer = Trainer(resolve_config(model_dir, {}), tiny_records, model_dir)
    trainer.restore()
    images = next(iter(train_dataset(tiny_records, trainer.geometry, 4, 0, 16, flip=False)))["masked"]
    expected = inpaint(trainer.generator, images, trainer.geometry, DEFAULT_SELF_ENSEMBLE)["inpainted"].numpy()
    np.save(tmp_path / "images.npy", images.numpy())

    # Re-export through the export command, then load both exports in a fresh process.
    reexport = str(tmp_path / "reexport")
    assert export_main(["--model-dir", model_dir, "--output", reexport]) == 0
    # An output that cannot be written is a one-line error, and leaves nothing behind.
    (tmp_path / "a_file").write_bytes(b"")
    with pytest.raises(SystemExit, match=r"model.export: cannot write to --output .*a_file/export.*give a folder"):
        export_main(["--model-dir", model_dir, "--output", str(tmp_path / "a_file" / "export")])
    script = (
        "import sys, numpy as np, tensorflow as tf\n"
        "images = np.load(sys.argv[1])\n"
        "for path, out in ((sys.argv[2], sys.argv[3]), (sys.argv[4], sys.argv[5])):\n"
        "    model = tf.saved_model.load(path)\n"
        "    np.save(out, model.signatures['serving_default'](images=tf.constant(images))['inpainted'].numpy())\n")
    outputs = [str(tmp_path / "a.npy"), str(tmp_path / "b.npy")]
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "images.npy"),
                    os.path.join(model_dir, "export"), outputs[0], reexport, outputs[1]],
                   cwd=ROOT, check=True, capture_output=True)
    for output in outputs:
        loaded = np.load(output)
        assert loaded.shape == (4, 64, 64, 3) and loaded.dtype == np.uint8
        assert np.abs(loaded.astype(int) - expected.astype(int)).max() <= 1
    assert read_metadata(reexport)["step"] == 3 and read_metadata(reexport)["vgg_weights"]["path"] == vgg_npz
    # A centre run exports the context encoder's signatures.
    assert export_hole_layout(reexport) == "center"
    serve, _ = load_inpainter(reexport)
    assert set(serve.structured_input_signature[1]) == {"images"} and set(serve.structured_outputs) == {"inpainted", "patch"}


def test_gpu_path_runs_on_cpu_mixed_precision_xla_and_mirrored(tiny_records, vgg_npz, tmp_path):
    """The settings "auto" picks on GPUs, forced here: float16 compute, XLA, MirroredStrategy."""
    trainer = Trainer(tiny(vgg_npz, phase_steps=(0, 2), mixed_precision="on", jit_compile="on",
                           strategy="mirrored"), tiny_records, str(tmp_path / "run"))
    assert trainer.hardware.describe()["strategy"] == "MirroredStrategy"
    assert trainer.generator.get_layer("encoder_conv2").compute_dtype == "float16"
    before = [v.numpy() for v in trainer.generator.trainable_variables]
    summary = trainer.run()
    assert summary["step"] == 2
    # Dynamic loss scaling: each step either applied, or overflowed float16 and halved the scale.
    for optimizer in (trainer.optimizer_g, trainer.optimizer_d):
        skipped = np.log2(optimizer.initial_scale / float(tf.convert_to_tensor(optimizer.dynamic_scale)))
        assert optimizer.iterations.numpy() + skipped == 2
    after = [v.numpy() for v in trainer.generator.trainable_variables]
    assert all(np.all(np.isfinite(a)) for a in after)
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))
    # The export is float32 whatever the training policy.
    assert read_metadata(summary["export"])["config"]["mixed_precision"] == "on"
    served = tf.saved_model.load(summary["export"]).signatures["serving_default"](
        images=tf.zeros([1, 64, 64, 3], tf.uint8))
    assert served["inpainted"].dtype == tf.uint8


def test_bfloat16_on_cpu_trains_without_loss_scaling_and_exports_float32(tiny_records, vgg_npz, tmp_path):
    trainer = Trainer(tiny(vgg_npz, phase_steps=(1, 1), mixed_precision="bfloat16"), tiny_records,
                      str(tmp_path / "run"))
    assert trainer.generator.get_layer("encoder_conv2").compute_dtype == "bfloat16"
    assert not isinstance(trainer.optimizer_g, keras.optimizers.LossScaleOptimizer)
    summary = trainer.run()
    assert all(np.all(np.isfinite(v.numpy())) for v in trainer.generator.trainable_variables)
    served = tf.saved_model.load(summary["export"]).signatures["serving_default"](
        images=tf.zeros([1, 64, 64, 3], tf.uint8))
    assert served["inpainted"].dtype == tf.uint8
    assert json.load(open(os.path.join(tmp_path, "run", "run.json")))["hardware"]["precision"] == "mixed_bfloat16"


def test_amx_detection_reads_the_cpu_flags(tmp_path):
    (tmp_path / "amx").write_text("processor : 0\nflags : fpu sse2 avx512f amx_bf16 amx_tile\n")
    (tmp_path / "avx2").write_text("processor : 0\nflags : fpu sse2 avx2 fma\n")
    assert cpu_has_amx_bfloat16(str(tmp_path / "amx")) and not cpu_has_amx_bfloat16(str(tmp_path / "avx2"))
    assert not cpu_has_amx_bfloat16(str(tmp_path / "missing"))


def test_config_errors_are_clear(tiny_records, tmp_path):
    parser = train_parser("model.train")
    with pytest.raises(ValueError, match="disagrees"):
        overrides_from_args(parser.parse_args(["--data", "d", "--model-dir", "m", "--steps", "5",
                                               "--phase-steps", "2,2"]))
    assert overrides_from_args(parser.parse_args(["--data", "d", "--model-dir", "m", "--steps", "60"]))[
        "phase_steps"] == (60, 0)
    paper = overrides_from_args(parser.parse_args(["--data", "d", "--model-dir", "m", "--steps", "60", "--recipe",
                                                   "paper", "--batch-size", "16"]))
    assert paper["phase_steps"] == (50, 10) and paper["upsampling"] == "transpose" and paper["color_jitter"] == 0
    assert paper["batch_size"] == 16  # an explicit option beats the recipe
    assert paper["quarter_turns"] is False and paper["lr_g"] == 2e-4
    assert paper["lambda_style"] == 0.0  # the paper's structural loss has no style term, whatever "auto" picks
    assert overrides_from_args(parser.parse_args(["--data", "d", "--model-dir", "m", "--quarter-turns"]))[
        "quarter_turns"] is True
    assert overrides_from_args(parser.parse_args(["--data", "d", "--model-dir", "m", "--no-quarter-turns"]))[
        "quarter_turns"] is False
    assert "quarter_turns" not in overrides_from_args(parser.parse_args(["--data", "d", "--model-dir", "m"]))
    os.makedirs(tmp_path / "run")
    (tmp_path / "run" / "config.json").write_text(json.dumps(TrainConfig(width=8).to_dict()))
    with pytest.raises(ValueError, match="width=8"):
        resolve_config(str(tmp_path / "run"), {"width": 16})
    assert resolve_config(str(tmp_path / "run"), {"lr_g": 1e-3}).width == 8
    with pytest.raises(ValueError, match="select_by=l1"):  # its best checkpoint was ranked by L1
        resolve_config(str(tmp_path / "run"), {"select_by": "psnr"})
    # "auto" is the harmonic start for holes anywhere and the paper's fill colour for the centre hole.
    assert TrainConfig().for_layout("anywhere").coarse_fill == "harmonic"
    assert TrainConfig().for_layout("center").coarse_fill == "none"
    assert TrainConfig(coarse_fill="harmonic").for_layout("center").coarse_fill == "harmonic"
    # "auto" weighs the style term 0.25 for the centre hole and 0.15 for holes anywhere.
    assert TrainConfig().for_layout("center").lambda_style == 0.25
    assert TrainConfig().for_layout("anywhere").lambda_style == 0.15
    assert TrainConfig(lambda_style="0.5").for_layout("anywhere").lambda_style == 0.5  # as the flag gives it
    for wrong in ("-1", "heavy"):
        with pytest.raises(ValueError, match="lambda_style must be a weight >= 0 or 'auto'"):
            TrainConfig(lambda_style=wrong)
    written_before_the_style_term = TrainConfig().to_dict()
    del written_before_the_style_term["lambda_style"]
    assert TrainConfig.from_dict(written_before_the_style_term).lambda_style == 0.0  # resumes without it
    with pytest.raises(ValueError, match="coarse_fill must be one of"):
        TrainConfig(coarse_fill="telea")
    with pytest.raises(ValueError, match="fewer than one batch"):
        Trainer(TrainConfig(width=8, bottleneck=16, batch_size=64, vgg_weights="random"), tiny_records,
                str(tmp_path / "big")).run()


def test_a_capped_evaluation_takes_records_spread_over_the_eval_split(tmp_path):
    records = build_tiny_records(tmp_path, eval_crops=6, geometry=SMALL)
    every = np.concatenate([b["masked"].numpy() for b in eval_dataset(records, SMALL, 4, 1024)])
    capped = np.concatenate([b["masked"].numpy() for b in eval_dataset(records, SMALL, 4, 2)])
    assert len(every) == 6
    np.testing.assert_array_equal(capped, every[[0, 3]])


def test_colour_jitter_is_seeded_and_keeps_input_and_truth_consistent(tiny_records):
    geometry = Geometry(image_size=64, patch_size=32, overlap=2)
    plain = next(iter(train_dataset(tiny_records, geometry, 8, seed=5, shuffle_buffer=16, flip=False)))
    jittered = [next(iter(train_dataset(tiny_records, geometry, 8, seed=5, shuffle_buffer=16, flip=False,
                                        color_jitter=0.2, grayscale_fraction=0.5))) for _ in range(2)]
    np.testing.assert_array_equal(jittered[0]["masked"], jittered[1]["masked"])
    masked, patch = jittered[0]["masked"].numpy(), jittered[0]["patch"].numpy()
    assert not np.array_equal(masked, plain["masked"].numpy())
    top, left, bottom, right = geometry.hole_box
    assert np.all(masked[:, top:bottom, left:right] == np.array(geometry.fill_rgb, np.uint8))
    # The patch's overlap ring is the same context pixels as the masked image's, jittered alike.
    p_top, p_left, p_bottom, p_right = geometry.patch_box
    ring = np.ones(patch.shape[1:3], bool)
    ring[top - p_top:bottom - p_top, left - p_left:right - p_left] = False
    np.testing.assert_array_equal(masked[:, p_top:p_bottom, p_left:p_right][:, ring], patch[:, ring])
    rebuilt = originals(plain["masked"], plain["patch"], geometry)
    grey = jitter_colours(rebuilt, tf.constant([1, 2], tf.int64), 0.0, 1.0).numpy()
    assert np.all(grey[..., 0] == grey[..., 1]) and np.all(grey[..., 1] == grey[..., 2])
    assert np.array_equal(jitter_colours(rebuilt, tf.constant([1, 2], tf.int64), 0.0, 0.0).numpy(), rebuilt.numpy())


def test_export_is_the_best_checkpoint_and_resume_continues_from_the_latest(tiny_records, vgg_npz, tmp_path):
    config = tiny(vgg_npz, phase_steps=(6, 0), upsampling="resize")
    model_dir = str(tmp_path / "run")
    first = Trainer(config, tiny_records, model_dir)
    first.run(until_step=2)
    images = next(iter(train_dataset(tiny_records, first.geometry, 4, 0, 16, flip=False)))["masked"]
    at_step_2 = inpaint(first.generator, images, first.geometry)["inpainted"].numpy()
    # A hole L1 no later evaluation reaches: step 2 stays the best whatever training does next.
    assert first.best.keep_if_best({"hole": {"l1": -1.0}}, 2)
    assert not first.best.keep_if_best({"hole": {"l1": 0.0}}, 2)
    assert improves("l1", 0.10, 0.11) and not improves("l1", 0.11, 0.11) and not improves("l1", 0.12, 0.11)
    assert improves("psnr", 18.0, 17.0) and not improves("psnr", 17.0, 17.0) and not improves("psnr", 16.0, 17.0)

    resumed = Trainer(config, tiny_records, model_dir)
    assert resumed.restore() == 2  # the latest checkpoint, not the best one
    summary = resumed.run()
    assert summary["step"] == 6 and summary["trained_steps"] == 4 and summary["best"]["step"] == 2
    assert tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints")).endswith("ckpt-6")
    metadata = read_metadata(summary["export"])
    assert metadata["step"] == 2 and metadata["trained_steps"] == 6
    assert metadata["selection"]["by"] == "eval-split hole L1" and metadata["selection"]["last_step"] == 6
    assert metadata["selection"]["metric"] == "l1"
    exported = tf.saved_model.load(summary["export"]).signatures["serving_default"](images=images)["inpainted"]
    assert np.abs(exported.numpy().astype(int) - at_step_2.astype(int)).max() <= 1
    assert not np.array_equal(inpaint(resumed.generator, images, resumed.geometry)["inpainted"].numpy(), at_step_2)
    # The finished run is recognised as finished although its export is of step 2.
    assert Trainer(config, tiny_records, model_dir).run()["already_finished"]
    # --checkpoint latest exports step 6.
    latest = str(tmp_path / "latest")
    assert export_main(["--model-dir", model_dir, "--output", latest, "--checkpoint", "latest"]) == 0
    assert read_metadata(latest)["step"] == 6


def test_the_weight_average_is_evaluated_kept_and_exported_and_a_resumed_run_keeps_averaging(
        tiny_records, vgg_npz, tmp_path):
    config = tiny(vgg_npz, phase_steps=(4, 0), ema_momentum=0.5, eval_every=4)
    straight = Trainer(config, tiny_records, str(tmp_path / "straight"))
    summary = straight.run()
    averages = [a.numpy() for a in straight.average.averages]
    raw = [v.numpy() for v in straight.generator.trainable_variables]
    assert any(not np.allclose(a, r) for a, r in zip(averages, raw))

    # The evaluation logged at step 4 is the average's, and so is the export (the best, at step 4).
    eval_data = eval_dataset(tiny_records, straight.geometry, 4, 4)
    with straight.exported_weights():
        assert straight.evaluate(eval_data)["hole"] == pytest.approx(summary["eval"]["hole"])
    assert straight.evaluate(eval_data)["hole"] != pytest.approx(summary["eval"]["hole"])
    for checkpoint in ("best", "latest"):
        generator, _, metadata = restore_run(str(tmp_path / "straight"), checkpoint)
        assert metadata["step"] == 4
        for restored, average in zip(generator.trainable_variables, averages):
            np.testing.assert_allclose(restored.numpy(), average, rtol=1e-6)

    interrupted = str(tmp_path / "interrupted")
    Trainer(config, tiny_records, interrupted).run(until_step=2)
    resumed = Trainer(config, tiny_records, interrupted)
    resumed.run()
    for a, b in zip(averages, resumed.average.averages):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="ema_momentum=0.5"):
        resolve_config(interrupted, {"ema_momentum": 0.9})


def test_the_cosine_schedule_decays_each_networks_rate_over_its_updates_and_resumes_where_it_was(
        tiny_records, vgg_npz, tmp_path):
    config = tiny(vgg_npz, phase_steps=(4, 2), lr_schedule="cosine")
    model_dir = str(tmp_path / "run")
    Trainer(config, tiny_records, model_dir).run(until_step=3)
    resumed = Trainer(config, tiny_records, model_dir)
    assert resumed.restore() == 3
    # G decays over all 6 steps (3 done: half way down the cosine); D over the 2 joint steps (none yet).
    assert float(resumed.optimizer_g.learning_rate) == pytest.approx(1e-3 * (1 + np.cos(np.pi * 3 / 6)) / 2)
    assert float(resumed.optimizer_d.learning_rate) == pytest.approx(1e-4)
    resumed.run()
    assert float(resumed.optimizer_g.learning_rate) == pytest.approx(0.0, abs=1e-9)
    assert float(resumed.optimizer_d.learning_rate) == pytest.approx(0.0, abs=1e-9)


def test_progress_is_a_plain_line_at_most_every_interval_where_output_is_not_a_terminal():
    import io
    from common.progress import Progress

    stream = io.StringIO()
    progress = Progress("test-train", "steps", 5, every_seconds=3600, bar=True)
    progress.start(stream)
    for _ in range(5):
        progress.tick(values={"loss": 0.5, "img/s": 10.0, "phase": 1})
    assert "\r" not in stream.getvalue()
    [printed] = stream.getvalue().splitlines()
    assert printed.startswith("test-train: 5 of 5 steps (100%)") and printed.endswith(", loss 0.5, img/s 10, phase 1")


# --- holes anywhere ---------------------------------------------------------------------------


def boxes(rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """One to three rectangles of 8 to 24 px anywhere in a 64 px crop."""
    mask = np.zeros((64, 64), np.uint8)
    for _ in range(int(rng.integers(1, 4))):
        h, w = (int(v) for v in rng.integers(8, 25, 2))
        top, left = int(rng.integers(0, 64 - h)), int(rng.integers(0, 64 - w))
        mask[top:top + h, left:left + w] = HOLE
    return mask, "boxes"


def strokes(rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """A brush stroke: a thick polyline of three to five random segments."""
    import cv2

    mask = np.zeros((64, 64), np.uint8)
    points = rng.integers(4, 60, (int(rng.integers(4, 7)), 2)).astype(np.int32)
    cv2.polylines(mask, [points], isClosed=False, color=HOLE, thickness=int(rng.integers(4, 8)))
    return mask, "strokes"


def mixed(rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """The generated kinds in turn: centre box, boxes or strokes."""
    choice = int(rng.integers(0, 3))
    return (centre_mask(SMALL), "center") if choice == 0 else (boxes, strokes)[choice - 1](rng)


MASKS = {"boxes": boxes, "strokes": strokes, "mixed": mixed}


@pytest.fixture(scope="module")
def anywhere_records(tmp_path_factory):
    """kind -> a tiny data set of layout "anywhere" (24 train, 4 eval records at 64/32/2) whose
    holes are `kind`'s masks."""
    made: dict[str, str] = {}

    def records(kind: str) -> str:
        if kind not in made:
            made[kind] = build_tiny_records(tmp_path_factory.mktemp(f"anywhere_{kind}"), geometry=SMALL,
                                            mask_of=MASKS[kind], hole_kind=kind)
        return made[kind]

    return records


def test_anywhere_batches_flip_the_crop_and_its_mask_together_and_mask_again(anywhere_records):
    records = anywhere_records("mixed")
    fill = np.array(SMALL.fill_rgb, np.uint8)
    plain = [b for b in train_dataset(records, SMALL, 4, seed=3, shuffle_buffer=16, flip=False,
                                      holes=HolesAnywhere()).take(6)]
    pairs = {(o.tobytes(), m.tobytes()) for b in plain for o, m in zip(b["original"].numpy(), b["mask"].numpy())}
    assert len(pairs) == 24
    flips = 0
    for batch in train_dataset(records, SMALL, 4, seed=3, shuffle_buffer=16, flip=True, holes=HolesAnywhere()).take(6):
        assert set(batch) == {"masked", "mask", "original", "epoch", "batch"}
        for masked, mask, original in zip(*(batch[k].numpy() for k in ("masked", "mask", "original"))):
            hole = mask[..., 0]
            assert np.all(masked[hole] == fill) and np.array_equal(masked[~hole], original[~hole])
            if (original.tobytes(), mask.tobytes()) not in pairs:
                flips += 1
                assert (original[:, ::-1].tobytes(), mask[:, ::-1].tobytes()) in pairs
    assert 0 < flips < 24
    # Colour jitter changes the crop, never its mask, and the input is masked again after it.
    jittered = next(iter(train_dataset(records, SMALL, 4, seed=3, shuffle_buffer=16, flip=False, color_jitter=0.3,
                                       grayscale_fraction=0.5, holes=HolesAnywhere())))
    np.testing.assert_array_equal(jittered["mask"], plain[0]["mask"])
    assert not np.array_equal(jittered["original"], plain[0]["original"])
    hole = jittered["mask"].numpy()[..., 0]
    masked, original = jittered["masked"].numpy(), jittered["original"].numpy()
    assert np.all(masked[hole] == fill) and np.array_equal(masked[~hole], original[~hole])


@pytest.mark.parametrize("kind", ["boxes", "strokes", "mixed"])
def test_a_few_steps_on_holes_anywhere_lower_the_loss_and_export_the_mask_model(kind, anywhere_records, vgg_npz,
                                                                                 tmp_path):
    records = anywhere_records(kind)
    # The structural loss alone, whose fall the end checks; the style term's own test trains it.
    trainer = Trainer(tiny(vgg_npz, phase_steps=(14, 2), lr_g=3e-3, lambda_style=0.0), records, str(tmp_path / "run"))
    assert trainer.holes.name == "anywhere" and trainer.generator.name == "mask_generator"
    assert tuple(trainer.discriminator.input.shape[1:]) == (64, 64, 3)
    batch = next(iter(train_dataset(records, SMALL, 8, seed=9, shuffle_buffer=16, flip=False, holes=HolesAnywhere())))

    def structural():
        inputs = trainer.holes.network_inputs(batch)
        predicted = trainer.generator(inputs["inputs"], training=True)
        return float(trainer.train_steps.structural(predicted, inputs["truth"], inputs["mask"])["structural"])

    summary = trainer.run()  # 14 structural steps, 2 joint ones with the crop discriminator
    run = json.load(open(tmp_path / "run" / "run.json"))
    assert run["holes"] == "anywhere"
    # "auto" trained the harmonic start, and the run keeps it.
    assert json.load(open(tmp_path / "run" / "config.json"))["coarse_fill"] == "harmonic"
    with pytest.raises(ValueError, match="coarse_fill=harmonic"):
        resolve_config(str(tmp_path / "run"), {"coarse_fill": "none"})
    # The periodic evaluation scores the holes' pixels, and selects the export by their L1.
    assert set(summary["eval"]) == {"hole", "count"} and summary["eval"]["count"] == 4
    evaluations = [json.loads(line) for line in open(tmp_path / "run" / "eval.jsonl")]
    lowest = min(evaluations, key=lambda e: e["hole"]["l1"])
    assert summary["best"] == {"step": lowest["step"], "score": lowest["hole"]["l1"], "metric": "eval-split hole L1"}

    assert export_hole_layout(summary["export"]) == "anywhere"
    serve, geometry = load_inpainter(summary["export"])
    eval_batch = next(iter(eval_dataset(records, SMALL, 4, 4, holes=HolesAnywhere())))
    mask = eval_batch["mask"].numpy()[..., 0]
    originals_ = eval_batch["original"].numpy()
    served = serve(images=tf.constant(originals_), masks=tf.constant(np.where(mask, 255, 0).astype(np.uint8)))
    np.testing.assert_array_equal(served["inpainted"].numpy()[~mask], originals_[~mask])
    with trainer.exported_weights():  # the export is the weight average, served with the self-ensemble
        expected = inpaint_anywhere(trainer.generator, eval_batch["masked"], eval_batch["mask"], SMALL,
                                    DEFAULT_SELF_ENSEMBLE)["inpainted"].numpy()
    assert np.abs(served["inpainted"].numpy().astype(int) - expected.astype(int)).max() <= 1
    # The harmonic start ("auto" for holes anywhere) is a fair fill already: steps on one batch show the
    # correction learns (last: training=True moves BatchNorm's statistics). In float32 on a CPU without
    # AMX the mixed holes' loss fell to 0.78 of its start, in bfloat16 under 0.7.
    before = structural()
    for _ in range(30):
        trainer.train_step(batch)
    assert structural() < 0.85 * before


def test_the_style_term_joins_the_structural_loss_it_is_weighted_in(anywhere_records, tiny_records, vgg_npz,
                                                                     tmp_path):
    """--lambda-style adds the Gram-matrix term to the loss a step descends, for both hole layouts;
    the steps log it, and they lower it. At 0 the term is left out, VGG16's pass with it."""
    for name, records in (("centre", tiny_records), ("anywhere", anywhere_records("boxes"))):
        trainer = Trainer(tiny(vgg_npz, phase_steps=(30, 0), lr_g=3e-3, lambda_style=0.5), records,
                          str(tmp_path / name))
        batch = next(iter(train_dataset(records, trainer.geometry, 8, seed=9, shuffle_buffer=16, flip=False,
                                        holes=trainer.holes)))
        inputs = trainer.holes.network_inputs(batch)

        def values():
            predicted = trainer.generator(inputs["inputs"], training=True)
            return trainer.train_steps.structural(predicted, inputs["truth"], inputs.get("mask"))

        before = {k: float(v) for k, v in values().items()}
        assert before["structural"] == pytest.approx(before["pixel"] + before["feature"] + 0.5 * before["style"],
                                                     rel=1e-5)
        logged = [trainer.train_step(batch) for _ in range(30)]
        assert set(logged[0]) == {"pixel", "feature", "style", "structural", "generator"}
        assert float(values()["style"]) < 0.7 * before["style"]
    without = Trainer(tiny(vgg_npz, phase_steps=(1, 0), lambda_style=0.0), tiny_records, str(tmp_path / "without"))
    assert set(without.train_step(next(iter(train_dataset(tiny_records, without.geometry, 4, seed=9, shuffle_buffer=16,
                                                          flip=False))))) == {"pixel", "feature", "structural", "generator"}


def test_resuming_a_run_on_data_of_another_hole_layout_is_a_one_line_error(tiny_records, anywhere_records, vgg_npz,
                                                                         tmp_path, caplog):
    model_dir = str(tmp_path / "run")
    Trainer(tiny(vgg_npz, phase_steps=(1, 0)), tiny_records, model_dir).run()
    with pytest.raises(ValueError, match="trained on holes 'center'.*has holes 'anywhere'") as error:
        Trainer(tiny(vgg_npz, phase_steps=(1, 0)), anywhere_records("boxes"), model_dir)
    assert "\n" not in str(error.value)
    assert main(["--data", anywhere_records("boxes"), "--model-dir", model_dir, "--vgg-weights", vgg_npz]) == 1
    assert export_hole_layout(os.path.join(model_dir, "export")) == "center"


def test_quarter_turns_turn_each_crop_and_its_mask_by_one_of_four_and_mask_again(anywhere_records, tiny_records):
    records = anywhere_records("mixed")
    fill = np.array(SMALL.fill_rgb, np.uint8)
    plain = [b for b in train_dataset(records, SMALL, 4, seed=3, shuffle_buffer=16, flip=False,
                                      holes=HolesAnywhere()).take(6)]
    pairs = {(o.tobytes(), m.tobytes()) for b in plain for o, m in zip(b["original"].numpy(), b["mask"].numpy())}
    turns = []
    for batch in train_dataset(records, SMALL, 4, seed=3, shuffle_buffer=16, flip=False, holes=HolesAnywhere(),
                               quarter_turns=True).take(6):
        for masked, mask, original in zip(*(batch[k].numpy() for k in ("masked", "mask", "original"))):
            hole = mask[..., 0]
            assert np.all(masked[hole] == fill) and np.array_equal(masked[~hole], original[~hole])
            # Exactly one quarter turn back gives a record's crop with its own mask.
            back = [k for k in range(4) if (np.rot90(original, -k).tobytes(), np.rot90(mask, -k).tobytes()) in pairs]
            assert len(back) == 1
            turns += back
    assert set(turns) == {0, 1, 2, 3}
    # Centre holes: the turned crop is masked again in the centre, its truth patch turned with it.
    geometry = Geometry(image_size=64, patch_size=32, overlap=2)
    crops = {unmask(m, p, geometry).tobytes() for b in train_dataset(tiny_records, geometry, 4, 3, 16, flip=False)
             .take(6) for m, p in zip(b["masked"].numpy(), b["patch"].numpy())}
    turned = next(iter(train_dataset(tiny_records, geometry, 4, 3, 16, flip=False, quarter_turns=True)))
    top, left, bottom, right = geometry.hole_box
    for masked, patch in zip(turned["masked"].numpy(), turned["patch"].numpy()):
        assert np.all(masked[top:bottom, left:right] == fill)
        assert sum(np.rot90(unmask(masked, patch, geometry), -k).tobytes() in crops for k in range(4)) == 1
