"""asterisk-conf/ renders with the example values an operator starts from: every placeholder
has one (a new placeholder without an example value would break the operator's first render)."""

from __future__ import annotations

import tomllib

from callbridge.asterisk.conf import PLACEHOLDER, placeholders, render, repo_conf_dir


def test_the_example_values_cover_every_placeholder(tmp_path):
    values = tomllib.loads((repo_conf_dir() / "values.example.toml").read_text())
    assert placeholders(repo_conf_dir()) <= values.keys()
    written = render(repo_conf_dir(), tmp_path, values)
    assert written and not any(PLACEHOLDER.search(p.read_text()) for p in written)
    dialplan = (tmp_path / "extensions.conf").read_text()
    assert f"127.0.0.1:{values['CALLBRIDGE_PORT']}/callerid?token={values['CALLERID_TOKEN']}" in dialplan
