"""Regularisers and losses of the reproduced methods."""

from vsalib.losses.distribution import (
    P_SCALED_ON, distribution_loss, label_distribution, multi_loss, p_scaled_loss, polarity_distribution,
)
from vsalib.losses.group_sparse import (
    GroupSparseRegularizer,
    group_norms,
    proximal_step,
    prune_dead_inputs,
    remove_dead_groups,
    select_layers,
    sparsity_report,
)

__all__ = ["GroupSparseRegularizer", "P_SCALED_ON", "distribution_loss", "label_distribution", "group_norms", "multi_loss", "p_scaled_loss", "polarity_distribution", "proximal_step", "prune_dead_inputs", "remove_dead_groups",
           "select_layers", "sparsity_report"]
