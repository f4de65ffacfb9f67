"""The rejects.jsonl row both jobs write: one input that did not make it, and why.

Columns: `path`, the file read (a photo, a mask file or a TFRecord shard); `source`, the photo the
input came from (a record's source URI; the path itself for a photo or mask file); `id`, the input's
id where it has one (a photo's content hash, a record's id, `#N` for the Nth record of a shard);
`stage`, where it was rejected; `reason`, a reason code; `detail`, the error's words; and `mask`, only
where a mask file goes unused with the input (a mask without a photo names itself).
"""
from __future__ import annotations

# The tag of the rejects' output in the jobs' multi-output DoFns.
REJECT = "reject"
DETAIL_LIMIT = 500


def reject(path: str, reason: str, detail: str, *, stage: str, source: str = "", item_id: str = "",
           mask: str = "") -> dict[str, str]:
    """A rejects.jsonl row (see the module's docstring)."""
    row = {"path": path, "source": source or path, "id": item_id, "stage": stage, "reason": reason,
           "detail": detail[:DETAIL_LIMIT]}
    return {**row, "mask": mask} if mask else row
