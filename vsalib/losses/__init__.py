"""Regularisers and losses of the reproduced methods."""

from vsalib.losses.group_sparse import (
    GroupSparseRegularizer,
    group_norms,
    proximal_step,
    prune_dead_inputs,
    remove_dead_groups,
    select_layers,
    sparsity_report,
)

__all__ = ["GroupSparseRegularizer", "group_norms", "proximal_step", "prune_dead_inputs", "remove_dead_groups",
           "select_layers", "sparsity_report"]
