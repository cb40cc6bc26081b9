"""This module reads parameter files: numbers a policy references but does not state.

rules/parameters/<地区>.yaml holds, per parameter, values by the decision year they apply
to, each with its source. A value of null means no verifiable value is known here; a
decision that needs it fails naming the parameter, region and year — never a guess.
Callers may supply assumed values (what-if, tests); explanations label them as such.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .numeric import ParamReading, parse_money

ASSUMED = "调用方提供的假设值"


@dataclass
class RegionParams:
    region: str
    parent: str | None
    values: dict[str, dict[int, tuple[int | None, str]]] = field(default_factory=dict)
    path: str = ""


class ParameterStore:
    """All parameter files of a rules folder, looked up along the region chain."""

    def __init__(self, regions: dict[str, RegionParams] | None = None, texts: dict[str, str] | None = None):
        self.regions = regions or {}
        self.texts = texts or {}  #: file name → the text it was read from (the decision ledger stores these)

    @classmethod
    def load(cls, folder: Path) -> "ParameterStore":
        return cls.from_texts({path.name: path.read_text(encoding="utf-8") for path in sorted(folder.glob("*.yaml"))}, folder)

    @classmethod
    def from_texts(cls, texts: dict[str, str], folder: Path | None = None) -> "ParameterStore":
        """Parameter files given as texts (file name → YAML): a ledger replays with the texts it recorded."""
        regions = {}
        for file_name, text in sorted(texts.items()):
            path = (folder / file_name) if folder else Path(file_name)
            data = yaml.safe_load(text) or {}
            region = RegionParams(str(data.get("地区", path.stem)), data.get("上级地区"), path=str(path))
            for name, spec in (data.get("参数") or {}).items():
                region.values[name] = {int(row["年度"]): (None if row.get("值") is None else parse_money(row["值"]),
                                                          str(row.get("来源", "")))
                                       for row in spec.get("取值") or []}
            regions[region.region] = region
        return cls(regions, dict(texts))

    def chain(self, region: str) -> list[str]:
        out: list[str] = []
        cur: str | None = region
        while cur and cur not in out:
            out.append(cur)
            cur = self.regions[cur].parent if cur in self.regions else None
        return out

    def lookup(self, name: str, region: str, year: int, assumed: dict[str, int] | None = None) -> ParamReading:
        """The value in force for region (or the nearest region above it that states one)."""
        if assumed and name in assumed:
            return ParamReading(name, region, year, assumed[name], ASSUMED)
        for reg in self.chain(region):
            by_year = self.regions[reg].values.get(name, {}) if reg in self.regions else {}
            if year in by_year and by_year[year][0] is not None:
                fen, source = by_year[year]
                return ParamReading(name, reg, year, fen, source)
        reg_values = self.regions.get(region)
        source = ""
        if reg_values and year in reg_values.values.get(name, {}):
            source = reg_values.values[name][year][1]
        return ParamReading(name, region, year, None, source or "参数文件中没有该年度的取值")


def parse_assumed(raw: dict[str, Any] | None) -> dict[str, int]:
    """Assumed parameter values given by a caller, in 元."""
    return {str(k): parse_money(v) for k, v in (raw or {}).items()}
