"""Fetches Debian packages without installing them: `apt-get download` into a cache, `dpkg -x` there."""
from __future__ import annotations

import logging
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote


# What apt-get says of a package that this machine's apt sources lack.
UNKNOWN = re.compile(r"Unable to locate package (\S+)|Package '([^']+)' has no installation candidate")


def fetch(cache: Path, packages: list[str], apt_get: str = "apt-get", dpkg: str = "dpkg"
          ) -> tuple[dict[str, tuple[str, Path]], dict[str, str]] | str:
    """({package: (version, unpacked root)}, {package: why it is missing}), downloading and unpacking
    what the cache lacks; or the one-line reason that none can be had (no apt-get or dpkg, or nothing
    cached and the download failed). A package this machine's apt sources lack is missing and the
    others are fetched; where the download fails otherwise (no network), what the cache holds is used."""
    cache.mkdir(parents=True, exist_ok=True)
    absent = [p for p in packages if not _debs(cache, p)]
    missing: dict[str, str] = {}
    try:
        if absent:
            logging.info("apt-get download %s into %s", " ".join(absent), cache)
            errors = _download(cache, absent, apt_get)
            for line in errors.splitlines():
                match = UNKNOWN.search(line)
                if match and (match.group(1) or match.group(2)) in absent:
                    missing[match.group(1) or match.group(2)] = line.strip()
            rest = [p for p in absent if p not in missing]
            if missing and rest:  # apt-get fetches nothing when one package is unknown: the rest again
                errors = _download(cache, rest, apt_get)
            if errors and rest:
                missing.update({p: errors.strip().splitlines()[-1] for p in rest})
            if len(missing) == len(packages):
                return f"apt-get download failed ({missing[packages[0]]})"
        fetched = {}
        for package in packages:
            if package not in missing and not _debs(cache, package):
                missing[package] = f"apt-get download left no {package}_*.deb in {cache}"
            if package in missing:
                logging.warning("%s left out: %s", package, missing[package])
                continue
            deb = max(_debs(cache, package), key=lambda d: d.stat().st_mtime)
            root = cache / deb.stem
            if not root.is_dir():
                logging.info("dpkg -x %s", deb.name)
                partial = cache / f".{deb.stem}.partial"
                shutil.rmtree(partial, ignore_errors=True)
                subprocess.run([dpkg, "-x", str(deb), str(partial)], check=True, capture_output=True)
                partial.rename(root)
            fetched[package] = (deb_version(deb.name), root)
        return fetched, missing
    except FileNotFoundError as e:
        return f"{Path(e.filename or apt_get).name} not available ({e.strerror})"
    except subprocess.CalledProcessError as e:
        return f"{Path(str(e.cmd[0])).name} failed ({(e.stderr or b'').decode(errors='replace').strip()[-200:]})"


def _download(cache: Path, packages: list[str], apt_get: str) -> str:
    """'' once `apt-get download` fetched them all, else what it wrote on stderr (or its exit status)."""
    done = subprocess.run([apt_get, "download", *packages], cwd=cache, capture_output=True, text=True)
    if done.returncode == 0:
        return ""
    return done.stderr.strip() or f"exit status {done.returncode}"


def _debs(cache: Path, package: str) -> list[Path]:
    return sorted(cache.glob(f"{package}_*.deb"))


def deb_version(file_name: str) -> str:
    """The version in a Debian archive's name `NAME_VERSION_ARCH.deb` (an epoch's ':' is `%3a`)."""
    return unquote(file_name.split("_")[1])
