import pytest
import torch

import d2lhelpers as d2l


@pytest.mark.parametrize("name", sorted(d2l.problems.PROBLEMS))
def test_analytic_gradient_matches_autograd(name):
    problem = d2l.problems.PROBLEMS[name]
    torch.manual_seed(0)
    for x in torch.randn(5, 2, dtype=torch.float64):
        x = x.clone().requires_grad_(True)
        problem.f(x[0], x[1]).backward()
        g1, g2 = problem.f_grad(x[0].detach(), x[1].detach())
        torch.testing.assert_close(torch.stack([g1, g2]), x.grad)


@pytest.mark.parametrize("name", sorted(d2l.problems.PROBLEMS))
def test_problems_work_on_floats_and_have_a_box(name):
    problem = d2l.problems.PROBLEMS[name]
    assert isinstance(problem.f(*problem.start), float)
    assert problem.xlim[0] < problem.start[0] < problem.xlim[1]
    assert problem.ylim[0] < problem.start[1] < problem.ylim[1]
    if problem.minimum is not None:
        g = problem.f_grad(*problem.minimum)
        assert g == pytest.approx((0.0, 0.0), abs=1e-12)
