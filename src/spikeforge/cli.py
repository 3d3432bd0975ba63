"""``spikeforge`` command line: list, demo, train, eval, energy, export, convert, report,
run, config, download, data, bench."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

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
    "methods": ("spikeforge.methods", "METHODS"),
}

# `spikeforge bench NAME ...` runs NAME's module main(argv).
BENCHMARKS = {
    "allocator": "spikeforge.bench.allocator",
    "compile": "spikeforge.bench.compile",
    "conversion": "spikeforge.bench.conversion",
    "equilibrium": "spikeforge.bench.equilibrium",
    "evaluation": "spikeforge.bench.evaluation",
    "neurons": "spikeforge.bench.neurons",
    "online_training": "spikeforge.bench.online_training",
    "parallel": "spikeforge.bench.parallel",
    "parallel_accuracy": "spikeforge.bench.parallel_accuracy",
    "reference_results": "spikeforge.bench.reference_results",
    "spikingbert_steps": "spikeforge.bench.spikingbert_steps",
    "stdp": "spikeforge.bench.stdp",
    "temporal_gradients": "spikeforge.bench.temporal_gradients",
    "training_memory": "spikeforge.bench.training_memory",
    "trevsnn_memory": "spikeforge.bench.trevsnn_memory",
    "variants": "spikeforge.bench.variants",
}


def _cmd_list(args: argparse.Namespace) -> int:
    module_name, attr = LISTABLE[args.kind]
    registry = getattr(importlib.import_module(module_name), attr)
    names = registry.names()
    width = max(map(len, names), default=0)
    for name in names:  # name, then the first sentence of its docstring, aligned
        print(f"{name:<{width}}  {registry.describe(name)}".rstrip())
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import format_result, run_demo

    result = run_demo(args.overrides)
    print(format_result(result))
    _write_json(result, args.json)
    return 0


def _keep_freed_memory() -> None:
    # SPIKEFORGE_MALLOC=keep: glibc keeps freed memory (no page faults between steps)
    from .engine import allocator

    allocator.from_environment()


def _cmd_train(args: argparse.Namespace) -> int:
    from .engine.config import load_config
    from .engine.interrupts import TrainingInterruptedError
    from .engine.run import resume, train

    _keep_freed_memory()
    overrides = _with_data_dir(args)
    try:
        if args.resume:
            if args.config or args.overwrite:
                raise ValueError(
                    "--resume continues a run with its saved config; drop --config/--overwrite"
                )
            trainer, final = resume(args.resume, overrides)
        else:
            trainer, final = train(load_config(args.config, overrides), overwrite=args.overwrite)
    except TrainingInterruptedError as stop:
        print(
            f"spikeforge: {stop}; resume with: spikeforge train --resume {stop.run_dir}",
            file=sys.stderr,
        )
        return 130
    if "test_acc" in final:
        print(f"final test accuracy {final['test_acc']:.4f}; run in {trainer.run_dir}")
    else:  # a method without classes (masked-image pretraining), or no epoch trained
        loss = final.get("test_loss", float("nan"))
        print(f"final test loss {loss:.4f} (no accuracy); run in {trainer.run_dir}")
    _write_json(final, args.json)
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from .engine.run import evaluate_checkpoint

    metrics = evaluate_checkpoint(args.checkpoint, _with_data_dir(args))
    accuracy = metrics["accuracy"]  # None: a method without classes (MAE pretraining)
    shown = "none (the method does not classify)" if accuracy is None else f"{accuracy:.4f}"
    print(f"test accuracy {shown}  test loss {metrics['loss']:.4f}")
    width = max((len(name) for name in metrics["firing_rates"]), default=0)
    for name, rate in metrics["firing_rates"].items():
        print(f"  layer {name:<{width}}  firing rate {rate:.4f}")
    _write_json(metrics, args.json)
    return 0


def _cmd_energy(args: argparse.Namespace) -> int:
    from .engine.inspect import checkpoint_energy

    report = checkpoint_energy(args.checkpoint, samples=args.samples, preset=args.preset)
    print(report.table())
    _write_json(report.to_dict(), args.json)
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from .export import export_checkpoint

    try:
        out, shape = export_checkpoint(
            args.checkpoint, args.out, args.format, dt=args.dt, approximate=args.approximate
        )
    except ModuleNotFoundError as error:  # the optional nir package: one line, exit 2
        raise ValueError(str(error)) from None
    print(f"wrote {out} ({args.format}, input shape {list(shape)}, dt={args.dt:g})")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from .engine.inspect import write_run_report

    print(f"wrote {write_run_report(args.run_dir, args.out)}")
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from .engine.convert import format_table, run_conversion, write_plot

    result = run_conversion(
        args.checkpoint,
        args.timesteps,
        dataset=args.dataset,
        calibration=args.calibration,
        percentile=args.percentile,
        per_channel=args.per_channel,
        calibration_samples=args.calibration_samples,
        maxpool=args.maxpool,
        test_samples=args.test_samples,
        energy_samples=args.energy_samples,
        progress=True,
    )
    print(format_table(result))
    if args.plot:
        print(f"plot: {write_plot(result, args.plot)}")
    _write_json(result, args.json)
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from .engine.interrupts import TrainingInterruptedError
    from .pipelines import PIPELINES

    pipeline = PIPELINES.get(args.pipeline)
    _keep_freed_memory()
    try:
        result = _run_pipeline(pipeline, args)
    except TrainingInterruptedError as stop:
        print(f"spikeforge: {stop}; re-run the same command to resume", file=sys.stderr)
        return 130
    if result["status"] == "partial" and "rows" not in result:
        print(f"nothing to report yet: stage {result['stage']} has not finished")
    elif result["status"] == "partial":
        print(pipeline.format_table(result))
        print(
            f"partial: {len(result['missing'])} stage(s) not finished; results, report.html "
            f"in {result['run_dir']}"
        )
    elif result["status"] != "complete":
        print(f"pipeline {result['status']} in stage {result['stage']}; re-run to resume")
    else:
        print(pipeline.format_table(result))
        print(f"results, report.html in {result['run_dir']}")
    _write_json(result, args.json)
    return 0


def _run_pipeline(pipeline: Any, args: argparse.Namespace) -> dict[str, Any]:
    # no --dataset: the pipeline function's own default dataset
    dataset = {} if args.dataset is None else {"dataset": args.dataset}
    return pipeline.run(
        **dataset,
        config=args.config,
        run_dir=args.run_dir,
        timesteps=args.timesteps,
        seeds=args.seeds,
        quick=args.quick,
        overrides=[*args.overrides, *(["report_only=true"] if args.report_only else [])],
        stop_after=args.stop_after,
    )


def _cmd_config(args: argparse.Namespace) -> int:
    import dataclasses

    import yaml

    from .engine.config import find_config, load_config, shipped_configs

    if args.action == "list":
        for name in shipped_configs():
            print(name)
        return 0
    from .pipelines.runner import read_with_parents

    data = read_with_parents(find_config(args.name))
    if "pipeline" in data:
        from .pipelines import PIPELINES

        pipeline = PIPELINES.get(str(data["pipeline"]))
        config = pipeline.load_config(path=args.name, overrides=args.overrides)
        shown = dataclasses.asdict(config)
    else:
        shown = load_config(args.name, args.overrides).to_dict()
    print(yaml.safe_dump(shown, sort_keys=False), end="")
    return 0


def _with_data_dir(args: argparse.Namespace) -> list[str]:
    """``--data-dir DIR`` is shorthand for the override ``data.data_dir=DIR``."""
    extra = [f"data.data_dir={args.data_dir}"] if args.data_dir else []
    return [*args.overrides, *extra]


def _cmd_download(args: argparse.Namespace) -> int:
    from .data.download import download

    for path in download(args.name, args.data_dir):
        print(f"ok {path}")
    return 0


def _cmd_data(args: argparse.Namespace) -> int:
    from .data.check import check_dataset

    report = check_dataset(args.name, args.split, args.data_dir)
    for result in report.splits:
        if result.ok:
            print(result.line(args.name))
        else:
            print(f"spikeforge: error: {result.line(args.name)}", file=sys.stderr)
    return 0 if report.ok else 2


def _write_json(data: dict, path: str | None) -> None:
    if path:
        import json

        with open(path, "w") as f:
            json.dump(data, f, indent=2, default=str)


def _cmd_bench(args: argparse.Namespace) -> int:
    module = importlib.import_module(BENCHMARKS[args.name])
    return int(module.main(args.rest) or 0)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("spikeforge")
    except PackageNotFoundError:  # run from a source tree that is not installed
        from . import __version__

        return __version__


def _pipeline_names() -> str:
    from .pipelines import PIPELINES

    return ", ".join(PIPELINES.names())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spikeforge", description="Train, convert, distill and measure spiking networks."
    )
    parser.add_argument("--version", action="version", version=f"spikeforge {_version()}")
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an error (for bug reports)"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list registered names")
    p.add_argument("kind", choices=sorted(LISTABLE))
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("demo", help="train a small conv SNN on the bundled digits")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="e.g. train.epochs=5")
    p.add_argument("--json", metavar="PATH", help="also write the result as JSON")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("train", help="train a model from a YAML config")
    p.add_argument("--config", help="YAML file or shipped config name (spikeforge config list)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run")
    p.add_argument(
        "--overwrite", action="store_true", help="replace train.run_name's directory if it exists"
    )
    p.add_argument("--data-dir", help="dataset folder (default: $SPIKEFORGE_DATA, shared data)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="e.g. optim.lr=0.01")
    p.add_argument("--json", metavar="PATH", help="also write the final metrics as JSON")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("eval", help="evaluate a checkpoint on its test set")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data-dir", help="dataset folder (default: $SPIKEFORGE_DATA, shared data)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    p.add_argument("--json", metavar="PATH")
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser("energy", help="operations and energy per inference of a checkpoint")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--samples", type=int, default=256, help="test samples to average over")
    p.add_argument("--preset", default="45nm", help="energy preset (45nm: 4.6 pJ MAC, 0.9 pJ AC)")
    p.add_argument("--json", metavar="PATH")
    p.set_defaults(func=_cmd_energy)

    p = sub.add_parser("export", help="write a checkpoint's model as NIR (spikeforge.export)")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--format", default="nir", choices=["nir"])
    p.add_argument("--dt", type=float, default=1.0, help="Euler step of the NIR ODEs (τ_N = τ·dt)")
    p.add_argument("--approximate", action="store_true", help="export a soft reset as hard (warns)")
    p.add_argument("out", help="file to write, e.g. model.nir")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("convert", help="convert an ANN checkpoint to an SNN: accuracy vs T")
    p.add_argument("--checkpoint", required=True, help="checkpoint of a train.method=ann run")
    p.add_argument("--dataset", help="dataset to calibrate and test on (default: the ANN's)")
    p.add_argument("--timesteps", type=int, nargs="+", default=[8, 16, 32, 64, 128, 256])
    p.add_argument("--calibration", default="percentile", choices=["percentile", "max"])
    p.add_argument("--percentile", type=float, default=99.9)
    p.add_argument("--per-channel", action="store_true", help="one threshold per channel")
    p.add_argument("--calibration-samples", type=int, default=1024)
    p.add_argument("--maxpool", default="avg", choices=["avg", "spiking", "error"])
    p.add_argument("--test-samples", type=int, help="evaluate on N test samples (seeded sample)")
    p.add_argument(
        "--energy-samples", type=int, default=32, help="test images for energy per T (0: skip)"
    )
    p.add_argument("--json", metavar="PATH")
    p.add_argument("--plot", metavar="PATH", help="write accuracy vs T as an SVG")
    p.set_defaults(func=_cmd_convert)

    p = sub.add_parser("report", help="write a self-contained HTML report of a run directory")
    p.add_argument("run_dir")
    p.add_argument("--out", help="output file (default RUN_DIR/report.html)")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("run", help="run a multi-stage pipeline (resumable)")
    p.add_argument("pipeline", help=f"a registered pipeline: {_pipeline_names()}")
    p.add_argument(
        "--dataset",
        help="picks the config NAME_<dataset> (default: the pipeline's own, e.g. lasnn "
        "digits, spikingbert sst2)",
    )
    p.add_argument("--config", help="pipeline YAML or shipped config name")
    p.add_argument("--timesteps", type=int, help="the students' T (default: the config's)")
    p.add_argument("--seeds", type=int, help="student seeds (mean ± std; default the config's)")
    p.add_argument("--run-dir", help="stage directory; re-run with it to resume")
    p.add_argument("--quick", action="store_true", help="few epochs per stage")
    p.add_argument("--stop-after", metavar="STAGE", help="end after this stage")
    p.add_argument(
        "--report-only",
        action="store_true",
        help="train nothing: table and report of the stages finished so far",
    )
    p.add_argument("--json", metavar="PATH", help="also write the table as JSON")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="e.g. student.train.epochs=4")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("config", help="list the shipped configs or show one resolved")
    p.add_argument("action", choices=["show", "list"])
    p.add_argument("name", nargs="?", help="shipped config name or YAML path (for show)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="merged before showing")
    p.set_defaults(func=_cmd_config)

    p = sub.add_parser("download", help="fetch a full-size dataset's official files (MD5-checked)")
    p.add_argument("name", help="mnist, fashion-mnist, cifar10, cifar100")
    p.add_argument("--data-dir", required=True, help="folder to put the files in")
    p.set_defaults(func=_cmd_download)

    p = sub.add_parser("data", help="check a dataset's files")
    data_sub = p.add_subparsers(dest="action", required=True)
    p = data_sub.add_parser(
        "check", help="read every sample once; name the first bad file (exit 2) or say all ok"
    )
    p.add_argument("name", help="a registered dataset (spikeforge list datasets)")
    p.add_argument("--data-dir", help="dataset folder (default: $SPIKEFORGE_DATA, shared data)")
    p.add_argument("--split", default="all", choices=["train", "test", "all"])
    p.set_defaults(func=_cmd_data)

    p = sub.add_parser("bench", help="benchmarks (neurons, parallel, variants)")
    p.add_argument("name", choices=sorted(BENCHMARKS))
    p.add_argument(
        "rest",
        nargs=argparse.REMAINDER,
        help="options of that benchmark, e.g. neurons --quick --device cuda",
    )
    p.set_defaults(func=_cmd_bench)
    return parser


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse; ``key=value`` and ``~key`` words anywhere on the line (also after options)
    are overrides of the commands that take them."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        overrides = [w for w in extra if ("=" in w or w.startswith("~")) and w[:1] != "-"]
        rest = [w for w in extra if w not in overrides]
        if rest or not hasattr(args, "overrides"):
            parser.error(f"unrecognized arguments: {' '.join(rest or extra)}")
        args.overrides = [*args.overrides, *overrides]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; expected errors become one line on stderr and exit code 2 (130 for
    an interrupt), never a traceback unless ``--debug``."""
    args = _parse(argv)
    if args.command == "config" and args.action == "show" and not args.name:
        print("spikeforge: error: config show needs a NAME or PATH", file=sys.stderr)
        return 2
    from .engine.distributed import DistributedError
    from .engine.trainer import TrainingError

    try:
        return args.func(args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("spikeforge: interrupted", file=sys.stderr)
        return 130
    except DistributedError as error:
        if args.debug:
            raise
        print(f"spikeforge: error: {error}", file=sys.stderr)
        # The backend's threads may still hold the operation that failed: a normal exit
        # can abort in their destructors ("terminate called without an active
        # exception", SIGABRT instead of exit code 2). Checkpoints are written; leave now.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(2)
    except (ValueError, TypeError, OSError, TrainingError) as error:
        if args.debug:
            raise
        print(f"spikeforge: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
