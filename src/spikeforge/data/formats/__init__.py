"""File-format parsers: pure functions from a path (or bytes) to numpy arrays.

A file that is empty, truncated or garbled raises
:class:`~spikeforge.data.errors.DataFileError` (a ``ValueError``) naming the file and
what is wrong with it, never a bare ``EOFError`` or ``struct.error``.
"""

from .aedat2 import read_aedat2 as read_aedat2
from .aedat3 import read_aedat3 as read_aedat3
from .aedat4 import Aedat4File as Aedat4File
from .aedat4 import read_aedat4 as read_aedat4
from .cifar_pickle import read_cifar_batch as read_cifar_batch
from .event_npz import read_event_npz as read_event_npz
from .idx import read_idx as read_idx
from .image_folder import list_image_folder as list_image_folder
from .image_folder import read_image as read_image
from .mnist_csv import read_mnist_csv as read_mnist_csv
from .nmnist_bin import read_nmnist_bin as read_nmnist_bin
from .prophesee_dat import read_prophesee_dat as read_prophesee_dat
from .shd_h5 import read_shd as read_shd
from .stmnist_mat import read_stmnist_mat as read_stmnist_mat
from .wav import read_wav as read_wav
