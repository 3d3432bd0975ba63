"""The spike nonlinearity: Heaviside forward, surrogate derivative backward.

It lives with the surrogates (:func:`spikeforge.surrogates.spike`), at the bottom of the
package, so that ``surrogates`` imports nothing of ``functional``; the dynamics import it
from here.
"""

from __future__ import annotations

from ..surrogates import spike as spike

__all__ = ["spike"]
