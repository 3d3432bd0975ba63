"""TinyBERT-style distillation into SpikingBERT: layer mapping, −100 masking, the loss
definitions, the teacher kept out of training, and the text training loop."""

import pytest
import torch

from spikeforge.data.datasets.sst2 import TextDataset
from spikeforge.data.text import WordTokenizer, make_text_loader
from spikeforge.methods.distill.spikingbert import (
    SpikingBertDistiller,
    attention_loss,
    evaluate,
    group_heads,
    hidden_loss,
    layer_map,
    mask_scores,
    soft_cross_entropy,
    train_epoch,
)
from spikeforge.models.bert_teacher import BertTeacher
from spikeforge.models.spiking_bert import SpikingBert

pytestmark = pytest.mark.usefixtures("one_thread")


def models():
    torch.manual_seed(0)
    student = SpikingBert(20, hidden=8, layers=2, heads=2, intermediate=12, max_len=8, t_conv=4)
    teacher = BertTeacher(20, hidden=12, layers=6, heads=2, intermediate=16, max_len=8)
    return student, teacher


def test_layer_mapping_is_three_to_one_and_checked():
    assert layer_map(2, 6) == [0, 3, 6]
    assert layer_map(4, 12) == [0, 3, 6, 9, 12]
    assert layer_map(3, 3) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="multiple of student layers"):
        layer_map(4, 6)


def test_scores_at_or_below_minus_100_are_zeroed_in_both():
    s = torch.tensor([-10000.0, -100.0, -99.99, 0.5, -3.0])
    assert torch.equal(mask_scores(s), torch.tensor([0.0, 0.0, -99.99, 0.5, -3.0]))
    student = [torch.tensor([[1.0, -10000.0]]), torch.tensor([[2.0, -10005.0]])]
    teacher = (
        [torch.tensor([[0.0, -10000.0]])] * 2
        + [torch.tensor([[3.0, -9000.0]])]
        + [torch.tensor([[9.0, 9.0]])] * 2
        + [torch.tensor([[0.0, -10000.0]])]
    )
    # student layer 1 <-> teacher layer 3 (index 2), layer 2 <-> teacher layer 6 (index 5)
    loss = attention_loss(student, teacher, layer_map(2, 6))
    expected = ((1.0 - 3.0) ** 2 + 0.0) / 2 + ((2.0 - 0.0) ** 2 + 0.0) / 2
    assert loss.item() == pytest.approx(expected)


def test_teacher_heads_are_averaged_in_groups_onto_fewer_student_heads():
    t = torch.arange(2 * 6 * 2 * 2, dtype=torch.float64).reshape(2, 6, 2, 2)
    grouped = group_heads(t, 2)  # teacher heads 0-2 -> student head 0, 3-5 -> 1
    assert grouped.shape == (2, 2, 2, 2)
    torch.testing.assert_close(grouped[:, 0], (t[:, 0] + t[:, 1] + t[:, 2]) / 3)
    torch.testing.assert_close(grouped[:, 1], (t[:, 3] + t[:, 4] + t[:, 5]) / 3)
    assert torch.equal(group_heads(t, 6), t)
    with pytest.raises(
        ValueError, match=r"teacher heads \(6\) must be a multiple of student heads \(4\)"
    ):
        group_heads(t, 4)
    # one layer each, 3 teacher heads onto 1 student head, key 1 masked (−10000) in both:
    # the teacher's masked entries become 0 before the mean, the student's too
    student = [torch.tensor([[[[1.0, -10000.0]]]])]
    teacher = [torch.tensor([[[[0.0, -10000.0]], [[3.0, -9999.0]], [[6.0, -10001.0]]]])]
    loss = attention_loss(student, teacher, layer_map(1, 1))
    assert loss.item() == pytest.approx(((1.0 - 3.0) ** 2 + 0.0) / 2)
    with pytest.raises(ValueError, match="teacher heads a multiple of student heads"):
        attention_loss([torch.zeros(1, 2, 1, 2)], [torch.zeros(1, 3, 1, 2)], layer_map(1, 1))


def test_hidden_loss_projects_the_student_to_the_mapped_teacher_layer():
    projection = torch.nn.Linear(2, 3, bias=False)
    with torch.no_grad():
        projection.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    student = [torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 1.0]])]
    teacher = [torch.tensor([[1.0, 2.0, 0.0]]), torch.zeros(1, 3), torch.tensor([[0.0, 1.0, 1.0]])]
    loss = hidden_loss(student, teacher, [0, 2], projection)
    assert loss.item() == pytest.approx(9.0 / 3 + 0.0)  # (3 - 0)² over 3 entries; exact match


def test_soft_cross_entropy_is_a_mean_over_batch_and_classes():
    z_s = torch.tensor([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    z_t = torch.tensor([[0.3, 0.1, 2.0], [1.0, 1.0, 1.0]])
    p_t = torch.softmax(z_t, -1)
    total = -(p_t * torch.log_softmax(z_s, -1)).sum()
    assert soft_cross_entropy(z_s, z_t).item() == pytest.approx(total.item() / 6)
    tau = 2.0
    total = -(torch.softmax(z_t / tau, -1) * torch.log_softmax(z_s / tau, -1)).sum()
    assert soft_cross_entropy(z_s, z_t, tau).item() == pytest.approx(total.item() / 6)


def test_the_teacher_gets_no_gradient_and_does_not_change(generator):
    student, teacher = models()
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    tokens = torch.randint(4, 20, (3, 5), generator=generator)
    mask = torch.ones(3, 5)
    labels = torch.tensor([0, 1, 1])
    for stage in ("internal", "prediction"):
        distiller = SpikingBertDistiller(student, teacher, stage)
        optimizer = torch.optim.SGD([p for p in distiller.parameters() if p.requires_grad], lr=0.5)
        loss, _ = distiller.loss(tokens, mask, labels)
        loss.backward()
        optimizer.step()
        assert all(p.grad is None and not p.requires_grad for p in teacher.parameters())
        assert not teacher.training  # dropout off: a fixed target
        assert student.layers[0].key.weight.grad.abs().sum() > 0
        if stage == "internal":  # W_Td learns in the internal-layer stage
            assert distiller.projection.weight.grad.abs().sum() > 0
        student.zero_grad()
    assert all(torch.equal(before[k], v) for k, v in teacher.state_dict().items())
    # the teacher is not part of the distiller's parameters or state
    assert not any(k.startswith("teacher") for k in distiller.state_dict())


def test_stage_needs_a_teacher_and_a_known_name():
    student, _ = models()
    with pytest.raises(ValueError, match="teacher=None"):
        SpikingBertDistiller(student, None, "internal")
    with pytest.raises(ValueError, match="stage"):
        SpikingBertDistiller(student, None, "general")


def test_training_lowers_the_loss_and_evaluate_reports_rates(generator):
    torch.manual_seed(0)
    student = SpikingBert(
        20, hidden=8, layers=2, heads=2, intermediate=12, max_len=8, t_conv=4, pool="mean"
    )
    texts = ["good fun", "bad dull", "fun good fun", "dull bad", "good", "bad"] * 4
    labels = [1, 0, 1, 0, 1, 0] * 4
    tokenizer = WordTokenizer.build(texts, max_len=8)
    data = TextDataset(texts, labels, tokenizer, ["neg", "pos"])
    loader = make_text_loader(data, 6, shuffle=True)
    distiller = SpikingBertDistiller(student, None, "supervised")
    optimizer = torch.optim.Adam(student.parameters(), lr=0.01)
    first = train_epoch(distiller, loader, optimizer)["ce"]
    for epoch in range(1, 15):
        loader.batch_sampler.set_epoch(epoch)
        last = train_epoch(distiller, loader, optimizer)["ce"]
    assert last < first
    result = evaluate(student, make_text_loader(data, 8, shuffle=False), t_conv=8)
    assert result["accuracy"] > 0.9 and result["t_conv"] == 8 and student.t_conv == 4
    assert 0 < result["firing_rate"] < 1 and result["energy_ratio"] > 0
    assert set(result["firing_rates"]) >= {"emb", "l1.output"}
