"""Settings.device -> onnxruntime providers: CUDA when there, the CPU otherwise, one warning."""

from __future__ import annotations

import logging

import pytest

from anonymiser import Device, Settings, SettingsError
from anonymiser.detect import device


@pytest.fixture
def only_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    import onnxruntime

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: [device.CPU])
    monkeypatch.setattr(device, "_warned", set())


@pytest.fixture
def with_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    import onnxruntime

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: [device.CUDA, device.CPU])
    monkeypatch.setattr(device, "_warned", set())


def test_settings_device_choices() -> None:
    assert Settings().device is Device.AUTO
    assert Settings(device="cuda").device is Device.CUDA
    with pytest.raises(SettingsError, match="device"):
        Settings(device="gpu")


def test_cpu_is_always_the_cpu(with_cuda: None) -> None:
    assert device.providers("cpu") == [device.CPU]


def test_auto_and_cuda_take_the_gpu_when_there(with_cuda: None) -> None:
    assert device.providers(Device.AUTO) == [device.CUDA, device.CPU]
    assert device.providers("cuda") == [device.CUDA, device.CPU]


def test_auto_without_a_gpu_is_the_cpu_silently(
    only_cpu: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        assert device.providers("auto") == [device.CPU]
    assert not caplog.records


def test_cuda_without_a_gpu_warns_once_and_runs_on_the_cpu(
    only_cpu: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        assert device.providers("cuda") == [device.CPU]
        assert device.providers("cuda") == [device.CPU]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1
    assert "anonymiser[gpu]" in lines[0] and "CPU" in lines[0] and "\n" not in lines[0]


def test_a_session_that_fell_back_is_reported(
    only_cpu: None, caplog: pytest.LogCaptureFixture
) -> None:
    class Session:
        def get_providers(self) -> list[str]:
            return [device.CPU]

    with caplog.at_level(logging.WARNING):
        device.check_session(Session(), [device.CPU], "m")  # asked for the CPU: fine
        assert not caplog.records
        device.check_session(Session(), [device.CUDA, device.CPU], "m")
    assert len(caplog.records) == 1
