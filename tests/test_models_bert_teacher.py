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


def test_bert_options_token_types_and_layer_norm_eps(generator):
    torch.manual_seed(0)
    model = BertTeacher(25, hidden=8, layers=1, heads=2, intermediate=12, max_len=6,
                        dropout=0.0, type_vocab_size=2, layer_norm_eps=1e-12).eval()  # fmt: skip
    norms = [m for m in model.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert len(norms) == 3 and all(m.eps == 1e-12 for m in norms)
    tokens = torch.randint(4, 25, (1, 5), generator=generator)
    types = torch.tensor([[0, 0, 1, 1, 1]])
    out = model(tokens, token_types=types)
    # the embedding output by hand: LN(word + position + token type), eps 1e-12
    x = model.word.weight[tokens] + model.position.weight[:5] + model.token_type.weight[types]
    w, b = model.emb_norm.weight, model.emb_norm.bias
    torch.testing.assert_close(out.hidden[0], torch.nn.functional.layer_norm(x, (8,), w, b, 1e-12))
    zeros = torch.zeros_like(tokens)
    torch.testing.assert_close(
        model(tokens).hidden[-1], model(tokens, token_types=zeros).hidden[-1]
    )
    assert not torch.allclose(out.hidden[-1], model(tokens).hidden[-1])
    # float64: the gradient through the whole model reaches the token-type table exactly
    model.double()

    def logits(table):
        params = {"token_type.weight": table}
        return torch.func.functional_call(model, params, (tokens,), {"token_types": types}).logits

    table = model.token_type.weight.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(logits, (table,))
    with pytest.raises(ValueError, match=r"token_types must match tokens \(1, 5\), got \(1, 4\)"):
        model(tokens, token_types=types[:, :4])


def test_the_small_teacher_is_unchanged_by_the_bert_options():
    # no token-type table unless asked, eps 1e-5: the small teacher's checkpoints still load
    torch.manual_seed(0)
    small = BertTeacher(10, hidden=8, layers=1, heads=2, intermediate=8, max_len=4)
    assert small.token_type is None and small.emb_norm.eps == 1e-5
    assert not any("token_type" in k for k in small.state_dict())
    with pytest.raises(ValueError, match="no token-type embeddings"):
        small(
            torch.zeros(1, 3, dtype=torch.int64), token_types=torch.zeros(1, 3, dtype=torch.int64)
        )
    with pytest.raises(ValueError, match="type_vocab_size must be >= 0"):
        BertTeacher(10, hidden=8, type_vocab_size=-1)
