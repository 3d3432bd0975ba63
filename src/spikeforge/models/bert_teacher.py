"""A small BERT-style transformer ANN: the teacher of SpikingBERT's distillation
(METHODS §12), trained by spikeforge on the task (CPU-sized by default).

Post-LayerNorm encoder as BERT: embeddings ``LN(word + position [+ token type])``; each layer
``h = LN(x + W_O·softmax(QKᵀ/√d_h + mask)·V)``, ``out = LN(h + W_2·GELU(W_1 h))``; a
pooler ``tanh(W_p·out[:, 0])`` and a linear classifier. The attention scores are taken
**before the softmax** (mask added, −10000 on padded keys) through an ``nn.Identity``
named ``score_hook`` in every attention (``layers[k].score_hook``), so a forward hook on it
sees them; :meth:`BertTeacher.forward` also returns them with every hidden state.

With ``type_vocab_size=2`` and ``layer_norm_eps=1e-12`` it is BERT's exact architecture
(GELU is the erf form, as BERT's ``"gelu"``), so a pretrained BERT's weights load into it
(:mod:`spikeforge.models.pretrained_bert`); the defaults (no token types, eps 1e-5) are
the small teacher trained from scratch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

MASK_VALUE = -10000.0


@dataclass
class TeacherOutput:
    """``logits [B, C]``; ``hidden``: ``L + 1`` tensors ``[B, L_tok, H]`` (embedding
    output, then each layer's); ``scores``: one pre-softmax ``[B, heads, L_tok, L_tok]`` per
    layer."""

    logits: torch.Tensor
    hidden: list[torch.Tensor]
    scores: list[torch.Tensor]


class TeacherLayer(nn.Module):
    """One post-LN transformer layer ``[B, L, H] -> [B, L, H]``."""

    def __init__(
        self, hidden: int, heads: int, intermediate: int, dropout: float, eps: float = 1e-5
    ) -> None:
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden ({hidden}) must be a multiple of heads ({heads})")
        self.heads, self.head_dim = heads, hidden // heads
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.score_hook = nn.Identity()  # sees the pre-softmax scores [B, heads, L, L]
        self.attn_out = nn.Linear(hidden, hidden)
        self.ln1 = nn.LayerNorm(hidden, eps=eps)
        self.fc1 = nn.Linear(hidden, intermediate)
        self.fc2 = nn.Linear(intermediate, hidden)
        self.ln2 = nn.LayerNorm(hidden, eps=eps)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask_add: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, n, h = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        scores = self.score_hook(q @ k.transpose(-1, -2) / math.sqrt(self.head_dim) + mask_add)
        context = (self.drop(torch.softmax(scores, -1)) @ v).transpose(1, 2).reshape(b, n, h)
        x = self.ln1(x + self.drop(self.attn_out(context)))
        x = self.ln2(x + self.drop(self.fc2(F.gelu(self.fc1(x)))))
        return x, scores


class BertTeacher(nn.Module):
    """BERT-style classifier; ``forward(tokens [B, L], mask [B, L]) -> TeacherOutput``.

    Args:
        max_len: position-embedding rows (the longest sequence).
        type_vocab_size: token-type (segment) embedding rows; 0: none (the small teacher).
        layer_norm_eps: every LayerNorm's epsilon (BERT: 1e-12).
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int = 2,
        hidden: int = 128,
        layers: int = 6,
        heads: int = 4,
        intermediate: int = 256,
        max_len: int = 64,
        dropout: float = 0.1,
        type_vocab_size: int = 0,
        layer_norm_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        if vocab_size < 1 or layers < 1 or max_len < 1:
            raise ValueError(
                f"vocab_size, layers, max_len must be >= 1, got {vocab_size}, {layers}, {max_len}"
            )
        self.max_len = max_len
        self.word = nn.Embedding(vocab_size, hidden, padding_idx=0)
        self.position = nn.Embedding(max_len, hidden)
        if type_vocab_size < 0:
            raise ValueError(f"type_vocab_size must be >= 0, got {type_vocab_size}")
        # only when asked: the small teacher's parameters (and checkpoints) stay as they were
        self.token_type = nn.Embedding(type_vocab_size, hidden) if type_vocab_size else None
        self.emb_norm = nn.LayerNorm(hidden, eps=layer_norm_eps)
        self.drop = nn.Dropout(dropout)
        self.layers = nn.ModuleList(
            TeacherLayer(hidden, heads, intermediate, dropout, layer_norm_eps)
            for _ in range(layers)
        )
        self.pooler = nn.Linear(hidden, hidden)
        self.classifier = nn.Linear(hidden, num_classes)
        self.apply(self._init)

    @staticmethod
    def _init(module: nn.Module) -> None:
        # BERT's initialisation: N(0, 0.02) weights, zero biases
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(
        self,
        tokens: torch.Tensor,
        mask: torch.Tensor | None = None,
        token_types: torch.Tensor | None = None,
    ) -> TeacherOutput:
        """``tokens [B, L]`` (int64), ``mask [B, L]`` (1 real, 0 padding; default all
        real), ``token_types [B, L]`` (segment ids; default all 0, one sentence)."""
        if tokens.dim() != 2 or tokens.dtype != torch.int64:
            raise ValueError(
                f"tokens must be int64 [B, L], got {tokens.dtype} {tuple(tokens.shape)}"
            )
        if tokens.shape[1] > self.max_len:
            raise ValueError(f"sequence length {tokens.shape[1]} exceeds max_len {self.max_len}")
        if mask is None:
            mask = torch.ones(tokens.shape, device=tokens.device)
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.word(tokens) + self.position(positions)
        if self.token_type is not None:
            if token_types is None:
                token_types = torch.zeros_like(tokens)
            elif token_types.shape != tokens.shape:
                raise ValueError(
                    f"token_types must match tokens {tuple(tokens.shape)}, "
                    f"got {tuple(token_types.shape)}"
                )
            x = x + self.token_type(token_types)
        elif token_types is not None:
            raise ValueError("token_types given, but this model has no token-type embeddings")
        x = self.drop(self.emb_norm(x))
        mask_add = (1.0 - mask.to(x.dtype))[:, None, None, :] * MASK_VALUE
        hidden, scores = [x], []
        for layer in self.layers:
            x, s = layer(x, mask_add)
            hidden.append(x)
            scores.append(s)
        logits = self.classifier(torch.tanh(self.pooler(x[:, 0])))
        return TeacherOutput(logits, hidden, scores)
