"""MultiLevelRCNN's classifier on [X_global, X_local_1..K] (Eq. 5): masked slots, Table 1's variants."""

import pytest
import torch

from vsalib.methods.multilevel_rcnn import MultiLevelHead


def test_masked_region_slots_never_reach_the_prediction():
    torch.manual_seed(0)
    head = MultiLevelHead(global_dim=6, local_dim=4, k=3, hidden=8).eval()
    g, local = torch.randn(2, 6), torch.randn(2, 3, 4)
    mask = torch.tensor([[True, True, False], [True, False, False]])
    out = head(g, local, mask)
    assert out.shape == (2, 2)
    changed = local.clone()
    changed[0, 2] += 100.0  # a padded slot
    changed[1, 1:] -= 50.0
    assert torch.equal(head(g, changed, mask), out)
    changed[0, 0] += 1.0  # a real one
    assert not torch.equal(head(g, changed, mask), out)


def test_table1_variants_read_only_their_inputs():
    torch.manual_seed(0)
    g, local, mask = torch.randn(2, 6), torch.randn(2, 3, 4), torch.ones(2, 3, dtype=torch.bool)
    only_global = MultiLevelHead(6, 4, k=3, hidden=8, use_local=False).eval()
    assert only_global.fc1.in_features == 6
    assert torch.equal(only_global(g, local, mask), only_global(g, local * 0, mask))
    only_local = MultiLevelHead(6, 4, k=3, hidden=8, use_global=False).eval()
    assert only_local.fc1.in_features == 12
    assert torch.equal(only_local(g, local, mask), only_local(g * 0, local, mask))
    assert MultiLevelHead(6, 4, k=3, hidden=8).fc1.in_features == 18  # Eq. 5: both, concatenated
    with pytest.raises(ValueError, match="needs the global feature"):
        MultiLevelHead(6, 4, use_global=False, use_local=False)
    with pytest.raises(ValueError, match="region slots"):
        MultiLevelHead(6, 4, k=3)(g, torch.randn(2, 2, 4), torch.ones(2, 2, dtype=torch.bool))
