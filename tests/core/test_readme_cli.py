"""The README's command block and the CLI agree both ways: every command, option and argument the app has is
in the block, and every command and option the block names exists (walking whatever the Typer app holds)."""

from __future__ import annotations

import re
from pathlib import Path

import typer
from typer.main import get_command

from flows.cli import app

README = Path(__file__).resolve().parents[2] / "README.md"
_WORD = re.compile(r"^[a-z][a-z-]*$")
_OPTION = re.compile(r"--[a-z][a-z0-9-]*")

Entries = dict[tuple[str, ...], dict[str, set[str]]]


def readme_entries(text: str) -> Entries:
    """Commands of the first code block under "## Command line": a line `catalog-motion WORDS... OPTIONS`, its
    indented lines continuing it; `# ...` to the line's end is a comment. () is the root (`catalog-motion
    [--debug] COMMAND`)."""
    section = text.split("\n## Command line\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```", 2)[1]
    entries: Entries = {}
    current: dict[str, set[str]] | None = None
    for line in block.splitlines()[1:]:
        code = line.split(" #", 1)[0] if not line.lstrip().startswith("#") else ""
        if line.startswith("catalog-motion"):
            tokens = code.split()[1:]
            words = []
            for token in tokens:
                if not _WORD.match(token):
                    break
                words.append(token)
            current = entries.setdefault(tuple(words), {"options": set(), "text": set()})
            rest = " ".join(tokens[len(words) :])
        elif line[:1].isspace() and current is not None:
            rest = code
        else:
            continue
        current["options"] |= set(_OPTION.findall(rest))
        current["text"] |= {word.rstrip(".") for word in re.split(r"[\s\[\]|]+", rest)} - {""}  # ITEM... is ITEM
    return entries


def cli_entries(typer_app: typer.Typer) -> Entries:
    """Every leaf command of the app, every group whose callback takes options, and the root's own options
    under (), each with its options and arguments."""
    entries: Entries = {}

    def walk(path: tuple[str, ...], command) -> None:
        options = {
            opt
            for param in command.params
            if param.param_type_name == "option"
            for opt in [*param.opts, *param.secondary_opts]
            if opt.startswith("--")
        }
        arguments = {
            (param.metavar or param.name.upper()) for param in command.params if param.param_type_name == "argument"
        }
        subcommands = getattr(command, "commands", None)
        # A group is a command of its own too when its callback takes options (`deliver --run ...`).
        if not subcommands or path == () or options or arguments:
            entries[path] = {"options": options, "text": arguments}
        for name, sub in (subcommands or {}).items():
            walk((*path, name), sub)

    walk((), get_command(typer_app))
    return entries


def disagreements(readme: Entries, cli: Entries) -> list[str]:
    """What the README and the CLI disagree on, one line each ([] when they agree)."""
    problems = []
    for path in sorted(cli.keys() - readme.keys()):
        problems.append(f"`catalog-motion {' '.join(path)}` is a command but not in the README's command block")
    for path in sorted(readme.keys() - cli.keys()):
        problems.append(f"the README names `catalog-motion {' '.join(path)}`, which is not a command")
    for path in sorted(cli.keys() & readme.keys()):
        name = " ".join(("catalog-motion", *path))
        for option in sorted(cli[path]["options"] - readme[path]["options"]):
            problems.append(f"`{name}` has {option}, the README does not say so")
        for option in sorted(readme[path]["options"] - cli[path]["options"]):
            problems.append(f"the README gives `{name}` {option}, which it does not have")
        for argument in sorted(cli[path]["text"] - readme[path]["text"]):
            problems.append(f"`{name}` takes {argument}, the README does not show it")
    return problems


def test_readme_command_block_matches_the_cli():
    problems = disagreements(readme_entries(README.read_text(encoding="utf-8")), cli_entries(app))
    assert not problems, "\n".join(problems)


def test_the_comparison_fails_both_ways():
    """A command or option only in the CLI, or only in the README, is reported, naming it."""
    text = README.read_text(encoding="utf-8")
    cli = cli_entries(app)
    assert ("manifest", "diff") in cli and "--scores" in cli[("manifest", "show")]["options"]
    assert "RUN_ID" in cli[("manifest", "rollback")]["text"]

    missing = "\n".join(line for line in text.splitlines() if not line.startswith("catalog-motion manifest diff "))
    assert "`catalog-motion manifest diff` is a command but not in the README's command block" in disagreements(
        readme_entries(missing), cli
    )

    block_end = text.index("```", text.index("```", text.index("\n## Command line\n")) + 3)
    invented = text[:block_end] + "catalog-motion manifest prune [--keep N]\n" + text[block_end:]
    assert "the README names `catalog-motion manifest prune`, which is not a command" in disagreements(
        readme_entries(invented), cli
    )

    no_scores = text.replace(" [--scores] ", " ", 1)
    assert "`catalog-motion manifest show` has --scores, the README does not say so" in disagreements(
        readme_entries(no_scores), cli
    )
    extra = text.replace(" [--scores] ", " [--scores] [--colour] ", 1)
    assert "the README gives `catalog-motion manifest show` --colour, which it does not have" in disagreements(
        readme_entries(extra), cli
    )
