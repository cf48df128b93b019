import ipywidgets

import d2lhelpers as d2l


def test_slider_updates_on_release():
    s = d2l.slider(0.4, 0.01, 1.0, 0.01, "learning rate η")
    assert isinstance(s, ipywidgets.FloatSlider)
    assert s.continuous_update is False and s.value == 0.4 and s.description == "learning rate η"


def test_explore_draws_once_and_again_when_a_slider_moves():
    calls = []
    lr = d2l.slider(0.4, 0.01, 1.0, 0.01, "learning rate η")
    beta = d2l.slider(0.5, 0.0, 0.99, 0.01, "momentum β")
    result = d2l.explore(lambda lr, beta: calls.append((lr, beta)), lr=lr, beta=beta)
    assert calls == [(0.4, 0.5)]
    lr.value = 0.6
    assert calls[-1] == (0.6, 0.5)
    assert result is None  # returning the box would show it twice at the end of a cell
