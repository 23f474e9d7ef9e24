"""One exit-code contract for every `evalkit` command (issue 21), pytest's where they overlap: 0 ok, 1 some
input failed, 2 interrupted, 4 usage error (argparse's own errors included); and help text for every option."""

import pytest

from evalkit.cli import build_parser, main
from evalkit.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE


def subcommands():
    return build_parser()._subparsers._group_actions[0].choices  # noqa: SLF001 (argparse keeps them here)


@pytest.mark.parametrize("name", sorted(subcommands()))
def test_every_option_of_every_subcommand_has_help_text(name):
    missing = [a.option_strings or [a.dest] for a in subcommands()[name]._actions if not a.help and a.dest != "help"]
    assert not missing


@pytest.mark.parametrize("argv", [["no-such-command"], ["render"], ["render", "--checkpoint", "x", "--steps", "many"],
                                  ["init", "--max-prompts"]])
def test_a_bad_command_line_is_a_usage_error_as_in_pytest(argv, capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(argv)
    assert info.value.code == EXIT_USAGE and "error:" in capsys.readouterr().err


def test_interrupted_is_pytests_2(monkeypatch, capsys):
    import evalkit.golden.cli as init_cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(init_cli, "run", interrupted)
    assert main(["init"]) == EXIT_INTERRUPTED == 2
    assert "interrupted" in capsys.readouterr().err


def test_render_of_a_missing_checkpoint_names_it_with_no_rank_on_one_process(tmp_path, capsys):
    missing = tmp_path / "missing.safetensors"
    assert main(["render", "--checkpoint", str(missing), "--reports-dir", str(tmp_path / "r")]) == EXIT_FAILED
    err = capsys.readouterr().err
    assert str(missing) in err and "no such file" in err and "rank" not in err
