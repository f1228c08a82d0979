"""`alluse policy fmt [--check] [DIR]`: the canonical layout of every policy file, comments kept.

Without ``--check`` each file that changes is rewritten atomically (a reader sees the old file
or the new one). ``--check`` writes nothing, lists the files that would change and exits 1 when
any would (for CI and pre-commit). A file that cannot be formatted is reported with its
position and left as it is (exit 1).
"""

from __future__ import annotations

from typing import Annotated

import typer

from alluse.cli.policy_cmd import DirArg, policy_app


@policy_app.command("fmt")
def fmt(
    directory: DirArg = None,
    check: Annotated[bool, typer.Option("--check", help="Write nothing; exit 1 when a file "
                                                        "would change")] = False,
) -> None:
    """Lay out every policy file canonically: key order of the models, quoting, indentation."""
    from alluse.adapters.policy_files import read_policy_files, write_atomic
    from alluse.cli.policy_cmd import print_issues
    from alluse.cli.policy_dir import policy_dir
    from alluse.engine.errors import PolicyLoadError
    from alluse.engine.policy.fmt import FormatError, format_policy, model_for

    base = policy_dir(directory)
    try:
        files = read_policy_files(base)
    except PolicyLoadError as exc:
        print_issues(exc.issues, "text", base)
        raise typer.Exit(1) from None
    changed: list[str] = []
    failed = 0
    for rel, raw in sorted(files.items()):
        if model_for(rel) is None:
            continue  # not a policy file: lint says so
        try:
            text = raw.decode("utf-8")
            formatted = format_policy(rel, text)
        except (UnicodeDecodeError, FormatError) as exc:
            line, col = (exc.line, exc.col) if isinstance(exc, FormatError) else (1, 1)
            reason = str(exc) if isinstance(exc, FormatError) else "file is not valid UTF-8 text"
            typer.echo(f"{base / rel}:{line}:{col}: cannot format: {reason}", err=True)
            failed += 1
            continue
        if formatted == text:
            continue
        changed.append(rel)
        if check:
            typer.echo(f"would reformat {base / rel}")
            continue
        try:
            write_atomic(base / rel, formatted.encode("utf-8"))
        except OSError as exc:
            typer.echo(f"{base / rel}: cannot write: {exc.strerror or exc}", err=True)
            failed += 1
            continue
        typer.echo(f"reformatted {base / rel}")
    verb = "would be reformatted" if check else "reformatted"
    typer.echo(f"{len(changed)} file{'s' if len(changed) != 1 else ''} {verb}"
               + (f", {failed} could not be formatted" if failed else ""), err=True)
    if failed or (check and changed):
        raise typer.Exit(1)
