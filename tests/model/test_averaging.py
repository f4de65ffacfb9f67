"""model.averaging: the moving average of weights, its warm-up, the swap and its restore from a checkpoint."""
import numpy as np
import pytest
import tensorflow as tf

from model.averaging import WeightAverage, restore_average


def test_the_average_warms_up_then_follows_the_momentum():
    weight = tf.Variable([0.0, 4.0])
    average = WeightAverage([weight], momentum=0.9)
    expected = np.array([0.0, 4.0])
    momenta = []
    for step in range(1, 100):
        weight.assign([float(step), 4.0 - step])
        average.update(tf.constant(step))
        momenta.append(min(0.9, (1 + step) / (10 + step)))
        expected = momenta[-1] * expected + (1 - momenta[-1]) * weight.numpy()
        np.testing.assert_allclose(average.averages[0].numpy(), expected, rtol=1e-5)
    assert momenta[0] == pytest.approx(2 / 11) and momenta[-1] == 0.9


def test_swapped_in_holds_the_average_and_gives_the_raw_weights_back_even_on_error():
    weight = tf.Variable([1.0, 2.0])
    average = WeightAverage([weight], momentum=0.5)
    average.averages[0].assign([5.0, 6.0])
    with average.swapped_in():
        np.testing.assert_array_equal(weight.numpy(), [5.0, 6.0])
    np.testing.assert_array_equal(weight.numpy(), [1.0, 2.0])
    with pytest.raises(RuntimeError), average.swapped_in():
        raise RuntimeError("an evaluation failed")
    np.testing.assert_array_equal(weight.numpy(), [1.0, 2.0])


def test_restore_average_reads_a_training_checkpoint_and_refuses_one_without_an_average(tmp_path):
    weight = tf.Variable([1.0, 2.0])
    average = WeightAverage([weight], momentum=0.5)
    average.averages[0].assign([7.0, 8.0])
    path = tf.train.Checkpoint(generator_average=average.averages, weight=weight).save(str(tmp_path / "with"))
    target = tf.Variable([0.0, 0.0])
    restore_average([target], path)
    np.testing.assert_array_equal(target.numpy(), [7.0, 8.0])
    without = tf.train.Checkpoint(weight=weight).save(str(tmp_path / "without"))
    with pytest.raises(AssertionError):
        restore_average([target], without)


def test_momentum_outside_0_1_is_refused():
    with pytest.raises(ValueError, match="momentum"):
        WeightAverage([tf.Variable(1.0)], momentum=1.0)
