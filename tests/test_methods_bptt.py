import pytest
import torch
import torch.nn.functional as F
from torch import nn

from spikeforge.methods import BPTT, METHODS


def test_bptt_loss_is_the_objective_on_the_model_output():
    model = nn.Identity()
    out = torch.randn(3, 4, 5)
    y = torch.tensor([0, 1, 2, 3])
    terms = BPTT("ce_membrane")(model, out, y)
    torch.testing.assert_close(terms["loss"], F.cross_entropy(out.mean(0), y))
    assert terms["output"] is out
    assert "bptt" in METHODS.names()
    with pytest.raises(ValueError, match="unknown objective"):
        BPTT("nope")
