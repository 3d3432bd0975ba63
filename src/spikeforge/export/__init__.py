"""Leaving spikeforge: export a model to NIR and import a NIR graph (``pip install
'spikeforge[nir]'``); ``spikeforge export --checkpoint RUN/best.pt --format nir out.nir``.

The parameter mapping and what NIR cannot represent: :mod:`spikeforge.export.nir_graph`.
"""

from .checkpoint import export_checkpoint as export_checkpoint
from .modules import CubaLI as CubaLI
from .modules import NIRGraphModule as NIRGraphModule
from .nir_graph import NIRExportError as NIRExportError
from .nir_graph import to_nir as to_nir
from .nir_import import from_nir as from_nir
