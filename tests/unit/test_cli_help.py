"""``orchestrator-blocks --help`` is click's plain help: every verb, a plugin's included, with
the whole first paragraph of its help; a verb's own help and a bare group still work."""

from __future__ import annotations

import typer

from orchestrator_blocks import sdk
from orchestrator_blocks.kernel.cli import build_cli
from orchestrator_blocks.kernel.plugin_host import PluginHost, hosting
from orchestrator_blocks.sdk._cli import summary


def _words(text: str) -> str:
    return " ".join(text.split())


def test_help_lists_every_verb_with_the_first_paragraph_of_its_help(cli) -> None:
    res = cli("--help")
    assert (res.code, res.err) == (0, "")
    assert res.out.startswith("Usage: orchestrator-blocks [OPTIONS] COMMAND [ARGS]...")
    assert not any(c in res.out for c in "╭│╰")
    listed = _words(res.out)
    verbs = typer.main.get_command(build_cli()).commands  # type: ignore[attr-defined]
    assert len(verbs) >= 14
    for name, command in verbs.items():
        assert f" {name} {summary(command.help)}" in listed, name
    assert "run Run a workflow once. Exit code 0 when it succeeded, 1 otherwise." in listed


def test_a_group_lists_its_verbs_the_same_way(cli) -> None:
    res = cli("runs", "--help")
    assert (res.code, res.err) == (0, "")
    assert res.out.startswith("Usage: orchestrator-blocks runs [OPTIONS] COMMAND [ARGS]...")
    listed = _words(res.out)
    assert "--limit" in listed and "[default: 20" in listed
    assert "settle Say what happened to a send whose outcome is unknown (a crash" in listed
    assert "Only the configured approver may settle." in listed  # the paragraph, not cut


def test_a_verb_s_own_help(cli) -> None:
    res = cli("run", "--help")
    assert res.code == 0
    assert res.out.startswith("Usage: orchestrator-blocks run [OPTIONS]")
    assert "FILE_OR_NAME" in res.out
    assert "--input" in res.out and "Run input NAME=VALUE" in _words(res.out)


def test_a_bare_group_prints_its_help_and_exits_2(cli) -> None:
    res = cli("kill")
    assert res.code == 2
    assert res.out.startswith("Usage: orchestrator-blocks kill [OPTIONS] COMMAND [ARGS]...")
    assert "Turn a kill switch off." in res.out
    res = cli()
    assert res.code == 2 and "Usage: orchestrator-blocks [OPTIONS] COMMAND" in res.out


class _Acme:
    @sdk.hookimpl
    def register_commands(self, cli: sdk.hookspecs.CommandLine) -> None:
        @cli.command("acme-hello")
        def acme_hello(name: str = "world") -> None:
            """Say hello from the acme plugin.

            A second paragraph, shown by `acme-hello --help` only."""
            print(f"hello {name}, from acme")


def test_a_plugin_s_verb_is_listed_and_runs(cli) -> None:
    host = PluginHost()
    host.register(_Acme(), name="acme")
    with hosting(host):
        listed = _words(cli("--help").out)
        assert "acme-hello Say hello from the acme plugin." in listed
        assert "second paragraph" not in listed
        assert cli("acme-hello", "--name", "ops").out == "hello ops, from acme\n"
        assert "second paragraph" in cli("acme-hello", "--help").out
