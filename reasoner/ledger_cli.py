"""This module is the command line of the decision ledger: --record, `ledger`, `why`, `replay`.

cli.py stays thin: it adds these options and subcommands and calls record_ids() after it
has decided. Exit codes beyond cli.py's 0–3 (and lint's 4/5):

    6  replay: the recomputation differs from the record (or, with --with-current-rules,
       today's rules decide differently)
    7  ledger verify: an entry was altered, is missing or is out of order
"""
from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from .decide import Decision, Reasoner
from .ledger_paths import ENV_VAR, default_path
from .policies import bundled_rules_dir
from .settle import Settlement

if TYPE_CHECKING:
    from .ledger import Ledger

# The database layer (SQLAlchemy) is imported inside the commands that open a ledger, so that
# commands without --record start as fast as before.

EXIT_OK, EXIT_REPLAY_DIFFERS, EXIT_LEDGER_ALTERED = 0, 6, 7
DB_HELP = f"账本数据库：SQLite 文件路径或 URL（postgresql+psycopg://…）；默认取环境变量 {ENV_VAR}，否则 {default_path()}"


def _print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def add_record_options(parser: argparse.ArgumentParser) -> None:
    """--record and --db for the commands that decide (decide, explain, settle)."""
    parser.add_argument("--record", action="store_true", help="把每个决定（或结算）记入账本，并打印其账本编号")
    parser.add_argument("--db", help=DB_HELP)


def record_ids(args: argparse.Namespace, reasoner: Reasoner, results: list[tuple[int, Decision | Settlement]]) -> list[str]:
    """Record what was decided when --record was given; the decision ids in the order of results (else [])."""
    if not getattr(args, "record", False) or not results:
        return []
    from .ledger_record import record_decisions, record_settlements

    with _open(args) as ledger:
        decisions = [(i, r) for i, r in results if isinstance(r, Decision)]
        settlements = [(i, r) for i, r in results if isinstance(r, Settlement)]
        entries = record_decisions(ledger, reasoner.policies, decisions) if decisions else []
        entries += record_settlements(ledger, reasoner.policies, settlements) if settlements else []
    return [e.decision_id for e in entries]


def decision_ids(args: argparse.Namespace, reasoner: Reasoner, results: list[tuple[int, Any]]) -> dict[int, str]:
    """Record the decisions among results (errors are not decisions); record index → decision id."""
    decided = [(i, r) for i, r in results if isinstance(r, Decision)]
    return dict(zip([i for i, _ in decided], record_ids(args, reasoner, decided)))


# ------------------------------------------------------------------ subcommands
def _open(args: argparse.Namespace) -> Ledger:
    from .ledger import Ledger

    return Ledger(args.db)


def cmd_ledger(args: argparse.Namespace) -> int:
    from .ledger_view import entry_line, show_text

    with _open(args) as ledger:
        if args.action == "verify":
            report = ledger.verify()
            _print_json(report.to_json()) if args.json else print(report.text(), end="")
            return EXIT_OK if report.ok else EXIT_LEDGER_ALTERED
        if args.action == "show":
            entry = ledger.get(args.id)
            _print_json(entry.to_json()) if args.json else print(show_text(entry), end="")
            return EXIT_OK
        listed = list(ledger.entries(limit=args.limit, newest_first=args.newest))
        if args.json:
            _print_json([{"seq": e.seq, "decision_id": e.decision_id, "recorded_at": e.recorded_at, "kind": e.kind,
                          "person_id": e.person_id, "region": e.region, "entry_hash": e.entry_hash} for e in listed])
        else:
            for entry in listed:
                print(entry_line(entry))
    return EXIT_OK


def cmd_why(args: argparse.Namespace) -> int:
    from .ledger_view import why_json, why_text

    with _open(args) as ledger:
        entry = ledger.get(args.id)
        _print_json(why_json(entry)) if args.json else print(why_text(entry), end="")
    return EXIT_OK


def cmd_replay(args: argparse.Namespace) -> int:
    from .ledger_replay import replay
    from .ledger_view import replay_json, replay_text

    with _open(args) as ledger:
        report = replay(ledger, args.id, args.rules, current=args.with_current_rules)
    _print_json(replay_json(report)) if args.json else print(replay_text(report), end="")
    if report.error:
        return 2
    return EXIT_OK if report.identical else EXIT_REPLAY_DIFFERS


def add_parsers(sub: Any) -> None:
    """The ledger's subcommands: ledger verify|list|show, why, replay."""
    p = sub.add_parser("ledger", help="决定账本：校验哈希链、列出条目、查看一条")
    actions = p.add_subparsers(dest="action", required=True)
    for name, text in (("verify", "逐条校验哈希链，报告第一条被改动、缺失或顺序错乱的条目（退出码 7）"),
                       ("list", "列出账本条目"), ("show", "查看一条账本条目：输入、所用规则文件与参数取值")):
        q = actions.add_parser(name, help=text)
        if name == "show":
            q.add_argument("id", help="账本编号（如 D20250301-000042）")
        if name == "list":
            q.add_argument("--limit", type=int, help="最多列出的条数")
            q.add_argument("--newest", action="store_true", help="从最新的条目开始列出")
        q.add_argument("--db", help=DB_HELP)
        q.add_argument("--json", action="store_true")
        q.set_defaults(func=cmd_ledger)
    p = sub.add_parser("why", help="打印账本中记录的决定依据（记录当时的解释，不重算）")
    p.add_argument("id", help="账本编号")
    p.add_argument("--db", help=DB_HELP)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_why)
    p = sub.add_parser("replay", help="按记录的输入与记录时的规则文本重算，报告一致或每一处差异（退出码 6）")
    p.add_argument("id", help="账本编号")
    p.add_argument("--with-current-rules", action="store_true", help="改用现行规则重算，并说明差异的原因（改动的条款、参数与依据）")
    p.add_argument("--rules", default=None, help=f"现行规则目录（与 --with-current-rules 一起使用；默认：{bundled_rules_dir()}）")
    p.add_argument("--db", help=DB_HELP)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_replay)

