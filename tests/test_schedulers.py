import io
import math
import re

import pytest
import torch

import d2lhelpers as d2l
from d2lhelpers import schedulers

# One of each schedule class, for the tests that every schedule must pass.
EVERY_SCHEDULE = [
    schedulers.SquareRootScheduler(0.1),
    schedulers.FactorScheduler(0.9, 1e-3, 0.1),
    schedulers.MultiFactorScheduler([2, 4], 0.5, 0.1),
    schedulers.CosineScheduler(6, 0.1, 0.0, 2, 0.01),
]


def _optimizer(lr=0.5):
    return torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)


def test_square_root():
    s = schedulers.SquareRootScheduler(lr=0.1)
    assert s(0) == pytest.approx(0.1) and s(3) == pytest.approx(0.05)


def test_factor_is_a_pure_function_of_the_epoch():
    s = schedulers.FactorScheduler(factor=0.9, stop_factor_lr=1e-2, base_lr=2.0)
    first = [s(t) for t in range(60)]
    assert first == [s(t) for t in range(60)]
    assert first[0] == 2.0 and first[1] == pytest.approx(1.8) and first[-1] == 1e-2


def test_multi_factor_matches_multistep_lr():
    s = schedulers.MultiFactorScheduler(steps=[15, 30], factor=0.5, base_lr=0.5)
    opt = _optimizer(0.5)
    torch_s = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[15, 30], gamma=0.5)
    for epoch in range(40):
        assert opt.param_groups[0]["lr"] == pytest.approx(s(epoch), abs=1e-12)
        opt.step()
        torch_s.step()


def test_cosine_matches_cosine_annealing_and_holds_after_the_end():
    s = schedulers.CosineScheduler(max_update=20, base_lr=0.3, final_lr=0.01)
    opt = _optimizer(0.3)
    torch_s = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=20, eta_min=0.01)
    for epoch in range(21):
        assert opt.param_groups[0]["lr"] == pytest.approx(s(epoch), abs=1e-12)
        opt.step()
        torch_s.step()
    assert s(25) == 0.01


def test_cosine_warmup_rises_linearly():
    s = schedulers.CosineScheduler(
        20, warmup_steps=5, base_lr=0.3, final_lr=0.01, warmup_begin_lr=0.0
    )
    assert [s(t) for t in range(6)] == pytest.approx([0, 0.06, 0.12, 0.18, 0.24, 0.3])
    assert s(5 + 15 / 2) == pytest.approx(0.01 + 0.29 * (1 + math.cos(math.pi / 2)) / 2)


def test_cosine_rejects_warmup_longer_than_the_schedule():
    with pytest.raises(ValueError, match="must exceed warmup_steps"):
        schedulers.CosineScheduler(5, warmup_steps=5)


@pytest.mark.parametrize("schedule", EVERY_SCHEDULE)
def test_any_schedule_wraps_as_a_torch_scheduler(schedule):
    opt = _optimizer(123.0)
    wrapped = d2l.ScheduleLR(opt, schedule)
    assert isinstance(wrapped, torch.optim.lr_scheduler.LRScheduler)
    for epoch in range(8):
        assert opt.param_groups[0]["lr"] == pytest.approx(schedule(epoch))
        opt.step()
        wrapped.step()


@pytest.mark.parametrize(
    "make, says",
    [
        (lambda: schedulers.SquareRootScheduler(lr=-0.1), "Invalid lr: -0.1"),
        (lambda: schedulers.FactorScheduler(base_lr=-1.0), "Invalid base_lr: -1.0"),
        (lambda: schedulers.FactorScheduler(stop_factor_lr=-1e-7), "Invalid stop_factor_lr"),
        (lambda: schedulers.FactorScheduler(factor=1.3), "Invalid factor: 1.3"),
        (lambda: schedulers.FactorScheduler(factor=0), "Invalid factor: 0"),
        (lambda: schedulers.MultiFactorScheduler([5], factor=2.0), "Invalid factor: 2.0"),
        (lambda: schedulers.MultiFactorScheduler([5], base_lr=-0.5), "Invalid base_lr"),
        (lambda: schedulers.CosineScheduler(10, base_lr=-0.1), "Invalid base_lr"),
        (lambda: schedulers.CosineScheduler(10, final_lr=-0.1), "Invalid final_lr"),
        (lambda: schedulers.CosineScheduler(10, warmup_begin_lr=-1), "Invalid warmup_begin_lr"),
        (lambda: schedulers.CosineScheduler(10, warmup_steps=-2), "warmup_steps must be >= 0"),
        (lambda: schedulers.SquareRootScheduler(lr=math.nan), "Invalid lr: nan"),
    ],
)
def test_schedulers_reject_nonsense_arguments_as_torch_optim_does(make, says):
    with pytest.raises(ValueError, match=says):
        make()


@pytest.mark.parametrize("schedule", EVERY_SCHEDULE)
def test_schedules_reject_a_negative_update_number(schedule):
    # d2l's SquareRootScheduler()(-2) is a complex number.
    with pytest.raises(ValueError, match="update number must be >= 0 and finite, got -2"):
        schedule(-2)


@pytest.mark.parametrize(
    "make, says",
    [
        (lambda: schedulers.CosineScheduler(max_update=math.nan), "max_update (nan)"),
        (lambda: schedulers.CosineScheduler(math.inf), "max_update (inf)"),
        (lambda: schedulers.CosineScheduler(10, warmup_steps=math.nan), "warmup_steps must be"),
        (lambda: schedulers.CosineScheduler("10"), "max_update ('10')"),
        (lambda: schedulers.CosineScheduler(10, warmup_steps="2"), "warmup_steps must be"),
        (lambda: schedulers.MultiFactorScheduler(5), "Invalid steps: 5"),
        (lambda: schedulers.MultiFactorScheduler("15"), "Invalid steps: '15'"),
        (lambda: schedulers.MultiFactorScheduler([15, "30"]), "Invalid step in steps: '30'"),
        (lambda: schedulers.MultiFactorScheduler([15, math.nan]), "Invalid step in steps: nan"),
        (lambda: schedulers.FactorScheduler(factor="0.5"), "Invalid factor: '0.5'"),
        (lambda: schedulers.SquareRootScheduler(lr="0.1"), "Invalid lr: '0.1'"),
        (
            lambda: schedulers.SquareRootScheduler()(math.nan),
            "update number must be >= 0 and finite",
        ),
        (lambda: schedulers.SquareRootScheduler()("3"), "update number must be >= 0 and finite"),
        (lambda: schedulers.CosineScheduler(10)(math.inf), "update number must be >= 0 and finite"),
        (lambda: d2l.ScheduleLR(_optimizer(), 0.1), "Invalid schedule: 0.1"),
    ],
)
def test_nan_infinity_and_non_numbers_are_named_errors(make, says):
    with pytest.raises(ValueError, match=re.escape(says)):
        make()


def test_valid_numbers_of_other_types_are_accepted():
    # The negative control: integers, floats and tuples are numbers and lists of numbers.
    assert schedulers.MultiFactorScheduler((2, 4), 0.5, 1)(3.0) == 0.5
    assert schedulers.CosineScheduler(10.0, warmup_steps=2)(1) == pytest.approx(0.005)
    optimizer = _optimizer()
    d2l.ScheduleLR(optimizer, lambda epoch: torch.tensor(0.25))  # a one-element tensor
    assert float(optimizer.param_groups[0]["lr"]) == 0.25


@pytest.mark.parametrize("rate", [-0.1, math.nan, "0.1", None])
def test_schedule_lr_refuses_a_rate_that_is_not_a_learning_rate(rate):
    optimizer = _optimizer(0.5)
    with pytest.raises(ValueError, match=r"The schedule returned .* for epoch 0"):
        d2l.ScheduleLR(optimizer, lambda epoch: rate)
    assert optimizer.param_groups[0]["lr"] == 0.5  # untouched


def _through_a_file(state):
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer)  # weights_only=True, torch's default


def test_schedule_lr_with_a_lambda_saves_and_resumes_as_lambda_lr_does():
    def schedule(epoch):
        return 0.1 * 0.5**epoch

    optimizer = _optimizer()
    scheduler = d2l.ScheduleLR(optimizer, lambda epoch: 0.1 * 0.5**epoch)
    for _ in range(3):
        optimizer.step()
        scheduler.step()
    state = _through_a_file(scheduler.state_dict())
    assert state["schedule"] is None
    resumed_optimizer = _optimizer()
    resumed = d2l.ScheduleLR(resumed_optimizer, schedule)
    resumed.load_state_dict(state)
    resumed_optimizer.step()
    resumed.step()
    assert resumed.last_epoch == 4 and resumed_optimizer.param_groups[0]["lr"] == 0.1 * 0.5**4


def test_schedule_lr_saves_a_schedule_objects_numbers_and_restores_them():
    optimizer = _optimizer()
    scheduler = d2l.ScheduleLR(optimizer, schedulers.CosineScheduler(20, 0.3, 0.01, 5, 0.0))
    for _ in range(7):
        optimizer.step()
        scheduler.step()
    state = _through_a_file(scheduler.state_dict())  # plain numbers: weights_only reads them
    resumed_optimizer = _optimizer()
    other = schedulers.CosineScheduler(4, base_lr=1.0)  # rebuilt with other arguments
    resumed = d2l.ScheduleLR(resumed_optimizer, other)
    resumed.load_state_dict(state)
    assert vars(other) == vars(scheduler.schedule)
    for _ in range(3):
        optimizer.step()
        scheduler.step()
        resumed_optimizer.step()
        resumed.step()
        assert resumed_optimizer.param_groups[0]["lr"] == optimizer.param_groups[0]["lr"]
