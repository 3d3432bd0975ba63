"""``spikeforge`` command line: ``list``, ``demo``, ``bench``."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# What `spikeforge list KIND` shows: module that registers them, registry attribute.
LISTABLE = {
    "neurons": ("spikeforge.neurons", "NEURONS"),
    "surrogates": ("spikeforge.surrogates", "SURROGATES"),
    "encoders": ("spikeforge.encoding", "ENCODERS"),
    "decoders": ("spikeforge.encoding", "DECODERS"),
    "objectives": ("spikeforge.losses", "OBJECTIVES"),
    "regularizers": ("spikeforge.losses", "REGULARIZERS"),
    "models": ("spikeforge.models", "MODELS"),
    "datasets": ("spikeforge.data", "DATASETS"),
}

# `spikeforge bench NAME ...` runs NAME's module main(argv).
BENCHMARKS = {
    "neurons": "spikeforge.bench.neurons",
    "parallel": "spikeforge.bench.parallel",
}


def _cmd_list(args: argparse.Namespace) -> int:
    module_name, attr = LISTABLE[args.kind]
    registry = getattr(importlib.import_module(module_name), attr)
    for name in registry.names():
        print(name)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import format_result, run_demo, write_json

    result = run_demo(
        epochs=args.epochs, timesteps=args.timesteps, seed=args.seed, neuron=args.neuron
    )
    print(format_result(result))
    if args.json:
        write_json(result, args.json)
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    module = importlib.import_module(BENCHMARKS[args.name])
    return int(module.main(args.rest) or 0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spikeforge", description="Train, convert, distill and measure spiking networks."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list registered names")
    p.add_argument("kind", choices=sorted(LISTABLE))
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("demo", help="train a small conv SNN on the bundled digits")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--timesteps", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--neuron", default="lif")
    p.add_argument("--json", metavar="PATH", help="also write the result as JSON")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("bench", help="benchmarks (neurons, parallel)")
    p.add_argument("name", choices=sorted(BENCHMARKS))
    p.add_argument("rest", nargs=argparse.REMAINDER, help="options of that benchmark")
    p.set_defaults(func=_cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, FileNotFoundError) as error:
        print(f"spikeforge: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
