"""Fetches Debian packages without installing them: `apt-get download` into a cache, `dpkg -x` there."""
from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote


def fetch(cache: Path, packages: list[str], apt_get: str = "apt-get", dpkg: str = "dpkg"
          ) -> dict[str, tuple[str, Path]] | str:
    """{package: (version, unpacked root)}, downloading and unpacking what the cache lacks; or the
    one-line reason it cannot (no apt-get or dpkg, or a failed download)."""
    cache.mkdir(parents=True, exist_ok=True)
    missing = [p for p in packages if not _debs(cache, p)]
    try:
        if missing:
            logging.info("apt-get download %s into %s", " ".join(missing), cache)
            done = subprocess.run([apt_get, "download", *missing], cwd=cache, capture_output=True, text=True)
            if done.returncode != 0:
                tail = (done.stderr.strip().splitlines() or ["exit status %d" % done.returncode])[-1]
                return f"apt-get download failed ({tail})"
        fetched = {}
        for package in packages:
            debs = _debs(cache, package)
            if not debs:
                return f"apt-get download left no {package}_*.deb in {cache}"
            deb = max(debs, key=lambda d: d.stat().st_mtime)
            root = cache / deb.stem
            if not root.is_dir():
                logging.info("dpkg -x %s", deb.name)
                partial = cache / f".{deb.stem}.partial"
                shutil.rmtree(partial, ignore_errors=True)
                subprocess.run([dpkg, "-x", str(deb), str(partial)], check=True, capture_output=True)
                partial.rename(root)
            fetched[package] = (deb_version(deb.name), root)
        return fetched
    except FileNotFoundError as e:
        return f"{Path(e.filename or apt_get).name} not available ({e.strerror})"
    except subprocess.CalledProcessError as e:
        return f"{Path(str(e.cmd[0])).name} failed ({(e.stderr or b'').decode(errors='replace').strip()[-200:]})"


def _debs(cache: Path, package: str) -> list[Path]:
    return sorted(cache.glob(f"{package}_*.deb"))


def deb_version(file_name: str) -> str:
    """The version in a Debian archive's name `NAME_VERSION_ARCH.deb` (an epoch's ':' is `%3a`)."""
    return unquote(file_name.split("_")[1])
