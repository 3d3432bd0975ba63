"""Gradient balance of LaSNN's attention term on the BatchNorm student (issue #20).

For the lasnn_bn row of benchmarks/runs/lasnn-cifar10-small (seed 0): the gradient of
the task terms (CE + response KD, alpha = 0.5: the kd_bn row's loss) and of the
attention term per unit of beta (the loss at beta = 1 minus the loss at beta = 0; the
loss is linear in beta), on 4 seeded training batches of 64 at T = 4, at the student's
initialisation and after its 10 epochs. Run from the repository root:
    OMP_NUM_THREADS=1 python benchmarks/results/lasnn_gradient_balance.py
"""

import torch
import yaml

from spikeforge.engine.build import build_datasets, build_model
from spikeforge.engine.checkpoint import load_checkpoint
from spikeforge.engine.config import config_from_dict
from spikeforge.methods.distill import build_distillation

torch.set_num_threads(1)
RUN = "benchmarks/runs/lasnn-cifar10-small"
STAGE = f"{RUN}/students/lasnn_bn/seed0"


def load(path: str):
    return config_from_dict(yaml.safe_load(open(path)))


cfg = load(f"{STAGE}/config.yaml")
train_set, _ = build_datasets(cfg)
teacher = build_model(load(f"{RUN}/teacher/config.yaml"), train_set)
teacher.load_state_dict(load_checkpoint(f"{RUN}/teacher/last.pt")["model"])
teacher.eval()
generator = torch.Generator().manual_seed(0)
order = torch.randperm(len(train_set), generator=generator)
batches = []
for k in range(4):
    idx = order[64 * k : 64 * (k + 1)]
    x = torch.stack([train_set[int(i)][0] for i in idx])
    y = torch.tensor([int(train_set[int(i)][1]) for i in idx])
    batches.append((x.unsqueeze(0).expand(4, *x.shape), y))


def gradient(student, alpha, beta, x, y):
    options = {**dict(cfg.distill.options), "alpha": alpha, "beta": beta}
    method = build_distillation("lasnn", teacher, cfg.distill.pairs, **options)
    params = [p for p in student.parameters() if p.requires_grad]
    loss = method(student, x, y)["loss"]
    return torch.cat([g.flatten() for g in torch.autograd.grad(loss, params)])


for state in ("initialisation", "after 10 epochs"):
    torch.manual_seed(0)
    student = build_model(cfg, train_set)
    if state != "initialisation":
        student.load_state_dict(load_checkpoint(f"{STAGE}/last.pt")["model"])
    student.train()
    task, attention, cosine = [], [], []
    for x, y in batches:
        g_task = gradient(student, 0.5, 0.0, x, y)
        g_att = gradient(student, 0.5, 1.0, x, y) - g_task
        task.append(float(g_task.norm()))
        attention.append(float(g_att.norm()))
        cosine.append(float(torch.nn.functional.cosine_similarity(g_task, g_att, dim=0)))
    mean = lambda v: sum(v) / len(v)  # noqa: E731
    print(
        f"{state}: |g task| {mean(task):.4f}, |g attention| per unit beta "
        f"{mean(attention):.4f} (ratio at beta = 2: {2 * mean(attention) / mean(task):.2f}), "
        f"cosine {mean(cosine):+.3f} (per batch {', '.join(f'{c:+.3f}' for c in cosine)})"
    )
