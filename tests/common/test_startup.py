"""TensorFlow's start-up notices stay out of the commands' stderr; everything else gets through."""
import re
import subprocess
import sys

import pytest

from common import startup

NOTICES = ("absl::InitializeLog", "oneDNN custom operations", "cpu_feature_guard", "To enable the following",
           "Could not find cuda drivers", "cuInit")


@pytest.mark.slow
def test_a_command_prints_its_error_without_tensorflow_start_up_notices(tmp_path):
    done = subprocess.run([sys.executable, "-m", "model.export", "--model-dir", str(tmp_path / "none"),
                           "--output", str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert "not a training run directory" in done.stderr
    assert not [n for n in NOTICES if n in done.stderr], done.stderr


def test_the_cuda_lines_are_dropped_only_without_an_nvidia_driver():
    cuinit = "E0000 00:00:1796122944.587746    8303 cuda_platform.cc:52] failed call to cuInit: UNKNOWN ERROR (303)"
    onednn = "I0000 00:00:1.2    8303 port.cc:153] oneDNN custom operations are on. You may see"
    real = "E0000 00:00:1.2    8303 some_kernel.cc:10] OOM when allocating tensor"
    without, with_driver = re.compile(startup.noise_pattern(False)), re.compile(startup.noise_pattern(True))
    assert without.match(cuinit) and not with_driver.match(cuinit)
    assert without.match(onednn) and with_driver.match(onednn)
    fallback = ("E0000 00:00:1796158570.191830    8065 util.cc:131] oneDNN supports DT_UINT8 only on platforms with "
                "AVX-512. Falling back to the default Eigen-based implementation if present.")
    assert without.match(fallback) and with_driver.match(fallback)
    assert not without.match(real) and not without.match("Traceback (most recent call last):")
