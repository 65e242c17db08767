"""Every command's --help has examples; completion scripts and help topics come from the parser."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from ikm_tui.cli.main import build_parser, main
from tests.unit.test_json_schemas import leaves


@pytest.mark.parametrize("words", [w for w, _ in leaves(build_parser())], ids=" ".join)
def test_help_has_examples(words: tuple[str, ...]) -> None:
    parser = dict(leaves(build_parser()))[words]
    text = parser.format_help()
    assert "examples:" in text, words
    examples = text.split("examples:", 1)[1]
    assert "ikm-tui " in examples and words[-1] in examples, words


def _complete(script: str, line: str) -> list[str]:
    """What the generated bash function offers for `line` (the cursor at its end)."""
    words = line.split(" ")
    probe = (script + "\nCOMP_WORDS=(" + " ".join(f"'{w}'" for w in words) + f")\nCOMP_CWORD={len(words) - 1}\n"
             "_ikm_tui\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n")
    res = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, timeout=30, check=True)
    return res.stdout.split()


def test_bash_completion_follows_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", "bash"]) == 0
    script = capsys.readouterr().out
    assert set(_complete(script, "ikm-tui ce")) == {"cert", "certreq"}
    assert set(_complete(script, "ikm-tui cert re")) == {"receive", "rename"}
    assert set(_complete(script, "ikm-tui --token x cert extract --format ")) == {"pem", "der"}
    assert "rsa:2048" in _complete(script, "ikm-tui certreq create --key-type ")
    assert "--with-chain" in _complete(script, "ikm-tui cert receive --w")
    assert "--pin" not in _complete(script, "ikm-tui list --")


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_other_shells(shell: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", shell]) == 0
    script = capsys.readouterr().out
    assert "ikm-tui" in script and "receive" in script
    exe = shutil.which(shell)
    if exe is not None:  # syntax check where the shell is installed
        subprocess.run([exe, "-n", "-c", script] if shell == "zsh" else [exe, "--no-execute", "-c", script],
                       check=True, timeout=30)


def test_help_topics(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["help"]) == 0
    for topic in ("exit-codes", "json", "pin", "completion"):
        assert main(["help", topic]) == 0
    out = capsys.readouterr().out
    assert "4  not found" in out and "ikm-tui/list/v1" in out and "--pin-file" in out
    assert main(["help", "cert", "receive"]) == 0
    assert "--with-chain" in capsys.readouterr().out
    assert main(["help", "nope"]) == 4
    with pytest.raises(SystemExit) as exc:
        main(["completion", "tcsh"])
    assert exc.value.code == 2


def test_version_flags(capsys: pytest.CaptureFixture[str]) -> None:
    from ikm_tui import __version__

    for flag in ("-V", "--version"):
        with pytest.raises(SystemExit) as exc:
            main([flag])
        assert exc.value.code == 0
        assert capsys.readouterr().out.strip() == f"ikm-tui {__version__}"


def test_unexpected_failure_is_one_line_without_traceback(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from ikm_tui.cli import explain

    def boom(args: object) -> int:
        raise RuntimeError("a bug")

    monkeypatch.setattr(explain, "run", boom)
    monkeypatch.delenv("IKM_DEBUG", raising=False)
    assert main(["explain", "0xA0"]) == 1
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: a bug" in err and "Traceback" not in err and "IKM_DEBUG=1" in err
    monkeypatch.setenv("IKM_DEBUG", "1")
    assert main(["explain", "0xA0"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_help_files_names_every_environment_variable_and_xdg_directory(capsys: pytest.CaptureFixture[str]) -> None:
    """`ikm-tui help files`: what ikm-tui keeps where, and every IKM_* variable the code reads."""
    import re
    from pathlib import Path

    package = Path(__file__).resolve().parents[2] / "ikm_tui"
    source = "\n".join(p.read_text() for p in package.rglob("*.py"))
    assert main(["help", "files"]) == 0
    out = capsys.readouterr().out
    for name in sorted(set(re.findall(r"\bIKM_[A-Z_]+\b", source))):
        assert name in out, name
    # Each ikm-tui/<dir> the code builds under an XDG directory.
    for where in sorted(set(re.findall(r'"ikm-tui" / "([a-z]+)"', source))):
        assert f"ikm-tui/{where}" in out, where
