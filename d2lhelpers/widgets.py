"""Sliders for the notebooks: controls above a plot that redraws when a control moves.

Built on `ipywidgets.interactive_output`, which behaves the same in ipywidgets 7.7
(Colab) and 8 (JupyterLab, VS Code). Sliders fire when released
(`continuous_update=False`), so a redraw never queues up behind a drag. Run headless
(nbval, nbconvert), the cell draws once and returns; nothing waits for a browser.
"""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as widgets
from IPython.display import display


def slider(
    value: float, min: float, max: float, step: float, description: str, readout_format: str = ".2f"
) -> widgets.FloatSlider:
    """A float slider that updates on release, with room for a readable label."""
    return widgets.FloatSlider(
        value=value,
        min=min,
        max=max,
        step=step,
        description=description,
        readout_format=readout_format,
        continuous_update=False,
        style={"description_width": "initial"},
        layout=widgets.Layout(width="340px"),
    )


def explore(draw: Callable[..., None], **controls: widgets.ValueWidget) -> None:
    """Show `controls` above an output area filled by `draw(**values)`; redraw on change.

    `draw` makes its matplotlib figure (and may print); the figure is shown inside
    the output area. Nothing is returned, so a call at the end of a cell shows the
    widget once; keep references to the controls to read or set them from code.
    """
    out = widgets.interactive_output(draw, controls)
    row = widgets.HBox(list(controls.values()), layout=widgets.Layout(flex_flow="row wrap"))
    display(widgets.VBox([row, out]))
