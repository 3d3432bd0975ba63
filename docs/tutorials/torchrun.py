# %% [markdown]
# # Multi-process training with torchrun
#
# **What this shows.** The same `spikeforge train` command runs on N processes under
# PyTorch's own launcher, `torchrun`, with DistributedDataParallel (gloo on CPU, nccl on
# CUDA): `data.batch_size` stays the **global** batch, each rank takes an equal share of
# every batch of one shared, seeded sample order, and only rank 0 writes logs and
# checkpoints. Here the conv SNN is trained on digits by 2 processes and by 1: both reach
# ≥ 85 % test accuracy and agree within 3 points (they differ only through BatchNorm,
# whose statistics are per rank on a CPU), and the 2-process run leaves one run directory
# written by rank 0.
#
# ```bash
# torchrun --standalone --nproc_per_node=2 -m spikeforge train --config digits_csnn
# ```

# %%
import json
import os
import subprocess
import sys
from pathlib import Path

common = ["--config", "digits_csnn", "train.epochs=3", "train.progress=false"]
common += ["train.tensorboard=false", "train.device=cpu"]


def spikeforge_train(processes: int, name: str) -> dict:
    launcher = [sys.executable, "-m", "spikeforge"]
    if processes > 1:  # torchrun is `python -m torch.distributed.run`
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                    f"--nproc_per_node={processes}", "-m", "spikeforge"]  # fmt: skip
    command = [*launcher, "train", *common, f"train.run_name={name}", "--json", f"{name}.json"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    print(done.stdout.strip().splitlines()[-1])
    return json.loads(Path(f"{name}.json").read_text())


two = spikeforge_train(2, "ddp-2")
one = spikeforge_train(1, "ddp-1")
print(f"2 processes: {two['test_acc']:.4f}; 1 process: {one['test_acc']:.4f}")
assert min(two["test_acc"], one["test_acc"]) >= 0.85
assert abs(two["test_acc"] - one["test_acc"]) <= 0.03

# %% [markdown]
# Rank 0 alone wrote the run directory: one `metrics.jsonl` line per epoch, not one per
# rank.

# %%
run = Path("runs/ddp-2")
print(sorted(p.name for p in run.iterdir()))
epochs = (run / "metrics.jsonl").read_text().splitlines()
assert len(epochs) == 3, len(epochs)
