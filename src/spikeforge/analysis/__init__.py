"""Analysis: activity monitors (energy and reports build on these)."""

from .activity import ActivityMonitor as ActivityMonitor
from .activity import successive_ssim as successive_ssim
from .energy import ENERGY_PRESETS as ENERGY_PRESETS
from .energy import EnergyPreset as EnergyPreset
from .energy import EnergyReport as EnergyReport
from .energy import estimate_energy as estimate_energy
from .inference import measure_inference as measure_inference
from .monitors import FiringRateMonitor as FiringRateMonitor
from .monitors import spiking_layers as spiking_layers
from .ops import OpCounts as OpCounts
from .ops import count_operations as count_operations
from .report import render_report as render_report
from .report import write_report as write_report
from .ssim import ssim as ssim
