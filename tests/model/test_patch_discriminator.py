"""The spectral-normalised patch discriminator: one logit per window, every layer kept 1-Lipschitz,
and a joint phase that trains it, checkpoints its power-iteration state and resumes."""
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from model.patch_discriminator import build_patch_discriminator
from model.run_files import resolve_config
from model.train import Trainer
from tests.builders import tiny
from tfrecords.geometry import Geometry


@pytest.mark.parametrize("side, windows", [(None, 8 * 8), (128, 16 * 16)])
def test_one_float32_logit_per_window_of_the_patch_or_the_crop(side, windows):
    d = build_patch_discriminator(Geometry(), width=8, dtype="mixed_bfloat16", side=side)
    size = side or Geometry().patch_size
    logits = d(tf.random.uniform([2, size, size, 3], -1, 1), training=False)
    assert logits.shape == (2, windows) and logits.dtype == tf.float32
    assert d.get_layer("sn_conv2").compute_dtype == "bfloat16"
    with pytest.raises(ValueError, match="divisible by 8"):
        build_patch_discriminator(Geometry(), width=8, side=100)


def test_training_calls_bring_every_kernels_spectral_norm_to_one():
    keras.utils.set_random_seed(0)
    d = build_patch_discriminator(Geometry(), width=8)
    wrapped = [layer for layer in d.layers if isinstance(layer, keras.layers.SpectralNormalization)]
    assert [layer.name for layer in wrapped] == ["sn_conv1", "sn_conv2", "sn_conv3", "sn_conv4", "sn_logit"]
    for layer in wrapped:  # He/Glorot kernels start far from norm 1
        layer.layer.kernel.assign(3.0 * layer.layer.kernel)
    images = tf.random.uniform([2, 64, 64, 3], -1, 1)
    training_call = tf.function(lambda x: d(x, training=True))
    # One power iteration a call: where a kernel's two largest singular values are close it takes many
    # (30 calls left some kernels at 1.03).
    for _ in range(200):
        training_call(images)
    for layer in wrapped:
        kernel = layer.layer.kernel.numpy()
        largest = np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]
        assert largest == pytest.approx(1.0, abs=0.01), layer.name


def test_a_joint_phase_with_the_patch_discriminator_trains_it_and_resumes(tiny_records, imagenet_vgg_npz, tmp_path):
    model_dir = str(tmp_path / "run")
    trainer = Trainer(tiny(imagenet_vgg_npz, generator="unet", discriminator="patch", phase_steps=(1, 2), lr_d=1e-3), tiny_records, model_dir)
    assert trainer.discriminator.name == "patch_discriminator"
    before = [v.numpy().copy() for v in trainer.discriminator.weights]
    summary = trainer.run()
    after = trainer.discriminator.weights
    assert all(not np.array_equal(b, a.numpy()) for b, a in zip(before, after))  # kernels, biases and u vectors
    logged = json.load(open(f"{model_dir}/config.json"))
    assert logged["discriminator"] == "patch" and summary["step"] == 3
    # A resumed run restores the discriminator, the power iteration's vectors included.
    resumed = Trainer(tiny(imagenet_vgg_npz, generator="unet", discriminator="patch", phase_steps=(1, 3), lr_d=1e-3), tiny_records, model_dir)
    assert resumed.restore() == 3
    for saved, restored in zip(after, resumed.discriminator.weights):
        np.testing.assert_array_equal(saved.numpy(), restored.numpy())
    # The run's checkpoints hold a patch discriminator: resuming it with the other one is refused.
    with pytest.raises(ValueError, match="discriminator=patch"):
        resolve_config(model_dir, {"discriminator": "dcgan"})
