"""Remotes: the config file (~/.config/ikm-tui/remotes.toml), --remote names, and the environment around a load."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ikm_tui.core.errors import IkmError
from ikm_tui.core.p11 import remote


def test_names_come_from_the_ssh_host() -> None:
    assert remote.remote_name("ssh -o BatchMode=yes mq@dr-host p11-kit remote /x.so") == "dr-host"
    assert remote.remote_name("ssh -p 2222 -i ~/.ssh/k host1 p11-kit remote /x.so") == "host1"
    assert remote.remote_name("/usr/bin/ssh -4 -C u@h p11-kit remote /x.so") == "h"
    assert remote.remote_name("env X=1 p11-kit remote /x.so") == "remote"
    assert remote.remote_name("ssh 'unbalanced") == "remote"


def test_config_then_commands_with_unique_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert remote.config_path() == tmp_path / "ikm-tui" / "remotes.toml"
    assert remote.remotes(None) == []  # no file: no remotes, no error
    remote.config_path().parent.mkdir()
    remote.config_path().write_text('[remote.dr]\ncommand = "ssh mq@dr p11-kit remote /m.so"\n')
    got = remote.remotes(["dr", "ssh a@h1 p11-kit remote /m.so", "ssh b@h1 p11-kit remote /m.so"])
    # "dr" names the configured entry (not a second remote); two commands to one host get -2.
    assert [(r.name, r.source == "--remote") for r in got] == [("dr", False), ("h1", True), ("h1-2", True)]


@pytest.mark.parametrize("text", ["[remote.x]\n", "[remote.x]\ncommand = ''\n", "not toml ["])
def test_a_bad_config_says_what_to_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    remote.config_path().parent.mkdir()
    remote.config_path().write_text(text)
    with pytest.raises(IkmError) as info:
        remote.remotes(None)
    assert "remotes.toml" in str(info.value) and "command" in str(info.value)


@pytest.mark.skipif(remote.client_module() is None, reason="p11-kit-client.so missing (bootstrap)")
def test_the_load_environment_has_the_address_and_no_pin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = remote.module_for(remote.Remote("h", "ssh h p11-kit remote /m.so", "--remote"))
    # A copy of its own, in a private directory, named so the module quirks know it.
    assert path.startswith(str(tmp_path)) and path.endswith("/p11-kit-client.so") and remote.name_of(path) == "h"
    assert (Path(path).parent.stat().st_mode & 0o777) == 0o700
    monkeypatch.setenv("IKM_PIN", "not-for-the-remote")
    monkeypatch.delenv(remote.ADDRESS_VAR, raising=False)
    with remote.remote_environment(path):
        assert os.environ[remote.ADDRESS_VAR] == "|ssh h p11-kit remote /m.so"
        assert "IKM_PIN" not in os.environ
    assert os.environ["IKM_PIN"] == "not-for-the-remote" and remote.ADDRESS_VAR not in os.environ
    with remote.remote_environment("/usr/lib/softhsm/libsofthsm2.so"):  # a local module: untouched
        assert os.environ["IKM_PIN"] == "not-for-the-remote"
