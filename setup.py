"""Structural inpainting at scale: what `pip install .` and Dataflow workers (`--setup_file`) install.

Exact versions of everything, direct and transitive, are pinned in constraints.txt:
`pip install -c constraints.txt .` resolves the same set on every machine.
"""
import setuptools

REQUIRED = [
    "tensorflow==2.21.0",
    "apache-beam[gcp]==2.77.0",
    "tfx-bsl==1.21.0",
    # Fast CRC for TFRecord writes through Beam.
    "google-crc32c==1.9.0",
    # Intel ISA-L deflate for the gzip shards: 6x faster writes than zlib's default level (tfrecords/writer.py).
    "isal==1.9.1",
    "pillow==12.3.0",
    "numpy==2.4.6",
    # The hole metrics' SSIM windows.
    "scipy==1.17.1",
    # Sample photos (skimage.data) for the demo, the tests and the benchmarks.
    "scikit-image==0.26.0",
]

EXTRAS = {
    # The embedded sample photos, ImageNet VGG16 weights (ONNX), the classical baselines, reports.
    "demo": [
        "mvtb-data==1.6.1",
        "scikit-learn==1.9.1",
        "matplotlib==3.11.2",
        "onnx==1.23.2",
        # OpenCV's contrib build: cv2.inpaint (Telea, Navier-Stokes) plus cv2.xphoto's FSR inpainting.
        "opencv-contrib-python-headless==5.0.0.93",
        # Perceptual hashes to drop near-duplicate photos when gathering Debian's photos.
        "imagehash==4.3.2",
        "tensorboard==2.21.0",
    ],
    "test": ["pytest==9.2.0"],
}

setuptools.setup(
    name="structural-inpainting",
    version="0.1.0",
    description="Structural inpainting (context encoder + structural loss) at scale on Apache Beam",
    python_requires=">=3.11,<3.12",
    packages=setuptools.find_packages(include=["tfrecords", "common", "model", "evaluation", "pipelines", "demo"]),
    install_requires=REQUIRED,
    extras_require=EXTRAS,
)
