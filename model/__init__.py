"""The structural inpainting network: context encoder, losses, training, export, evaluation."""
import os

from model import quiet

# TensorFlow turns its oneDNN CPU kernels on by itself only on CPUs with AVX-512/AMX; on AVX2 CPUs
# they make the train step 2.8x faster (bench/RESULTS.md). Set before TensorFlow is imported;
# TF_ENABLE_ONEDNN_OPTS=0 in the environment still turns them off.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
# `python -m model.train`, `python -m pipelines.inpaint`, `python -m bench.quality`, ...: no TensorFlow start-up noise.
if quiet.is_command():
    quiet.install()
