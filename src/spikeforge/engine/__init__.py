"""Training engine: config, builders, the trainer loop, atomic checkpoints, run logs."""

from .build import build_datasets as build_datasets
from .build import build_method as build_method
from .build import build_model as build_model
from .checkpoint import CheckpointError as CheckpointError
from .checkpoint import load_checkpoint as load_checkpoint
from .checkpoint import save_checkpoint as save_checkpoint
from .config import Config as Config
from .config import load_config as load_config
from .trainer import Trainer as Trainer
from .trainer import TrainingError as TrainingError
