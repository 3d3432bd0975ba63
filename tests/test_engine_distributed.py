"""Two CPU processes under torchrun (gloo) against one process with the same global batch."""

import subprocess
import sys
import textwrap

import pytest
import torch

from spikeforge.engine.config import load_config
from spikeforge.engine.distributed import DistInfo, shard
from spikeforge.engine.run import make_trainer

# BatchNorm statistics are per rank on CPU (SyncBatchNorm is GPU-only), so the
# equivalence is checked on a model without BN.
OVERRIDES = [
    "model.name=spiking_mlp",
    "model.kwargs={norm: false, hidden_sizes: [32]}",
    "model.neuron_kwargs={v_th: 0.5}",
    "data.batch_size=64",
    "train.epochs=1",
    "train.max_steps=4",
    "train.progress=false",
    "train.device=cpu",
]

WORKER = textwrap.dedent(
    """
    import sys, torch, torch.distributed as dist
    from spikeforge.engine.config import load_config
    from spikeforge.engine.run import make_trainer
    out, overrides = sys.argv[1], sys.argv[2:]
    trainer = make_trainer(load_config(None, overrides), out + "/run")
    if "fail" in out and trainer.dist.rank == 1:
        raise RuntimeError("rank 1 fails on purpose")
    trainer.fit()
    torch.save(trainer.model.state_dict(), f"{out}/rank{trainer.dist.rank}.pt")
    torch.save(trainer.method.state_dict(), f"{out}/method{trainer.dist.rank}.pt")
    dist.destroy_process_group()
    """
)


def torchrun(tmp_path, name, overrides, timeout=120):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    out = tmp_path / name
    out.mkdir()
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        str(script), str(out), *overrides,
    ]  # fmt: skip
    return out, subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def test_shard_splits_a_global_batch_evenly():
    batch = torch.arange(8)
    assert shard(batch, DistInfo(0, 2)).tolist() == [0, 2, 4, 6]
    assert shard(batch, DistInfo(1, 2)).tolist() == [1, 3, 5, 7]
    with pytest.raises(ValueError, match="cannot be split evenly over 3 processes"):
        shard(batch, DistInfo(0, 3))


# sltt: the method backpropagates each step itself, in DDP's no_sync() but the last
@pytest.mark.parametrize("method", ["bptt", "sltt"])
def test_two_processes_equal_one_process_with_the_same_global_batch(tmp_path, method):
    overrides = [*OVERRIDES, f"train.method={method}"]
    out, proc = torchrun(tmp_path, "ddp", [*overrides, f"train.run_dir={tmp_path}"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    rank0 = torch.load(out / "rank0.pt", weights_only=True)
    rank1 = torch.load(out / "rank1.pt", weights_only=True)
    single = make_trainer(load_config(None, overrides), tmp_path / "single")
    single.fit()
    for name, tensor in single.model.state_dict().items():
        assert torch.equal(rank0[name], rank1[name]), name  # DDP keeps replicas identical
        torch.testing.assert_close(rank0[name], tensor, rtol=1e-4, atol=1e-5)
    assert (out / "run" / "config.yaml").exists()  # written once, by rank 0


def test_a_failing_rank_ends_the_job_instead_of_hanging(tmp_path):
    _, proc = torchrun(tmp_path, "fail", [*OVERRIDES, f"train.run_dir={tmp_path}"], timeout=120)
    assert proc.returncode != 0
    assert "rank 1 fails on purpose" in proc.stderr


def test_feature_kd_adapters_stay_identical_across_processes(tmp_path, digits_ann_checkpoint):
    """The adapters live on the method, outside the DDP-wrapped model: their gradients
    are averaged over ranks too, so both processes end with the same adapters."""
    overrides = [
        "model.name=csnn_tiny",
        "model.kwargs={widths: [4, 8]}",
        "train.method=feature_kd",
        f"distill.teacher={digits_ann_checkpoint}",
        "distill.pairs=[[layers.1, '1'], [layers.5, '3']]",
        *OVERRIDES[3:],
        f"train.run_dir={tmp_path}",
    ]
    out, proc = torchrun(tmp_path, "fkd", overrides)
    assert proc.returncode == 0, proc.stderr[-3000:]
    method0 = torch.load(out / "method0.pt", weights_only=True)
    method1 = torch.load(out / "method1.pt", weights_only=True)
    adapters = [name for name in method0 if name.startswith("adapters.")]
    assert adapters
    for name in [*adapters, "margin_0", "margin_1"]:
        assert torch.equal(method0[name], method1[name]), name
    model0 = torch.load(out / "rank0.pt", weights_only=True)
    model1 = torch.load(out / "rank1.pt", weights_only=True)
    for name, tensor in model0.items():
        if "running_" not in name and "num_batches" not in name:  # BN statistics: per rank
            assert torch.equal(tensor, model1[name]), name


STUCK = textwrap.dedent(
    """
    import os, signal, torch
    from spikeforge.engine.distributed import init_from_env
    init_from_env(torch.device("cpu"))
    os.kill(os.getpid(), signal.SIGSTOP)  # joined the group, then never answers
    """
)


def test_a_stuck_rank_fails_the_other_with_a_clear_error_within_the_timeout(tmp_path):
    """Rank 1 joins the group and freezes (SIGSTOP); rank 0 (`spikeforge train`) must end
    with one line saying what happened once SPIKEFORGE_DIST_TIMEOUT passes, not hang."""
    import os
    import socket
    import time

    with socket.socket() as s:  # a free port for the rendezvous
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
        "WORLD_SIZE": "2",
        "LOCAL_RANK": "0",
        "SPIKEFORGE_DIST_TIMEOUT": "5",
        "OMP_NUM_THREADS": "1",
    }
    script = tmp_path / "stuck.py"
    script.write_text(STUCK)
    stuck = subprocess.Popen([sys.executable, str(script)], env={**env, "RANK": "1"})
    try:
        start = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "spikeforge", "train", "--config", "digits_csnn",
             "train.epochs=1", "train.progress=false", "train.device=cpu",
             f"train.run_dir={tmp_path / 'runs'}"],
            env={**env, "RANK": "0"}, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        took = time.monotonic() - start
    finally:
        stuck.kill()
        stuck.wait()
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "another process is stuck or has died" in done.stderr
    assert "SPIKEFORGE_DIST_TIMEOUT=5 s" in done.stderr
    assert took < 60  # the timeout, start-up and rendezvous; gloo's default is 30 min
