"""Which arithmetic a recipe trains in on this machine: bfloat16 where the CPU has the instructions for it.

Imports no TensorFlow, so that the dashboard and the time estimate can ask cheaply.
"""

from __future__ import annotations

import os
from pathlib import Path

from core.networks.presets import Preset


def has_bfloat16_instructions(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True where the CPU has bfloat16 instructions (AVX-512 BF16 or AMX); without them bfloat16 is not worth it.

    On an AVX-512 BF16 EPYC, bfloat16 trains the default preset in a quarter less time per epoch.
    Read from Linux's /proc/cpuinfo; other systems answer False and train in float32. oneDNN's own
    `ONEDNN_MAX_CPU_ISA` below AVX512_CORE_BF16 (AVX2, say) hides them too: it lets a machine with them time,
    tune and train as one without would.
    """
    if not _isa_allows_bfloat16(os.environ.get("ONEDNN_MAX_CPU_ISA", "")):
        return False
    try:
        flags = set(cpuinfo.read_text().split())
    except OSError:
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16"})


# oneDNN's instruction-set limits (its documentation's ONEDNN_MAX_CPU_ISA values) that still include bfloat16.
BFLOAT16_ISAS = {"", "ALL", "DEFAULT", "AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX512_CORE_AMX", "AVX512_CORE_AMX_FP16"}


def _isa_allows_bfloat16(limit: str) -> bool:
    return limit.strip().upper() in BFLOAT16_ISAS


def dtype_policy_for(recipe: Preset) -> str:
    """The Keras dtype policy `recipe` trains with on this machine."""
    if recipe.mixed_precision and has_bfloat16_instructions():
        return "mixed_bfloat16"
    return "float32"
