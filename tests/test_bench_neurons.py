"""``spikeforge bench neurons``: the device option (CPU here; the CUDA path is built,
rendered and dry-run on CPU tensors through Triton's interpreter without a GPU; its
real measurements need one)."""

import json

import pytest
import torch

from spikeforge import cli
from spikeforge.bench import device as bd
from spikeforge.bench import lif_impls as li
from spikeforge.bench import neurons as nb


def _name(impl: li.Impl | tuple[str, str]) -> str:
    return impl[0] if isinstance(impl, tuple) else impl.name


def test_cuda_unavailable_is_a_one_line_error_with_status_2(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)

    def must_not_run(*args, **kwargs):
        raise AssertionError("the benchmark started without a GPU")

    monkeypatch.setattr(nb, "run", must_not_run)
    assert cli.main(["bench", "neurons", "--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip()
    assert "CUDA" in err and "\n" not in err and "Traceback" not in err
    assert nb.main(["--device", "cuda"]) == 2  # `spikeforge bench neurons` calls this main


def test_run_on_cuda_without_gpu_raises_before_measuring(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(nb, "implementations", lambda *a: pytest.fail("list was built"))
    with pytest.raises(nb.DeviceUnavailableError, match="CUDA"):
        nb.run(quick=True, device="cuda")


def test_cpu_run_keeps_its_rows_and_columns(monkeypatch, tmp_path):
    monkeypatch.setattr(nb, "QUICK_SHAPES", [(3, 2, 64)])
    monkeypatch.setattr(nb, "DRAM_PROBE_ELEMENTS", 1 << 16)
    path = tmp_path / "cpu.json"
    text = nb.run(quick=True, json_path=str(path))
    data = json.loads(path.read_text())
    assert [r["impl"] for r in data["results"]] == [_name(i) for i in nb.implementations()]
    assert data["settings"]["device"] == "cpu" and "device_target" not in data
    ours = {r["impl"]: r for r in data["results"][:3]}
    for r in ours.values():
        assert r["status"] == "ok" and r["spikes_match"] == 1.0
        # measured (a resident-set peak; this shape is far below a page, so its size
        # says nothing: test_bench_rss checks the magnitudes)
        assert r["peak_fwd_bwd_bytes_per_step"] >= 0.0
        assert r["first_fwd_infer_ms"] > 0 and r["first_fwd_bwd_ms"] > 0
    assert "(CPU)" in text and "GPU target" not in text
    assert "first call" not in text  # a CUDA-only column
    assert "peak fwd+bwd B/step" in text and "resident set" in text


def _row(impl: str, fwd_bwd: float, shape=nb.GPU_TARGET_SHAPE, **kw) -> nb.Row:
    fields = {
        "spikes_match": 1.0,
        "fwd_infer_ms": fwd_bwd / 3,
        "fwd_ms": fwd_bwd / 2,
        "fwd_bwd_ms": fwd_bwd,
        "fwd_bwd_min_ms": fwd_bwd,
        "fwd_infer_min_ms": fwd_bwd / 3,
        "saved_bytes_per_step": 4.0,
        "first_fwd_infer_ms": 900.0,
        "first_fwd_bwd_ms": 1500.0,
        "peak_fwd_infer_bytes_per_step": 4.0,
        "peak_fwd_bwd_bytes_per_step": 12.0,
    }
    return nb.Row(list(shape), impl, **(fields | kw))


def test_gpu_target_uses_spikingjellys_fastest_backend_at_t16():
    rows = [
        _row("spikeforge triton", 1.0),
        _row("spikeforge triton (bfloat16)", 0.1, dtype="bfloat16"),  # not the target row
        _row("spikeforge triton", 9.0, shape=(4, 32, 4096)),  # another shape
        _row("SpikingJelly 2.0.0 LIFNode(m)", 3.0),
        _row("SpikingJelly 2.0.0 LIFNode(m, cupy)", 2.0),
        _row("snnTorch 1.0.0 Leaky (loop)", 0.5),  # faster, but not SpikingJelly
    ]
    t = nb.gpu_target(rows)
    assert t["spikingjelly_fastest"] == "SpikingJelly 2.0.0 LIFNode(m, cupy)"
    assert t["speedup_fwd_bwd"] == pytest.approx(2.0) and t["met"] is True
    rows[0].fwd_bwd_ms = 1.6
    assert nb.gpu_target(rows)["met"] is False
    rows[3].status = rows[4].status = "error: x"
    missing = nb.gpu_target(rows)
    assert missing["met"] is None and "SpikingJelly" in missing["reason"]


def test_cuda_report_has_gpu_columns_and_the_target_line():
    dev = bd.CudaBenchDevice()
    rows = [
        _row("spikeforge torch", 4.0),
        _row("spikeforge triton", 1.0),
        _row("SpikingJelly 2.0.0 LIFNode(m)", 3.0, peak_fwd_bwd_bytes_per_step=48.0),
        nb.Row(list(nb.GPU_TARGET_SHAPE), "Norse LIF (module)", status="not installed (x)"),
    ]
    key = "x".join(map(str, nb.GPU_TARGET_SHAPE))
    bound = dict.fromkeys(
        (
            "copy_ms",
            "bandwidth_GBps",
            "fwd_bound_ms",
            "fwd_bwd_bound_ms",
            "dram_bandwidth_GBps",
            "fwd_bound_dram_ms",
            "fwd_bwd_bound_dram_ms",
        ),
        1.0,
    )
    info = nb.machine_info() | {
        "gpu": "Test GPU",
        "gpu_capability": "9.0",
        "gpu_multiprocessors": 132,
        "gpu_memory_GiB": 79.6,
        "cuda_runtime": "12.8",
        "cuda_driver_api": "12.8",
        "nvidia_driver": None,
        "triton": "3.9.0",
    }
    targets = nb._targets(rows, {key: bound}, f"spikeforge {dev.fused_backend}")
    assert targets[0]["speedup_fwd_bwd"] == pytest.approx(3.0)
    assert targets[0]["peak_fwd_bwd_vs_spikingjelly"] == pytest.approx(12.0 / 48.0)
    text = nb._report(info, rows, {key: bound}, targets, dev, nb.target_of(dev, rows))
    assert "(CUDA)" in text and "Test GPU" in text and "first call fwd+bwd" in text
    assert "not run: it takes CPU tensors only" in text
    assert "= 3.00× — **met**" in text
    main_table = [line for line in text.splitlines() if line.startswith(f"| {key} | ")][:4]
    header = next(line for line in text.splitlines() if line.startswith("| shape | impl"))
    assert {line.count("|") for line in main_table} == {header.count("|")}


def test_neuron_benchmark_quick_run_writes_json(monkeypatch, tmp_path):
    """The benchmark runs end to end on a tiny shape; missing peers are reported as such."""
    monkeypatch.setattr(nb, "QUICK_SHAPES", [(3, 2, 64)])
    monkeypatch.setattr(nb, "DRAM_PROBE_ELEMENTS", 1 << 20)
    monkeypatch.setattr(
        nb,
        "implementations",
        lambda: [li._ours("cpu"), ("Peer X", "not installed (test)")],
    )
    path = tmp_path / "out.json"
    text = nb.run(quick=True, json_path=str(path))
    data = json.loads(path.read_text())
    assert "spikeforge cpu" in text and "not installed (test)" in text
    assert data["machine"]["torch"] == torch.__version__
    ours = data["results"][0]
    assert ours["status"] == "ok" and ours["spikes_match"] == 1.0
    assert ours["saved_bytes_per_step"] > 0


class _CudaPathOnCpu(bd.CudaBenchDevice):
    """The CUDA benchmark's code path with CPU tensors (the Triton kernel then runs in
    its interpreter): everything the device-specific branches do except the GPU itself."""

    @property
    def torch_device(self) -> torch.device:
        return torch.device("cpu")

    def synchronize(self) -> None:
        pass

    def peak_extra_bytes(self, fn):
        fn()
        return 4096

    def info(self):
        return {"gpu": "dry run", "gpu_capability": "9.0", "gpu_multiprocessors": 1,
                "gpu_memory_GiB": 1.0, "cuda_runtime": None, "cuda_driver_api": None,
                "nvidia_driver": None, "triton": "dry"}  # fmt: skip


def test_the_cuda_run_path_end_to_end_without_a_gpu(monkeypatch, tmp_path):
    """A dry run of ``run(device=CudaBenchDevice)`` on CPU tensors: the triton rows (float32,
    float16, bfloat16) are measured, checked against the reference and reported with the
    GPU columns and target line, so a GPU session does not find a Python error first."""
    pytest.importorskip("triton")
    from spikeforge.kernels.triton import lif as tlif

    monkeypatch.setenv("TRITON_INTERPRET", "1")
    if tlif.interpreter_reason() is not None:
        pytest.skip(tlif.interpreter_reason())
    shape = (3, 2, 96)
    monkeypatch.setattr(nb, "QUICK_SHAPES", [shape])
    monkeypatch.setattr(nb, "GPU_TARGET_SHAPE", shape)
    monkeypatch.setattr(nb, "DRAM_PROBE_ELEMENTS", 4096)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # peers stay off the GPU
    path = tmp_path / "cuda.json"
    text = nb.run(quick=True, json_path=str(path), device=_CudaPathOnCpu())
    data = json.loads(path.read_text())
    rows = {r["impl"]: r for r in data["results"]}
    triton_rows = [r for name, r in rows.items() if name.startswith("spikeforge triton")]
    assert len(triton_rows) == 3  # float32, float16, bfloat16
    for r in triton_rows:
        assert r["status"] == "ok", r["status"]
        assert r["spikes_match"] == 1.0 and r["fwd_bwd_ms"] > 0
        assert r["first_fwd_bwd_ms"] > 0 and r["peak_fwd_bwd_bytes_per_step"] > 0
    assert data["device_target"]["shape"] == "x".join(map(str, shape))
    assert "dry run" in text and "first call fwd+bwd" in text
