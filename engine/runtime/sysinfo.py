"""What machine this is, for benchmark and report headers (figures are meaningless without it)."""

from __future__ import annotations

import platform
from pathlib import Path


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo, else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def vector_isa(flags: set[str] | None = None) -> str:
    """The widest vector instruction sets the CPU has, named from its flags: what decides how
    fast numpy, OpenCV and ONNX Runtime kernels run (e.g. `AVX2, no AVX-512`)."""
    f = cpu_flags() if flags is None else flags
    if "avx512f" in f:
        extra = [n for n, k in (("VNNI", "avx512_vnni"), ("BF16", "avx512_bf16"),
                                ("FP16", "avx512_fp16")) if k in f]
        isa = "AVX-512" + (f" ({', '.join(extra)})" if extra else "")
        return isa + (", AMX" if "amx_tile" in f else "")
    if "avx2" in f:
        return "AVX2, no AVX-512"
    if "avx" in f:
        return "AVX, no AVX2"
    return "no AVX" if f else "unknown"


def machine_line() -> str:
    """One line naming the machine for a benchmark's output: CPU, cores, vector ISA, load."""
    import os

    try:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "?"
    return (f"CPU: {cpu_name()}, {os.cpu_count()} cores, {vector_isa()}; "
            f"load average {load}")


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells it)."""
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def pipeline_threads() -> int:
    """ONNX Runtime threads for a model run in a pipeline (read-ahead and writer threads
    beside it): all cores but one, which the reader and the writer use. On 2 cores one thread
    analysed a 1080p frame faster than two (measured: docs/benchmarks.md, issue 27)."""
    return max(1, usable_cores() - 1)
