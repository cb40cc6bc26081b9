"""The installed package must carry the grammar, the ASP programs, the rules and their
parameters: grammar/ and rules/ are top-level folders in the repository, mapped into the
package by pyproject.toml, and a wheel without them cannot parse or decide anything."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_contains_grammar_programs_rules_and_parameters(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True)
    wheel = next(tmp_path.glob("*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "reasoner/grammar/policy.lark" in names
    assert {"reasoner/asp/decide.lp", "reasoner/asp/justify.lp"} <= set(names)
    for rules in sorted((ROOT / "rules").glob("*.rules")):
        assert f"reasoner/rules/{rules.name}" in names
    for params in sorted((ROOT / "rules" / "parameters").glob("*.yaml")):
        assert f"reasoner/rules/parameters/{params.name}" in names
    # the decision ledger's Alembic migrations: env.py, the template and every revision
    assert {"reasoner/ledger_migrations/env.py", "reasoner/ledger_migrations/script.py.mako"} <= set(names)
    for revision in sorted((ROOT / "reasoner" / "ledger_migrations" / "versions").glob("*.py")):
        assert f"reasoner/ledger_migrations/versions/{revision.name}" in names
    # the web desk, served at /desk/ from the package
    for desk in ("index.html", "desk.js", "desk.css"):
        assert f"reasoner/desk/{desk}" in names
