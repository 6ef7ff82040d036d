"""Which device training and scoring run on, named for people and run records.

torch is imported inside the function so that importing this module stays cheap.
"""

from __future__ import annotations


def describe_device() -> tuple[str, str | None]:
    """A readable device name and the mixed precision to train with (None on the CPU)."""
    import torch

    if not torch.cuda.is_available():
        return "cpu", None
    precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    count = torch.cuda.device_count()
    gpus = f" x{count}" if count > 1 else ""
    return f"cuda:0 ({torch.cuda.get_device_name(0)}{gpus}, {precision})", precision


