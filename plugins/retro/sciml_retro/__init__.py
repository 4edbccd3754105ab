"""sciml-retro: template-based retrosynthesis planning (Segler & Waller 3N-MCTS).

Rules are extracted from atom-mapped reactions with rdchiral, an expansion-policy network ranks
them from the product's Morgan fingerprint, an optional in-scope filter network prunes infeasible
applications, and Monte Carlo tree search expands AND-OR states until every leaf is in stock.
"""

__version__ = "0.1.0"
