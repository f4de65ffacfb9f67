"""What every layer above the record contract shares: command-line usage and errors, paths and
filesystems, logging, progress lines, CPU facts and TensorFlow start-up settings. Imports nothing of
the project's other packages."""
