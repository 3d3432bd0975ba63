import torch

from spikeforge.functional import LIFParameters, li_sequence, li_step


def test_leaky_and_pure_integrator_golden():
    x = torch.tensor([2.0, 2.0, 0.0], dtype=torch.float64).view(3, 1)
    v, _ = li_sequence(x, None, LIFParameters(inv_tau=0.5))
    assert v.flatten().tolist() == [1.0, 1.5, 0.75]
    v, state = li_sequence(x, None, LIFParameters(charge="if"))
    assert v.flatten().tolist() == [2.0, 4.0, 4.0]  # infinite threshold: never resets
    out, st = li_step(torch.tensor([1.0], dtype=torch.float64), state, LIFParameters(charge="if"))
    assert out.item() == 5.0 and st.v.item() == 5.0
