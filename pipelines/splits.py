"""Which split a photo's records go to: train, eval (checkpoint selection) or test (reported numbers).

The split hashes a *split group*: the photo's content hash, or, for a file whose name matches the
group pattern, its directory plus the name with the match removed. The default pattern takes
everything from the last '+' in the name: `rocks2+l.png` and `rocks2+r.png` (a stereo pair) share
the group `rocks2` and so the same side. Files whose path matches `test_source` (a held-out source,
e.g. one package's photos) all go to test, whatever their hash.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import posixpath
import re

DEFAULT_GROUP_PATTERN = r"\+[^+]*$"


@dataclasses.dataclass(frozen=True)
class SplitSpec:
    """`test_fraction` of the groups go to test, `eval_fraction` to eval, the rest to train; a
    group's side depends only on its hash and the two fractions."""

    eval_fraction: float = 0.1
    test_fraction: float = 0.1
    group_pattern: str = DEFAULT_GROUP_PATTERN
    test_source: str = ""

    def __post_init__(self) -> None:
        if not (0.0 <= self.eval_fraction and 0.0 <= self.test_fraction
                and self.eval_fraction + self.test_fraction <= 1.0):
            raise ValueError(f"eval fraction {self.eval_fraction} and test fraction {self.test_fraction} must be "
                             f">= 0 and sum to at most 1")
        re.compile(self.group_pattern)
        re.compile(self.test_source)

    def held_out(self, path: str) -> bool:
        """Whether `path` belongs to the held-out test source."""
        return bool(self.test_source) and re.search(self.test_source, path) is not None

    def group(self, path: str, key: str) -> str:
        """The unit that is kept on one side of the split: a file-name group, else the content hash."""
        if self.group_pattern:
            directory, name = posixpath.split(path.replace(os.sep, "/"))
            stem = name.rsplit(".", 1)[0]
            if re.search(self.group_pattern, stem):
                return f"name:{directory}/{re.sub(self.group_pattern, '', stem)}"
        return f"sha256:{key}"

    def split_of_group(self, group: str) -> str:
        position = int.from_bytes(hashlib.sha256(group.encode()).digest()[:8], "big") / 2.0**64
        if position < self.test_fraction:
            return "test"
        return "eval" if position < self.test_fraction + self.eval_fraction else "train"

    def split(self, path: str, key: str) -> str:
        """The split of the photo at `path` with content hash `key`."""
        return "test" if self.held_out(path) else self.split_of_group(self.group(path, key))

    def expected_images(self, files: int, held_out: int) -> dict[str, float]:
        """Images each split should get from `files` matched files, `held_out` of them the test source's."""
        hashed = files - held_out
        return {"train": hashed * (1.0 - self.eval_fraction - self.test_fraction),
                "eval": hashed * self.eval_fraction,
                "test": hashed * self.test_fraction + held_out}

