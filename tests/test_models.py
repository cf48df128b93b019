import torch

import d2lhelpers as d2l


def test_lenet_and_mlp_map_images_to_ten_logits():
    X = torch.zeros(3, 1, 28, 28)
    assert d2l.lenet()(X).shape == (3, 10)
    assert d2l.mlp()(X).shape == (3, 10)
    assert d2l.mlp(32)[1].out_features == 32


def test_the_same_seed_builds_the_same_weights():
    torch.manual_seed(0)
    a = d2l.lenet()
    torch.manual_seed(0)
    b = d2l.lenet()
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert sum(p.numel() for p in a.parameters()) == 61706
