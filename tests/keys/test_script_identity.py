"""A pipeline file keys the same whether run as a script, by the CLI, or imported."""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path

from keys import task_identity

PIPELINE = """
from keys import task_identity

def load(path):
    return path

if __name__ == "__main__":
    print(task_identity(load))
"""


def test_script_module_names_use_the_file_stem(tmp_path: Path):
    path = tmp_path / "mypipe.py"
    path.write_text(PIPELINE)
    as_script = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                               cwd=Path(__file__).resolve().parents[2], check=True).stdout.strip()
    as_cli = task_identity(runpy.run_path(str(path), run_name="__digestflow__")["load"])
    sys.path.insert(0, str(tmp_path))
    try:
        import mypipe  # noqa: PLC0415
    finally:
        sys.path.remove(str(tmp_path))
    as_import = task_identity(mypipe.load)
    assert as_script == as_cli == as_import
    assert as_import.startswith("mypipe.load@code=")
