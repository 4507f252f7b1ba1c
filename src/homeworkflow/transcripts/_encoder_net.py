"""The torch parts of the encoder detector (imported only when it is used): the frozen lower
layers, the fine-tuned upper layers with their heads, one training epoch and scoring."""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn


def _additive_mask(attention: torch.Tensor) -> torch.Tensor:
    """(batch, tokens) 0/1 mask -> (batch, 1, 1, tokens) additive mask for BERT layers."""
    return (1.0 - attention[:, None, None, :].float()) * torch.finfo(torch.float32).min


def _run_layers(layers, hidden: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
    mask = _additive_mask(attention)
    for layer in layers:
        out = layer(hidden, attention_mask=mask)
        hidden = out[0] if isinstance(out, tuple) else out
    return hidden


@torch.inference_mode()
def frozen_forward(base, token_ids: list[list[int]], utterance_len: list[int], n_frozen: int) -> list[torch.Tensor]:
    """Output of the embeddings and the lowest `n_frozen` layers, one float16 (tokens x hidden)
    tensor per input (padding removed)."""
    width = max(len(ids) for ids in token_ids)
    ids = torch.zeros(len(token_ids), width, dtype=torch.long)
    types = torch.zeros_like(ids)
    attention = torch.zeros_like(ids)
    for i, (row, n) in enumerate(zip(token_ids, utterance_len, strict=True)):
        ids[i, : len(row)] = torch.tensor(row)
        types[i, n : len(row)] = 1
        attention[i, : len(row)] = 1
    hidden = base.embeddings(input_ids=ids, token_type_ids=types)
    hidden = _run_layers(base.encoder.layer[:n_frozen], hidden, attention)
    return [hidden[i, : len(row)].to(torch.float16).clone() for i, row in enumerate(token_ids)]


class TopNetwork(nn.Module):
    """Copies of the upper encoder layers and three heads on [mean(utterance), mean(context)]."""

    def __init__(self, base, n_frozen: int, n_behaviours: int, n_subtypes: int):
        super().__init__()
        self.layers = nn.ModuleList(copy.deepcopy(layer) for layer in base.encoder.layer[n_frozen:])
        width = 2 * base.config.hidden_size
        self.heads = nn.ModuleDict(
            {
                "shared": nn.Sequential(nn.Dropout(0.1), nn.Linear(width, 256), nn.GELU(), nn.Dropout(0.1)),
                "target": nn.Linear(256, 1),
                "behaviour": nn.Linear(256, n_behaviours),
                "subtype": nn.Linear(256, n_subtypes),
            }
        )

    def forward(self, hidden: torch.Tensor, attention: torch.Tensor, utterance: torch.Tensor) -> dict:
        hidden = _run_layers(self.layers, hidden, attention)
        context = attention.float() - utterance.float()
        pooled = torch.cat([_mean(hidden, utterance.float()), _mean(hidden, context)], dim=1)
        shared = self.heads["shared"](pooled)
        return {name: self.heads[name](shared) for name in ("target", "behaviour", "subtype")}


def _mean(hidden: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    return (hidden * weights[:, :, None]).sum(1) / weights.sum(1, keepdim=True).clamp(min=1.0)


def _batch(states: list[torch.Tensor], utterance_len: np.ndarray):
    width = max(len(s) for s in states)
    hidden = torch.zeros(len(states), width, states[0].shape[1])
    attention = torch.zeros(len(states), width)
    utterance = torch.zeros(len(states), width)
    for i, (state, n) in enumerate(zip(states, utterance_len, strict=True)):
        hidden[i, : len(state)] = state.float()
        attention[i, : len(state)] = 1
        utterance[i, :n] = 1
    return hidden, attention, utterance


def _length_batches(lengths: np.ndarray, size: int, rng: np.random.Generator | None) -> list[np.ndarray]:
    """Batches of similar length (little padding); shuffled within and across when `rng` is given."""
    order = np.argsort(lengths + (rng.random(len(lengths)) * 8 if rng is not None else 0), kind="stable")
    batches = [order[i : i + size] for i in range(0, len(order), size)]
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def train_epoch(network, optimiser, schedule, states, utterance_len, targets, rows, settings, rng) -> float:
    """One pass over `rows` (positions into states/targets); returns the mean loss."""
    network.train()
    lengths = np.array([len(states[i]) for i in rows])
    total, n = 0.0, 0
    soft = torch.from_numpy(targets.get("ar_share", targets["label"]))
    for batch in _length_batches(lengths, settings.batch_size, rng):
        index = rows[batch]
        hidden, attention, utterance = _batch([states[i] for i in index], utterance_len[index])
        out = network(hidden, attention, utterance)
        loss = nn.functional.binary_cross_entropy_with_logits(out["target"][:, 0], soft[index])
        for name in ("behaviour", "subtype"):
            if name in targets:
                known = torch.from_numpy(targets[f"{name}_known"][index])
                if known.any():
                    log_p = torch.log_softmax(out[name][known], dim=1)
                    aux = -(torch.from_numpy(targets[name][index])[known] * log_p).sum(1).mean()
                    loss = loss + settings.aux_weight * aux
        optimiser.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(network.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        total, n = total + float(loss.detach()) * len(index), n + len(index)
    return total / max(n, 1)


@torch.inference_mode()
def predict_scores(network, states: list[torch.Tensor], utterance_len: np.ndarray) -> np.ndarray:
    """Sigmoid of the target head per input."""
    network.eval()
    out = np.zeros(len(states))
    if not len(states):
        return out
    lengths = np.array([len(s) for s in states])
    for batch in _length_batches(lengths, 128, None):
        hidden, attention, utterance = _batch([states[i] for i in batch], utterance_len[batch])
        out[batch] = torch.sigmoid(network(hidden, attention, utterance)["target"][:, 0]).numpy()
    return out
