"""Peak throughput per device (torch-free, shared by the loop's MFU and the analysis tables)."""
from __future__ import annotations

# bf16 dense peak FLOP/s per device, from vendor datasheets (nanochat's table); MFU divides by these.
PEAK_FLOPS = {
    "H100 SXM": 989e12, "H100 NVL": 835e12, "H100 PCIe": 756e12, "H100": 989e12, "H200": 989e12,
    "A100": 312e12, "L40S": 362e12, "A10G": 125e12, "L4": 121e12, "RTX 4090": 165e12, "T4": 65e12,
}
CPU_FLOPS = 20e9
"""Training FLOP/s assumed on a CPU with nothing measured (a 2-core box: 15–25e9 on transformer steps)."""


def peak_flops_for(device_name: str | None) -> float | None:
    """The datasheet peak of a CUDA device by name (longest matching key), or None (CPUs, unknown GPUs)."""
    if not device_name:
        return None
    for key in sorted(PEAK_FLOPS, key=len, reverse=True):
        if key in device_name:
            return PEAK_FLOPS[key]
    return None
