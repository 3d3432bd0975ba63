"""Training engine: the one layer that turns configs and checkpoints into objects —
config, builders, pretrained ANNs and the ``converted`` model, the trainer loop, atomic
checkpoints, run logs."""

from . import pretrained as pretrained  # registers model "converted"
from .build import build_datasets as build_datasets
from .build import build_model as build_model
from .checkpoint import CheckpointError as CheckpointError
from .checkpoint import load_checkpoint as load_checkpoint
from .checkpoint import save_checkpoint as save_checkpoint
from .config import Config as Config
from .config import load_config as load_config
from .method import build_method as build_method
from .trainer import Trainer as Trainer
from .trainer import TrainingError as TrainingError
