import torch

import d2lhelpers as d2l


def test_try_gpu_falls_back_to_cpu_for_missing_index():
    assert d2l.try_gpu(10_000) == torch.device("cpu")


def test_try_gpu_and_all_gpus_agree():
    devices = d2l.try_all_gpus()
    assert devices and d2l.try_gpu() == devices[0]
    assert d2l.num_gpus() == (0 if devices == [torch.device("cpu")] else len(devices))


def test_mps_counts_as_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(d2l.devices, "_mps_available", lambda: True)
    assert d2l.try_gpu() == torch.device("mps")
    assert d2l.try_all_gpus() == [torch.device("mps")]
    assert d2l.try_gpu(1) == torch.device("cpu")
