"""The BERT-style teacher: pre-softmax scores reachable by a hook, masking, shapes."""

import math

import pytest
import torch

from spikeforge.models.bert_teacher import BertTeacher

pytestmark = pytest.mark.usefixtures("one_thread")


def test_outputs_and_hooked_scores_are_pre_softmax(generator):
    torch.manual_seed(0)
    model = BertTeacher(25, hidden=8, layers=3, heads=2, intermediate=12, max_len=6).eval()
    tokens = torch.randint(4, 25, (2, 5), generator=generator)
    mask = torch.tensor([[1.0, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    hooked = []
    handle = model.layers[1].score_hook.register_forward_hook(lambda m, i, o: hooked.append(o))
    out = model(tokens, mask)
    handle.remove()
    assert out.logits.shape == (2, 2) and len(out.hidden) == 4 and len(out.scores) == 3
    assert torch.equal(hooked[0], out.scores[1]) and out.scores[1].shape == (2, 2, 5, 5)
    # recompute layer 1's scores by hand from its input: Q·Kᵀ/√d_h, then the mask
    layer, x = model.layers[1], out.hidden[1]
    q, k, _ = layer.qkv(x).split(8, -1)
    q, k = (t.view(2, 5, 2, 4).transpose(1, 2) for t in (q, k))
    expected = q @ k.transpose(-1, -2) / math.sqrt(4)
    expected[0, :, :, 3:] += -10000.0
    torch.testing.assert_close(out.scores[1], expected)
    assert torch.all(out.scores[1][0, :, :, 3:] <= -100)  # masked keys: below TinyBERT's cut
    # padding cannot reach real positions: other padded tokens, the same real outputs
    changed = tokens.clone()
    changed[0, 3:] = 7
    again = model(changed, mask)
    torch.testing.assert_close(again.hidden[-1][0, :3], out.hidden[-1][0, :3])


def test_bad_input_is_refused():
    model = BertTeacher(10, hidden=8, layers=1, heads=2, intermediate=8, max_len=4)
    with pytest.raises(ValueError, match="int64"):
        model(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="max_len"):
        model(torch.zeros(1, 5, dtype=torch.int64))
    with pytest.raises(ValueError, match="multiple of heads"):
        BertTeacher(10, hidden=9, heads=2)
