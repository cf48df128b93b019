"""JupyterLab server settings for `make lab`, which adds this folder to JUPYTER_CONFIG_PATH.

After every save of a notebook that git tracks, `refresh_git_index` lets git see the file
as its filter (nbstripout, tools/notebook_form.py) does. git compares a file with its index
entry by size before anything else, and when the size differs it reports the file modified
without asking the filter: a chapter saved with its outputs would show in `git status`, and
`git pull` would refuse to update it. So when the filtered file equals the index
(`git diff --quiet`: only outputs, counts or the Python version changed), `git add` records
the file's new size in the index, and stages nothing. A notebook whose code or text the
learner changed stays modified, as it should; an untracked one is left alone.
"""

import subprocess
from pathlib import Path

c = get_config()  # noqa: F821 - defined by traitlets when it loads this file


def refresh_git_index(os_path: str, model: dict, **kwargs) -> None:
    if model.get("type") != "notebook":
        return
    folder = Path(os_path).parent

    def git(*args: str) -> int:
        run = subprocess.run(["git", *args, "--", os_path], cwd=folder, capture_output=True)
        return run.returncode

    if git("ls-files", "--error-unmatch") == 0 and git("diff", "--quiet") == 0:
        git("add")


c.FileContentsManager.post_save_hook = refresh_git_index
