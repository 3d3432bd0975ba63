"""Meanings of the config keys whose field in ``engine/config.py`` carries no comment.

The config reference (``docs/docgen.py``) joins a field's own comment with the note
here. ``tests/test_docs.py`` fails when a key has neither or a note names no key, so
this table cannot drift from the dataclasses. Better still: move a note into a comment
beside its field and delete it here.
"""

NOTES: dict[str, str] = {
    "data.name": "registered dataset (`spikeforge list datasets`)",
    "data.data_dir": "folder searched for the dataset's files first; null: "
    "`$SPIKEFORGE_DATA`, then a `shared/data` folder above the package or working directory",
    "data.batch_size": "training batch size B",
    "data.eval_batch_size": "batch size when evaluating (no gradients, so larger)",
    "data.timesteps": "T, the steps each static sample is presented for (the encoder's T)",
    "data.encoder_options": "keyword options of the encoder (`spikeforge list encoders`)",
    "model.name": "registered model (`spikeforge list models`)",
    "model.neuron": "registered neuron put into the model (`spikeforge list neurons`)",
    "model.neuron_kwargs": "keyword options of every neuron of the model, e.g. `{tau: 2.0}`",
    "model.decoder_options": "keyword options of `model.decoder`",
    "optim.name": "optimiser",
    "optim.lr": "peak learning rate",
    "optim.weight_decay": "weight decay of the optimiser",
    "optim.momentum": "SGD's momentum (unused by adamw)",
    "optim.schedule": "learning rate per step after the warm-up: cosine decay to 0, or constant",
    "optim.warmup_epochs": "epochs (fractions allowed) of linear warm-up from 0 to `optim.lr`",
    "optim.label_smoothing": "label smoothing of the cross-entropy objectives",
    "train.epochs": "passes over the training set",
    "train.seed": "seed of the weights' initialisation, batch order and encoders",
    "train.method": "training method (`spikeforge list methods`): bptt, ann, sltt, ottt, ...",
    "train.objective": "loss on the output activity `[T, B, C]` (`spikeforge list objectives`)",
    "train.run_dir": "folder the run directory is made in",
    "train.run_name": "run directory's name; null: `<dataset>-<model>-<timestamp>`",
    "train.early_stopping_patience": "stop after this many evaluations without a better "
    "test accuracy; null: never",
    "train.eval_every": "evaluate the test set after every N-th epoch and after the last; "
    "training does not depend on it",
    "train.deterministic": "seed torch with `train.seed` at the start of a fresh run",
}
