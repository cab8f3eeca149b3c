"""`pip install .` (a wheel, not the editable checkout) gives a `pstn` that runs from any folder:
the dbt project is found through PSTN_PROJECT_DIR, and without it the command says so in one line."""

from __future__ import annotations

import os
import site
import subprocess
import sys

import duckdb
from conftest import ROOT


def test_an_installed_package_runs_from_any_folder(tmp_path):
    source = tmp_path / "source"
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "src", "pyproject.toml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in files:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes((ROOT / name).read_bytes())
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheels),
            str(source),
        ],
        check=True,
    )
    # A fresh virtualenv that borrows the locked dependencies (a path, so the checkout's editable
    # install is not seen) and holds the wheel.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    packages = next(venv.glob("lib/python3*/site-packages"))
    (packages / "borrowed.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(packages),
            str(next(wheels.glob("*.whl"))),
        ],
        check=True,
    )
    pstn = venv / "bin" / "pstn"
    assert not pstn.exists()  # --target installs no scripts: run the module, as the script would
    command = [str(venv / "bin" / "python"), "-m", "pstn"]
    where = subprocess.run([*command[:1], "-c", "import pstn; print(pstn.__file__)"], capture_output=True, text=True)
    assert str(packages) in where.stdout, where.stdout + where.stderr

    elsewhere = tmp_path / "anywhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PSTN_")}
    env.update(PSTN_RAW_DIR=str(elsewhere / "raw"), PSTN_WAREHOUSE=str(elsewhere / "wh" / "warehouse.duckdb"))
    lost = subprocess.run([*command, "run"], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert lost.returncode == 2 and "Traceback" not in lost.stderr
    assert lost.stderr.count("\n") == 1 and "set PSTN_PROJECT_DIR" in lost.stderr, lost.stderr

    env["PSTN_PROJECT_DIR"] = str(ROOT)
    generated = subprocess.run(
        [*command, "generate", "--out", "raw", "--calls", "3000", "--months", "1", "--users", "60"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
    )
    assert generated.returncode == 0, generated.stderr[-2000:]
    run = subprocess.run([*command, "run"], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    with duckdb.connect(str(elsewhere / "wh" / "warehouse.duckdb"), read_only=True) as con:
        calls, rated = con.execute("select count(*), sum(rated_charge) from marts.fct_pstn_calls").fetchone()
    assert calls > 1000 and rated > 0
