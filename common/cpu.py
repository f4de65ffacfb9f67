"""What this machine's CPU can do, read without importing TensorFlow."""
from __future__ import annotations

import os


def cpu_has_amx_bfloat16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether this CPU multiplies bfloat16 matrices in hardware (Intel AMX), where oneDNN runs the
    network's convolutions in bfloat16 far faster than in float32."""
    try:
        with open(cpuinfo) as f:
            return any(line.startswith("flags") and "amx_bf16" in line.split() for line in f)
    except OSError:
        return False


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1
