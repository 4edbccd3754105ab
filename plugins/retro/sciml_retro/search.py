"""Monte Carlo tree search over AND-OR synthesis states (3N-MCTS, Segler & Waller, Nature 555, 604, 2018).

A tree node is an AND state: the set of molecules that still have to be made (all of them). Its
children are OR alternatives: the precursor sets of the retro templates the expansion policy ranks
highest for the node's *selected* molecule (the open molecule with the most heavy atoms). A state is
solved when every open molecule is in stock. One iteration:

1. **Selection** — from the root, follow the child maximising the PUCT score of the paper
   (their eq. in "Methods, MCTS")::

       a* = argmax_a  Q(s, a) + c · P(a | s) · sqrt(N(s)) / (1 + N(s, a)),   Q = W / N

   with ``P`` the expansion policy's probability of the template and ``c`` the UCT constant.
2. **Expansion** — the top ``expansion_top_k`` templates (stopping once their cumulative probability
   reaches ``expansion_cum_prob``) are applied with rdchiral; the optional in-scope filter network
   drops precursor sets with feasibility < ``filter_threshold``.
3. **Evaluation** — reward 1 for a solved state; otherwise a rollout of ``rollout_depth`` steps that
   samples templates from the policy (seeded) and scores the fraction of molecules in stock at its end
   (partial reward); 0 for a dead end (no applicable template, or ``max_depth`` reactions reached).
4. **Backup** — ``N += 1``, ``W += reward`` along the path.

Limits: ``time_limit`` (s), ``max_iterations``, ``max_depth`` (reactions on a route); the search stops
early after ``max_routes`` solutions. The target itself never counts as in stock (a target found in the
stock would be "solved" by a 0-step route), unless ``keep_target_in_stock`` is set. With an iteration limit the search is deterministic for a seed.
Routes are ranked by (number of reactions ascending, product of template priors descending).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from sciml_retro.chem import heavy_atoms, inchikey, morgan_fingerprint, reaction_fingerprint
from sciml_retro.route import Route, build_route
from sciml_retro.stock import Stock
from sciml_retro.templates import apply_template


@dataclass
class SearchConfig:
    """Search settings (units in the names): see the module doc for their role."""

    time_limit: float = 5.0
    max_iterations: int = 100_000
    max_depth: int = 10
    max_routes: int = 5
    c_puct: float = 1.5
    expansion_top_k: int = 50
    expansion_cum_prob: float = 0.995
    rollout_depth: int = 0
    use_filter: bool = False
    filter_threshold: float = 0.5
    seed: int = 0
    keep_target_in_stock: bool = False


class Expander:
    """Ranks and applies templates for one molecule: ``expand(smiles) -> [(template_idx, prior, precursors)]``.

    ``policy(fp) -> probabilities`` maps a (n_bits,) fingerprint to (n_templates,) probabilities;
    ``feasibility(product, precursors) -> float`` is the optional in-scope filter. ``precedents`` (optional):
    per template, the ``[id, reaction SMILES]`` training reactions it came from (copied into the routes).
    ``allowed`` (optional bool mask, shape ``(n_templates,)``): only these templates are applied; the policy's
    probabilities are renormalised over them. Results are cached.
    """

    def __init__(self, templates, policy, radius=2, n_bits=2048, feasibility=None, precedents=None, allowed=None):
        self.templates = list(templates)
        self.policy = policy
        self.radius, self.n_bits = radius, n_bits
        self.feasibility = feasibility
        self.precedents = precedents
        self.allowed = None if allowed is None else np.asarray(allowed, dtype=bool)
        if self.allowed is not None and self.allowed.shape != (len(self.templates),):
            raise ValueError(f"allowed has shape {self.allowed.shape}; expected ({len(self.templates)},)")
        self._cache: dict[tuple, list] = {}
        self._probs: dict[str, np.ndarray] = {}

    def probs(self, smiles: str) -> np.ndarray:
        if smiles not in self._probs:
            p = np.asarray(self._raw_probs(smiles), dtype=np.float64)
            if self.allowed is not None:
                p = np.where(self.allowed, p, 0.0)
                p = p / p.sum() if p.sum() > 0 else p
            self._probs[smiles] = p
        return self._probs[smiles]

    def _raw_probs(self, smiles: str) -> np.ndarray:
        return self.policy(morgan_fingerprint(smiles, self.radius, self.n_bits))

    def expand(self, smiles: str, top_k: int = 50, cum_prob: float = 0.995, use_filter=False, threshold=0.5):
        key = (smiles, top_k, cum_prob, use_filter, threshold)
        if key in self._cache:
            return self._cache[key]
        p = self.probs(smiles)
        order = np.argsort(-p, kind="stable")[:top_k]
        out: dict[tuple, tuple[int, float]] = {}
        total = 0.0
        for j in order:
            if p[j] <= 0:
                break  # the rest has no prior (the frequency baseline gives 0 to templates that cannot apply)
            for pre in apply_template(self.templates[j], smiles):
                if pre not in out or out[pre][1] < p[j]:
                    out[pre] = (int(j), float(p[j]))
            total += float(p[j])
            if total >= cum_prob:
                break
        res = [(j, prior, pre) for pre, (j, prior) in out.items()]
        if use_filter and self.feasibility is not None:
            res = [r for r in res if self.feasibility(smiles, r[2]) >= threshold]
        res.sort(key=lambda r: (-r[1], r[2]))
        self._cache[key] = res
        return res


@dataclass(eq=False)
class Node:
    open_mols: tuple
    parent: Node | None = None
    action: dict | None = None  # {"product", "precursors", "template_index", "prior"}
    depth: int = 0
    prior: float = 1.0
    children: list = field(default_factory=list)
    expanded: bool = False
    solved: bool = False
    dead: bool = False
    visits: int = 0
    value: float = 0.0

    @property
    def terminal(self) -> bool:
        return self.solved or self.dead

    def path_actions(self) -> list[dict]:
        acts, n = [], self
        while n is not None and n.action is not None:
            acts.append(n.action)
            n = n.parent
        return acts[::-1]

    def made_molecules(self) -> set:
        return {a["product"] for a in self.path_actions()}


@dataclass
class SearchResult:
    target: str
    routes: list[Route]
    solved: bool
    time_to_first: float | None
    iterations: int
    elapsed: float
    n_nodes: int

    def to_dict(self) -> dict:
        return {"target": self.target, "solved": self.solved, "time_to_first_s": self.time_to_first,
                "iterations": self.iterations, "elapsed_s": self.elapsed, "n_nodes": self.n_nodes,
                "routes": [r.to_dict() for r in self.routes]}


class MCTS:
    """3N-MCTS planner (see module doc). ``templates`` are SMARTS strings; ``stock`` a :class:`Stock`."""

    def __init__(self, expander: Expander, stock: Stock, config: SearchConfig | None = None):
        self.expander = expander
        self.stock = stock
        self.config = config or SearchConfig()
        self._in_stock: dict[str, bool] = {}
        self._excluded: str | None = None  # InChIKey of the current target unless keep_target_in_stock

    def in_stock(self, smiles: str) -> bool:
        """Is ``smiles`` a stock molecule? The current search's target is not (see ``keep_target_in_stock``)."""
        if smiles not in self._in_stock:
            self._in_stock[smiles] = smiles in self.stock
        return self._in_stock[smiles] and not (self._excluded is not None and inchikey(smiles) == self._excluded)

    def _select_child(self, node: Node) -> Node | None:
        c = self.config.c_puct
        sq = math.sqrt(max(node.visits, 1))
        best, best_score = None, -math.inf
        for ch in node.children:
            if ch.terminal:
                continue
            q = ch.value / ch.visits if ch.visits else 0.0
            score = q + c * ch.prior * sq / (1 + ch.visits)
            if score > best_score:
                best, best_score = ch, score
        return best

    def _pick_molecule(self, mols) -> str:
        return max(mols, key=lambda m: (heavy_atoms(m), m))

    def _expand(self, node: Node) -> list[Node]:
        cfg = self.config
        node.expanded = True
        if node.depth >= cfg.max_depth:
            node.dead = True
            return []
        mol = self._pick_molecule(node.open_mols)
        made = node.made_molecules() | {mol}
        for tidx, prior, pre in self.expander.expand(mol, cfg.expansion_top_k, cfg.expansion_cum_prob,
                                                     cfg.use_filter, cfg.filter_threshold):
            if any(p in made for p in pre):
                continue  # would loop back to a molecule already being made on this route
            rest = [m for m in node.open_mols if m != mol]
            new_open = tuple(sorted(set(rest) | {p for p in pre if not self.in_stock(p)}))
            child = Node(open_mols=new_open, parent=node, depth=node.depth + 1, prior=prior,
                         action={"product": mol, "precursors": list(pre), "template_index": tidx, "prior": prior})
            child.solved = not new_open
            node.children.append(child)
        if not node.children:
            node.dead = True
        return node.children

    def _rollout(self, node: Node, rng: np.random.Generator) -> float:
        open_mols = list(node.open_mols)
        n_total = max(len(open_mols), 1)
        for _ in range(self.config.rollout_depth):
            if not open_mols:
                return 1.0
            mol = self._pick_molecule(open_mols)
            p = self.expander.probs(mol)
            top = np.argsort(-p, kind="stable")[:10]
            if p[top].sum() <= 0:
                break
            w = p[top] / p[top].sum()
            j = int(top[rng.choice(len(top), p=w)])
            outcomes = apply_template(self.expander.templates[j], mol)
            if not outcomes:
                break
            open_mols.remove(mol)
            new = [m for m in outcomes[0] if not self.in_stock(m)]
            n_total += len(outcomes[0]) - 1
            open_mols.extend(new)
        if not open_mols:
            return 1.0
        return 1.0 - len(open_mols) / (n_total + len(open_mols))

    def _backup(self, node: Node, reward: float) -> None:
        while node is not None:
            node.visits += 1
            node.value += reward
            if node.children and not node.terminal and all(ch.terminal for ch in node.children):
                node.dead = True  # exhausted: nothing left to explore below this node
            node = node.parent

    def search(self, target: str) -> SearchResult:
        """Plan routes for ``target`` (canonical SMILES). The target is taken out of the stock for this search;
        with ``keep_target_in_stock`` a target in stock is solved with 0 steps."""
        cfg = self.config
        rng = np.random.default_rng(cfg.seed)
        t0 = time.perf_counter()
        self._excluded = None if cfg.keep_target_in_stock else inchikey(target)
        root = Node(open_mols=() if self.in_stock(target) else (target,))
        root.solved = not root.open_mols
        solutions: list[Node] = [root] if root.solved else []
        first = 0.0 if root.solved else None
        it, n_nodes = 0, 1
        while not root.solved and it < cfg.max_iterations and len(solutions) < cfg.max_routes:
            if time.perf_counter() - t0 >= cfg.time_limit or root.terminal:
                break
            it += 1
            node = root
            while node.expanded and not node.terminal:
                nxt = self._select_child(node)
                if nxt is None:
                    node.dead = True
                    break
                node = nxt
            if node.terminal:
                self._backup(node, 1.0 if node.solved else 0.0)
                continue
            children = self._expand(node)
            n_nodes += len(children)
            new_solved = [ch for ch in children if ch.solved]
            for ch in new_solved:
                solutions.append(ch)
                self._backup(ch, 1.0)
                if first is None:
                    first = time.perf_counter() - t0
            if node.dead:
                self._backup(node, 0.0)
                continue
            if not new_solved:
                ch = self._select_child(node)
                if ch is None:
                    self._backup(node, 0.0)
                else:
                    self._backup(ch, self._rollout(ch, rng) if cfg.rollout_depth else self._partial(ch))
        routes = [build_route(target, s.path_actions(), self.expander.templates, self.in_stock,
                              self.expander.precedents) for s in solutions]
        routes.sort(key=lambda r: (r.n_steps, -r.log_prior))
        uniq, seen = [], set()
        for r in routes:
            sig = r.signature()
            if sig not in seen:
                seen.add(sig)
                uniq.append(r)
        uniq = uniq[: cfg.max_routes]  # one expansion can solve several children at once
        return SearchResult(target=target, routes=uniq, solved=bool(uniq), time_to_first=first,
                            iterations=it, elapsed=time.perf_counter() - t0, n_nodes=n_nodes)

    def _partial(self, node: Node) -> float:
        """Reward without rollout: fraction of the route's leaf molecules already in stock."""
        acts = node.path_actions()
        leaves = sum(len(a["precursors"]) for a in acts) - (len(acts) - 1)
        return 1.0 - len(node.open_mols) / max(leaves, 1)


class FrequencyExpander(Expander):
    """Policy-free expansion: the prior of a template is its training frequency among the templates whose
    product side matches the molecule, ``p(t | m) = n_t [t matches m] / sum_t' n_t' [t' matches m]``.

    The trivial baseline of the expansion policy: the same template library, search and limits, with
    the network replaced by "apply the most common applicable rules first". ``counts`` has shape
    ``(n_templates,)``: training occurrences of each template.
    """

    def __init__(self, templates, counts, radius=2, n_bits=2048, precedents=None):
        super().__init__(templates, policy=None, radius=radius, n_bits=n_bits, precedents=precedents)
        from rdkit import Chem

        self.counts = np.asarray(counts, dtype=np.float64)
        if self.counts.shape != (len(self.templates),):
            raise ValueError(f"counts has shape {self.counts.shape}; expected ({len(self.templates)},)")
        self.queries = [Chem.MolFromSmarts(t.split(">>")[0]) for t in self.templates]

    def _raw_probs(self, smiles: str) -> np.ndarray:
        from rdkit import Chem

        mol = Chem.MolFromSmiles(smiles)
        w = np.zeros(len(self.templates))
        if mol is not None:
            for j, q in enumerate(self.queries):
                if q is not None and self.counts[j] > 0 and mol.HasSubstructMatch(q, useChirality=False):
                    w[j] = self.counts[j]
        total = w.sum()
        return w / total if total > 0 else w


def frequency_planner(templates, counts, stock: Stock, config: SearchConfig | None = None, precedents=None) -> MCTS:
    """An :class:`MCTS` whose prior is the template frequency (:class:`FrequencyExpander`), no network."""
    return MCTS(FrequencyExpander(templates, counts, precedents=precedents), stock, config)


def model_functions(model):
    """``(policy, feasibility)`` callables for :class:`Expander` from a :class:`~sciml_retro.model.RetroPolicy`."""
    import torch

    model.eval()

    def policy(fp):
        with torch.no_grad():
            return torch.softmax(model(torch.from_numpy(fp.astype(np.float32))[None]), -1)[0].numpy()

    def feasibility(product, precursors):
        with torch.no_grad():
            pfp = torch.from_numpy(morgan_fingerprint(product, model.radius, model.n_bits).astype(np.float32))[None]
            rfp = torch.from_numpy(reaction_fingerprint(product, list(precursors), model.radius, model.n_bits))[None]
            return float(torch.sigmoid(model.feasibility_logit(pfp, rfp))[0])

    return policy, feasibility


def planner_from_model(model, stock: Stock, config: SearchConfig | None = None, allowed=None) -> MCTS:
    """An :class:`MCTS` with the model's template library (and its precedents), expansion policy and in-scope
    filter; ``allowed`` restricts the library (see :class:`Expander`)."""
    policy, feas = model_functions(model)
    return MCTS(Expander(model.templates, policy, model.radius, model.n_bits, feas,
                         precedents=getattr(model, "precedents", None) or None, allowed=allowed), stock, config)
