"""The harmonic fill the generators start from: exact context, smooth holes, any batch."""
import numpy as np
import tensorflow as tf

from model.harmonic_fill import harmonic_fill


def _hole(n: int, side: int, boxes) -> np.ndarray:
    hole = np.zeros((n, side, side, 1), np.float32)
    for top, left, bottom, right in boxes:
        hole[:, top:bottom, left:right] = 1.0
    return hole


def test_the_context_comes_back_exactly_and_a_flat_context_fills_flat():
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (3, 64, 64, 3)).astype(np.float32)
    hole = _hole(3, 64, [(10, 20, 40, 50), (50, 2, 60, 30)])
    filled = harmonic_fill(images, hole).numpy()
    context = hole[..., 0] == 0
    np.testing.assert_array_equal(filled[context], images[context])
    flat = np.broadcast_to(np.array([0.25, -0.5, 0.75], np.float32), images.shape)
    np.testing.assert_allclose(harmonic_fill(flat, hole).numpy(), flat, atol=1e-6)


def test_a_hole_across_a_ramp_is_filled_close_to_the_ramp_within_the_contexts_range():
    # A linear function is harmonic: the fill of a hole in a ramp is the ramp itself, up to the sweeps.
    ramp = np.linspace(-1, 1, 128, dtype=np.float32)[None, None, :, None] * np.ones((1, 128, 1, 3), np.float32)
    hole = _hole(1, 128, [(40, 30, 90, 100)])
    filled = harmonic_fill(ramp, hole).numpy()
    inside = hole[..., 0] > 0
    assert np.abs(filled - ramp)[inside].max() < 0.05
    # A mean of its neighbours never leaves the context's range (the maximum principle).
    rng = np.random.default_rng(1)
    noisy = rng.uniform(-0.3, 0.6, (2, 64, 64, 3)).astype(np.float32)
    out = harmonic_fill(noisy, _hole(2, 64, [(5, 5, 50, 40)])).numpy()
    assert out.min() >= -0.3 - 1e-6 and out.max() <= 0.6 + 1e-6


def test_one_hole_serves_a_batch_and_tensors_of_any_float_type_fill_in_float32():
    rng = np.random.default_rng(2)
    images = rng.uniform(-1, 1, (4, 32, 32, 3)).astype(np.float32)
    hole = _hole(1, 32, [(8, 8, 24, 24)])
    together = harmonic_fill(tf.constant(images, tf.bfloat16), hole)
    assert together.dtype == tf.float32 and together.shape == (4, 32, 32, 3)
    one = harmonic_fill(tf.cast(tf.constant(images[1:2], tf.bfloat16), tf.float32), hole)
    np.testing.assert_allclose(together.numpy()[1:2], one.numpy(), atol=1e-6)
    # Odd sides take the same pyramid (pooling with padding), and no context at all fills 0.
    odd = harmonic_fill(images[:, :27, :27], hole[:, :27, :27])
    assert odd.shape == (4, 27, 27, 3) and np.isfinite(odd.numpy()).all()
    np.testing.assert_array_equal(harmonic_fill(images, np.ones((4, 32, 32, 1), np.float32)).numpy(), 0.0)
