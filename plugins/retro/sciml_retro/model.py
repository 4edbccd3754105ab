"""Expansion policy and in-scope filter networks of 3N-MCTS (Segler & Waller, Nature 555, 604, 2018).

* Expansion policy ``p(t | m)``: an MLP from the product's Morgan fingerprint (radius 2, ``n_bits``
  bits) to a softmax over the template library (templates with >= K training occurrences):
  ``h = ELU(W1 x + b1)``, dropout, ``p = softmax(W2 h + b2)``; trained by cross-entropy on
  (product, template) pairs of known reactions.
* In-scope filter ``f(m, r)``: the product fingerprint and the reaction (difference) fingerprint go
  through one dense ELU layer each; the feasibility logit is a scaled cosine similarity of the two
  embeddings, ``sigmoid(s * cos(u, v) + b)``; trained by binary cross-entropy with the recorded
  reactions as positives and outcomes of applying other templates to the same products as negatives.

The model keeps its template library in a buffer, so a saved ``state_dict`` is self-contained for
``sciml retro plan``.
"""

from __future__ import annotations

from typing import Any

import sciml
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn


class RetroPolicy(nn.Module):
    """Expansion policy (+ optional in-scope filter) network.

    Batches (dicts from :class:`sciml_retro.dataset.RetroDataset`):
        ``fp`` (batch, n_bits) float32 product fingerprints; ``template`` (batch,) int64 library
        index or -1 (ignored in the loss); ``filter_x`` (batch, n_bits) reaction fingerprints,
        ``filter_fp`` (batch, n_bits) their product fingerprints, ``filter_y`` (batch,) float32 0/1.
    """

    class Config(sciml.ComponentConfig):
        hidden_size: int = Field(512, ge=8, le=8192, description="width of the policy's hidden layer (units)")
        n_layers: int = Field(1, ge=1, le=4, description="hidden layers of the policy MLP")
        dropout: float = Field(0.2, ge=0.0, lt=1.0, description="dropout probability after each hidden layer")
        filter_hidden: int = Field(256, ge=8, le=4096, description="embedding width of the in-scope filter")
        filter_weight: float = Field(1.0, ge=0.0, description="weight of the filter's BCE in the loss; 0 trains no filter")

    def __init__(self, config: Config, metadata: dict[str, Any]):
        super().__init__()
        self.config = config
        self.n_bits = int(metadata["n_bits"])
        self.radius = int(metadata.get("radius", 2))
        self.templates: list[str] = list(metadata.get("templates", []))
        # per template: the training reactions it came from, [[id, "reactants>>product"], ...] (route precedents)
        self.precedents: list[list[list[str]]] = [list(p) for p in metadata.get("precedents", [])]
        n_templates = int(metadata["n_templates"])
        if n_templates < 1:
            raise sciml.UserError(
                "the template library is empty; lower dataset.template_min_count or give more reactions"
            )
        layers: list[nn.Module] = []
        width = self.n_bits
        for _ in range(config.n_layers):
            layers += [nn.Linear(width, config.hidden_size), nn.ELU(), nn.Dropout(config.dropout)]
            width = config.hidden_size
        layers.append(nn.Linear(width, n_templates))
        self.policy = nn.Sequential(*layers)
        self.filter_product = nn.Sequential(nn.Linear(self.n_bits, config.filter_hidden), nn.ELU())
        self.filter_reaction = nn.Sequential(nn.Linear(self.n_bits, config.filter_hidden), nn.ELU())
        self.filter_scale = nn.Parameter(torch.tensor(5.0))
        self.filter_bias = nn.Parameter(torch.tensor(0.0))
        self._store_templates()

    # -- state that travels with the weights ------------------------------------------------------
    # The template library is kept as a uint8 buffer (UTF-8 JSON) so a bare state_dict is
    # self-contained and every state entry is a tensor.
    def _store_templates(self) -> None:
        import json

        lib = {"templates": self.templates, "n_bits": self.n_bits, "radius": self.radius}
        if self.precedents:
            lib["precedents"] = self.precedents
        raw = json.dumps(lib).encode()
        self.register_buffer("template_library", torch.tensor(list(raw), dtype=torch.uint8))

    @staticmethod
    def decode_library(buffer: torch.Tensor) -> dict:
        """``{"templates", "n_bits", "radius"[, "precedents"]}`` from the ``template_library`` buffer of a state
        dict."""
        import json

        return json.loads(bytes(buffer.to(torch.uint8).tolist()).decode())

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # The library buffer's length is that of its JSON text: a checkpoint whose library carries precedents
        # (or not) loads into a model built from other metadata; templates and precedents follow the checkpoint.
        key = prefix + "template_library"
        if key in state_dict and state_dict[key].shape != self.template_library.shape:
            self.template_library = torch.empty_like(state_dict[key], dtype=torch.uint8)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        if key in state_dict:
            lib = self.decode_library(state_dict[key])
            self.templates = list(lib.get("templates", self.templates))
            self.precedents = [list(p) for p in lib.get("precedents", self.precedents)]

    # -- networks ---------------------------------------------------------------------------------
    def forward(self, fp: torch.Tensor) -> torch.Tensor:
        """Policy logits, shape (batch, n_templates), from fingerprints (batch, n_bits)."""
        return self.policy(fp)

    def feasibility_logit(self, product_fp: torch.Tensor, reaction_fp: torch.Tensor) -> torch.Tensor:
        """In-scope filter logit, shape (batch,), from (batch, n_bits) product and reaction fingerprints."""
        u = self.filter_product(product_fp)
        v = self.filter_reaction(reaction_fp)
        return self.filter_scale * F.cosine_similarity(u, v, dim=-1) + self.filter_bias

    # -- training (contract of sciml:default) ------------------------------------------------------
    def _losses(self, batch):
        logits = self(batch["fp"])
        target = batch["template"]
        out = {}
        has = target >= 0
        if has.any():
            loss = F.cross_entropy(logits[has], target[has])
            top1 = (logits[has].argmax(-1) == target[has]).float().mean()
            top10 = (logits[has].topk(min(10, logits.shape[-1]), -1).indices == target[has, None]).any(-1).float().mean()
        else:
            loss = logits.sum() * 0.0
            top1 = top10 = torch.tensor(0.0)
        out["policy_loss"] = loss.detach()
        out["top1"] = top1.detach()
        out["top10"] = top10.detach()
        if self.config.filter_weight > 0 and "filter_x" in batch:
            flog = self.feasibility_logit(batch["filter_fp"], batch["filter_x"])
            fl = F.binary_cross_entropy_with_logits(flog, batch["filter_y"])
            out["filter_loss"] = fl.detach()
            out["filter_accuracy"] = ((flog > 0).float() == batch["filter_y"]).float().mean()
            loss = loss + self.config.filter_weight * fl
        out["loss"] = loss
        return out

    def training_step(self, batch, epoch: int) -> dict:
        return self._losses(batch)

    def validation_step(self, batch, epoch: int) -> dict:
        return self._losses(batch)

