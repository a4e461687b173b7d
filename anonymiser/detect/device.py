"""Where the ONNX models run: onnxruntime execution providers for ``Settings.device``.

``cpu`` always works. ``cuda`` needs ``onnxruntime-gpu`` (``pip install 'anonymiser[gpu]'``) and an
NVIDIA driver; ``auto`` takes CUDA when onnxruntime offers it and the CPU otherwise. A device
that was asked for but is not there falls back to the CPU with one warning per run (the outputs
are the same within floating-point tolerance; only the speed differs).
"""

from __future__ import annotations

import logging

from anonymiser.settings import Device

log = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
_warned: set[str] = set()


def providers(device: Device | str) -> list[str]:
    """The onnxruntime providers to ask for, best first (the CPU always last)."""
    import onnxruntime as ort

    device = Device(device)
    if device is Device.CPU:
        return [CPU]
    if CUDA in ort.get_available_providers():
        return [CUDA, CPU]
    if device is Device.CUDA:
        warn_once(
            "cuda: this onnxruntime has no CUDA provider (pip install 'anonymiser[gpu]'); "
            "running on the CPU"
        )
    return [CPU]


def check_session(session: object, wanted: list[str], model: str) -> None:
    """Warn once when onnxruntime quietly put ``model`` on the CPU (no driver, no CUDA libraries)."""
    used = session.get_providers()  # type: ignore[attr-defined]
    if wanted[0] != CPU and (not used or used[0] != wanted[0]):
        warn_once(f"{model}: {wanted[0]} could not start (driver or CUDA libraries?); on the CPU")


def warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        log.warning("device %s", message)


__all__ = ["check_session", "providers"]
