"""What processes derive from the rules is kept on disk (reasoner/disk_cache.py) and read back only for the same inputs.

Each test points $XDG_CACHE_HOME at its own folder. A policy or an identity layer read back from
the cache must be what compiling or analysing gives; a changed rules text must never get the old
value; a corrupt file is computed again and written over; an unusable cache directory means no
cache, not an error.
"""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from reasoner import disk_cache, layers, policies
from reasoner.layers import claim_layer
from reasoner.policies import policy_from_text
from reasoner.solve import CLAIM_INPUTS, generic_program

RULES = Path(__file__).resolve().parent.parent / "rules"
LONGYAN = (RULES / "longyan.rules").read_text(encoding="utf-8")


@pytest.fixture(autouse=True)
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    claim_layer.cache_clear()
    return tmp_path / "cache" / "reasoner"


def _no_compiling(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object) -> None:
        raise AssertionError("compiled again although the cache holds the policy")

    monkeypatch.setattr(policies, "_compiled", refuse)


def test_a_policy_compiled_once_is_read_back_equal(cache_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = policy_from_text(LONGYAN, "rules/longyan.rules")
    assert len(list((cache_home / "policies").glob("*.pickle"))) == 1
    _no_compiling(monkeypatch)
    again = policy_from_text(LONGYAN, "rules/longyan.rules")
    assert again is not first
    assert again.text() == first.text() and again.content_hash == first.content_hash and again.atoms == first.atoms


def test_a_changed_text_or_path_is_compiled_again(cache_home: Path) -> None:
    """The key holds the text and the path citations show: neither may get another's policy."""
    original = policy_from_text(LONGYAN, "rules/longyan.rules")
    assert "6500" in LONGYAN  # 第四类 的 救助起付标准 (the changed number below)
    changed = policy_from_text(LONGYAN.replace("6500", "6600", 1), "rules/longyan.rules")
    moved = policy_from_text(LONGYAN, "elsewhere/longyan.rules")
    assert changed.text() != original.text()
    assert moved.source.path == "elsewhere/longyan.rules" and original.source.path == "rules/longyan.rules"
    assert len(list((cache_home / "policies").glob("*.pickle"))) == 3


def test_a_corrupt_file_is_computed_again_and_written_over(cache_home: Path) -> None:
    first = policy_from_text(LONGYAN, "rules/longyan.rules")
    (stored,) = (cache_home / "policies").glob("*.pickle")
    stored.write_bytes(b"not a pickle")
    again = policy_from_text(LONGYAN, "rules/longyan.rules")
    assert again.text() == first.text()
    assert pickle.loads(stored.read_bytes()).text() == first.text()


def test_an_unusable_cache_directory_means_no_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a file"
    blocker.write_text("where the cache directory should be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    assert disk_cache.cache_root() is None
    assert "6500" in policy_from_text(LONGYAN, "rules/longyan.rules").text()


def test_a_policy_with_errors_is_reported_and_not_kept(cache_home: Path) -> None:
    from reasoner.diagnostics import DiagnosticError

    with pytest.raises(DiagnosticError):
        policy_from_text("政策 「x」 {", "x.rules")
    assert not list((cache_home / "policies").glob("*.pickle"))


def test_the_identity_layer_is_read_back_equal(cache_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    program = generic_program(False) + "\n" + policy_from_text(LONGYAN, "rules/longyan.rules").text()
    first = claim_layer(program, CLAIM_INPUTS)
    claim_layer.cache_clear()

    def refuse(*_: object) -> None:
        raise AssertionError("analysed again although the cache holds the layer")

    monkeypatch.setattr(layers, "_rules", refuse)
    assert claim_layer(program, CLAIM_INPUTS) == first
    with pytest.raises(AssertionError):  # another program is analysed, not given this one's layer
        claim_layer(program + "\nextra(1).\n", CLAIM_INPUTS)


def test_each_kind_keeps_its_most_recent_files(cache_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(disk_cache, "KEPT", 3)
    written: list[Path] = []
    for k in range(5):
        assert disk_cache.remembered("test", [str(k)], lambda k=k: k * k) == k * k
        written += [p for p in (cache_home / "test").glob("*.pickle") if p not in written]
        for age, path in enumerate(written):  # the order they were written in, whatever the file system's clock resolution
            if path.exists():
                os.utime(path, (1_000_000 + age, 1_000_000 + age))
    assert len(list((cache_home / "test").glob("*.pickle"))) == 3
    assert disk_cache.remembered("test", ["4"], lambda: -1) == 16  # the newest kept
    assert disk_cache.remembered("test", ["0"], lambda: -1) == -1  # the oldest gone
