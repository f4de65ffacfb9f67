# Dataflow worker image for the preprocess and inpaint pipelines: Beam's SDK harness, TensorFlow's
# CUDA build and this project, all at the versions of constraints.txt.
#
#   make docker-image PROJECT=... REGION=...     (builds and pushes $(IMAGE))
#   make dataflow-inpaint PROJECT=... BUCKET=... (runs with --sdk_container_image $(IMAGE))
#
# TensorFlow's pip wheels bring their own CUDA and cuDNN libraries (the and-cuda extra), so a slim
# Python base is enough; Dataflow installs the NVIDIA driver on the VM (install-nvidia-driver).
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # One model per worker process shares the GPU with the process's threads: take memory as needed.
    TF_FORCE_GPU_ALLOW_GROWTH=true \
    TF_CPP_MIN_LOG_LEVEL=1 \
    # oneDNN CPU kernels (common/startup.py), also where a worker imports TensorFlow before the job's modules.
    TF_ENABLE_ONEDNN_OPTS=1

WORKDIR /opt/inpainting
# Dependencies first, so code changes rebuild only the last layer.
COPY constraints.txt setup.py ./
RUN for p in tfrecords common model evaluation pipelines demo; do mkdir $p && touch $p/__init__.py; done \
    && pip install -c constraints.txt 'tensorflow[and-cuda]==2.21.0' . \
    && pip uninstall -y structural-inpainting
COPY tfrecords tfrecords
COPY common common
COPY model model
COPY evaluation evaluation
COPY pipelines pipelines
COPY demo demo
RUN pip install --no-deps -c constraints.txt . \
    && python -c "import pipelines.inpaint, pipelines.preprocess, tfx_bsl, tensorflow"

# Beam's worker boot program, from the SDK image of the same Beam version.
COPY --from=apache/beam_python3.11_sdk:2.77.0 /opt/apache/beam /opt/apache/beam
ENTRYPOINT ["/opt/apache/beam/boot"]
