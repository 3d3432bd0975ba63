"""Accuracy of LIF vs the parallel neuron family on sequential data (same net, same budget).

Network, identical for every neuron: ``Linear(F, H) -> neuron -> Linear(H, C) -> ParaLI``
(non-spiking readout), loss = cross-entropy on ``max_t`` of the readout membrane
(ParaLIF's objective). Adam, fixed epochs and batch size, several seeds; reports mean ±
std test accuracy and wall time per neuron.

Usage::

    python benchmarks/parallel_accuracy.py [--dataset seq-mnist-small] [--epochs 3]
        [--seeds 3] [--hidden 128] [--max-train N] [--max-test N] [--json PATH]

The quick smoke setting (``--epochs 1 --seeds 1 --max-train 512 --max-test 512``) only
checks that everything trains; it is not a result.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from spikeforge.data import load_dataset
from spikeforge.neurons import IPSU, LIF, PSN, PSU, RPSU, MaskedPSN, ParaLI, ParaLIF, SlidingPSN
from spikeforge.neurons.paralif import MaxMembraneLoss

NEURONS: dict[str, Callable[[int], nn.Module]] = {
    "LIF": lambda T: LIF(),
    "PSN": lambda T: PSN(T),
    "MaskedPSN k=4": lambda T: MaskedPSN(T, k=4, mask_progress=1.0),
    "SlidingPSN k=4": lambda T: SlidingPSN(k=4),
    "PSU": lambda T: PSU(T),
    "IPSU": lambda T: IPSU(T),
    "RPSU": lambda T: RPSU(T),
    "ParaLIF-SB": lambda T: ParaLIF("SB"),
    "ParaLIF-T": lambda T: ParaLIF("T"),
    "ParaLIF-D": lambda T: ParaLIF("D"),
}


class Net(nn.Module):
    """``[T, B, F]`` -> readout membranes ``[T, B, C]``."""

    def __init__(self, neuron: nn.Module, features: int, hidden: int, classes: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(features, hidden)
        self.neuron = neuron
        self.fc2 = nn.Linear(hidden, classes)
        self.readout = ParaLI(tau_mem=4.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(self.fc2(self.neuron(self.fc1(x))))


def _batches(dataset, batch: int, shuffle: bool, seed: int) -> DataLoader:
    gen = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch, shuffle=shuffle, generator=gen)


def train_eval(name: str, args: argparse.Namespace, seed: int, train, test) -> dict[str, float]:
    torch.manual_seed(seed)
    x0, _ = train[0]
    T, features = x0.shape
    net = Net(NEURONS[name](T), features, args.hidden, args.classes)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    loss_fn = MaxMembraneLoss("max")
    start = time.perf_counter()
    for _ in range(args.epochs):
        net.train()
        for x, y in _batches(train, args.batch, True, seed):
            loss = loss_fn(net(x.transpose(0, 1)), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    correct = 0
    net.eval()
    with torch.no_grad():
        for x, y in _batches(test, 256, False, seed):
            correct += int((net(x.transpose(0, 1)).amax(0).argmax(1) == y).sum())
    return {"acc": correct / len(test), "seconds": time.perf_counter() - start}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="seq-mnist-small")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--max-train", type=int, default=None)
    parser.add_argument("--max-test", type=int, default=None)
    parser.add_argument("--neurons", nargs="*", default=list(NEURONS))
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    train = load_dataset(args.dataset, "train")
    test = load_dataset(args.dataset, "test")
    if args.max_train:
        train = Subset(train, range(min(args.max_train, len(train))))
    if args.max_test:
        test = Subset(test, range(min(args.max_test, len(test))))
    results = {}
    print("| neuron | test acc (mean ± std) | seconds / run |\n|---|---|---|")
    for name in args.neurons:
        runs = [train_eval(name, args, seed, train, test) for seed in range(args.seeds)]
        accs = [r["acc"] for r in runs]
        std = statistics.stdev(accs) if len(accs) > 1 else 0.0
        secs = statistics.mean(r["seconds"] for r in runs)
        results[name] = {"runs": runs, "acc_mean": statistics.mean(accs), "acc_std": std}
        print(f"| {name} | {100 * statistics.mean(accs):.1f} ± {100 * std:.1f} % | {secs:.1f} |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"args": vars(args), "results": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
