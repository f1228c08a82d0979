"""`alluse policy impact` output: readable text, a Markdown PR comment, JSON. Pure functions of
an `Impact`."""

from __future__ import annotations

from typing import Any

from alluse.runtime.impact import KINDS, Change, Impact

TITLES = {"decisions": "Decisions that changed", "entries": "Entries taken or refused",
          "levels": "Protocol level transitions", "alerts": "Alerts", "scripts": "Scripts",
          "forks": "Forks and merges"}
MARK = {"added": "+", "removed": "−", "changed": "~"}
MAX_ROWS = 150  # per Markdown section: a PR comment holds 65,536 characters


def _money(x: float | None, sign: bool = False) -> str:
    if x is None:
        return "—"
    return f"{x:+,.2f}" if sign else f"{x:,.2f}"


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}%"


def _n(x: int | None) -> str:
    return "—" if x is None else str(x)


def header(imp: Impact, base: str, head: str) -> list[str]:
    p = imp.params
    out = [f"Policy impact: base {base} (policy {imp.base_hash[:12]}) → head {head} "
           f"(policy {imp.head_hash[:12]})",
           f"{p.start} → {p.end}, capital {p.capital:,.0f}, {p.bars} bars"]
    if imp.identical_sets:
        out.append("The two sets are identical (same policy hash): no decision can differ; "
                   "nothing was replayed.")
    else:
        out[-1] += (f"; replays {imp.seconds['base']:.1f} s + {imp.seconds['head']:.1f} s "
                    f"(one process, one loaded history), {imp.seconds['total']:.1f} s in all")
    return out


def account_rows(imp: Impact) -> list[list[str]]:
    rows = []
    for a in imp.accounts:
        b, h = a["base"], a["head"]
        rows.append([a["account"], _money(b["pnl"]), _money(h["pnl"]),
                     _money(a["pnl_delta"], sign=True), _pct(b["max_drawdown_pct"]),
                     _pct(h["max_drawdown_pct"]), _n(b["trades"]), _n(h["trades"])])
    t = imp.totals
    rows.append(["total", _money(t["base"]["total_pnl"]), _money(t["head"]["total_pnl"]),
                 _money(t["pnl_delta"], sign=True), "", "", _n(t["base"]["trades"]),
                 _n(t["head"]["trades"])])
    return rows


ACCOUNT_HEAD = ["account", "P&L base", "P&L head", "Δ P&L", "max DD base", "max DD head",
                "trades base", "trades head"]


def tax_line(imp: Impact) -> str:
    t = imp.totals
    years = sorted(set(t["base"]["tax_by_year"]) | set(t["head"]["tax_by_year"]))
    per_year = ", ".join(f"{y} {_money(t['base']['tax_by_year'].get(y, 0.0))} → "
                         f"{_money(t['head']['tax_by_year'].get(y, 0.0))}" for y in years)
    return (f"Tax accrued {_money(t['base']['tax_accrued'])} → {_money(t['head']['tax_accrued'])}"
            + (f" ({per_year})" if per_year else "") + "; withheld at forks "
            f"{_money(t['base']['taxes_withheld'])} → {_money(t['head']['taxes_withheld'])}")


def render_text(imp: Impact, base: str, head: str) -> list[str]:
    out = header(imp, base, head)
    if imp.identical_sets:
        return out
    out.append("")
    out.append(f"{'':<10}{'added':>7}{'removed':>9}{'changed':>9}")
    for kind in KINDS:
        n = imp.count(kind)
        out.append(f"{kind:<10}{n['added']:>7}{n['removed']:>9}{n['changed']:>9}")
    out.append("")
    rows = [ACCOUNT_HEAD, *account_rows(imp)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(ACCOUNT_HEAD))]
    for r in rows:
        out.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                             for i, (c, w) in enumerate(zip(r, widths, strict=True))))
    out.append(tax_line(imp))
    for kind in KINDS:
        changes = [c for c in imp.changes if c.kind == kind]
        if not changes:
            continue
        out.append("")
        out.append(f"{TITLES[kind]} ({len(changes)})")
        for c in changes:
            who = " ".join(x for x in (c.account, c.symbol) if x)
            out.append(f"  {MARK[c.change]} {c.date} {who}: {c.what}")
            if kind != "decisions":
                out.append(f"      rule {c.rule or '—'}: {c.why}")
            else:
                out.append(f"      {c.why}")
    if not imp.changes and not any(a["differs"] for a in imp.accounts):
        out.append("No difference: every decision, trade and figure is the same.")
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(head: list[str], rows: list[list[str]], right_from: int = 1) -> list[str]:
    out = ["| " + " | ".join(head) + " |",
           "|" + "|".join("---" if i < right_from else "---:" for i in range(len(head))) + "|"]
    out += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows]
    return out


def render_markdown(imp: Impact, base: str, head: str) -> list[str]:
    p = imp.params
    out = [f"### Policy impact: `{base}` → `{head}`", ""]
    if imp.identical_sets:
        return [*out, f"The two policy sets are identical (policy `{imp.base_hash[:12]}`): no "
                      "decision can differ."]
    total = len(imp.changes)
    out.append(f"Replayed {p.start} → {p.end} at {p.capital:,.0f} ({p.bars} bars) under both "
               f"sets (policy `{imp.base_hash[:12]}` → `{imp.head_hash[:12]}`): "
               f"**{total} difference{'s' if total != 1 else ''}**, total P&L "
               f"{_money(imp.totals['pnl_delta'], sign=True)}.")
    out.append("")
    out += _table(["", "added", "removed", "changed"],
                  [[TITLES[k], *(str(v) for v in imp.count(k).values())] for k in KINDS])
    out.append("")
    out += _table(ACCOUNT_HEAD, account_rows(imp))
    out += ["", tax_line(imp) + ".", ""]
    for kind in KINDS:
        changes = [c for c in imp.changes if c.kind == kind]
        if not changes:
            continue
        out += [f"<details><summary>{TITLES[kind]} ({len(changes)})</summary>", ""]
        out += _table(["date", "account", "symbol", "", "what", "rule", "why"],
                      [_row(c) for c in changes[:MAX_ROWS]], right_from=7)
        if len(changes) > MAX_ROWS:
            out.append(f"\n… and {len(changes) - MAX_ROWS} more (`--format json` has all).")
        out += ["", "</details>", ""]
    out.append(f"<sub>`alluse policy impact`: replays {imp.seconds['base']:.1f} s + "
               f"{imp.seconds['head']:.1f} s.</sub>")
    return out


def _row(c: Change) -> list[str]:
    return [c.date, c.account, c.symbol, MARK[c.change], c.what,
            f"`{c.rule}`" if c.rule else "—", c.why]


def as_json(imp: Impact, base: dict[str, str], head: dict[str, str], differs: bool
            ) -> dict[str, Any]:
    return {"base": {**base, "policy_hash": imp.base_hash},
            "head": {**head, "policy_hash": imp.head_hash},
            "params": imp.params.as_dict(), "identical_sets": imp.identical_sets,
            "summary": {k: imp.count(k) for k in KINDS},
            "accounts": imp.accounts, "totals": imp.totals,
            "changes": [c.as_dict() for c in imp.changes],
            "seconds": {k: round(v, 3) for k, v in imp.seconds.items()}, "differs": differs}
