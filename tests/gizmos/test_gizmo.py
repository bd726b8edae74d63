"""The Nuke gizmo and the OFX parameters come from one table (engine/swap/params.py), no drift."""

from __future__ import annotations

import re
import subprocess
import sys
import types
from pathlib import Path

from engine.host.table_check import check_table
from engine.swap.params import GROUPS, PARAMS

ROOT = Path(__file__).resolve().parents[2]
GIZMOS = ROOT / "gizmos"


def test_parameter_table_mirrors_the_settings_dataclasses():
    assert check_table() == []


def test_committed_gizmo_is_what_the_table_generates():
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_ofx_params.py"), "--gizmo",
                        str(GIZMOS / "FaceSwap.gizmo"), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_gizmo_links_every_parameter_in_table_order_inside_its_group():
    text = (GIZMOS / "FaceSwap.gizmo").read_text()
    links = re.findall(r"addUserKnob \{41 (\w+) .* T FaceSwapOFX\.(\w+)\}", text)
    assert [a for a, _ in links] == [p.name for p in PARAMS]
    assert all(a == b for a, b in links)
    groups = re.findall(r"addUserKnob \{20 \w+_group l (\w+) n 1\}", text)
    assert groups == [g for g in GROUPS if any(p.group == g for p in PARAMS)]
    assert "OFXio.doppel.FaceSwap_v1 {" in text  # the plugin's Nuke class: io.doppel.FaceSwap v1
    for p in PARAMS:  # every knob has its tooltip
        assert f"addUserKnob {{41 {p.name} l " in text and " t \"" in text


def test_example_comp_sets_only_real_knobs_and_names_committed_files():
    text = (GIZMOS / "example_faceswap.nk").read_text()
    body = text[text.index("FaceSwap {"):]
    body = body[: body.index("}")]
    knobs = {ln.split()[0]: ln.split(None, 1)[1] for ln in body.splitlines()[1:] if ln.strip()}
    names = {p.name for p in PARAMS} | {"inputs", "name", "xpos", "ypos"}
    assert set(knobs) <= names, set(knobs) - names
    assert (ROOT / knobs["model"]).is_file()


def test_menu_adds_the_gizmo_by_its_file_name(monkeypatch):
    calls: list[tuple] = []

    class Menu:
        def addMenu(self, name):  # noqa: N802 (Nuke's API)
            calls.append(("menu", name))
            return self

        def addCommand(self, name, command, **kw):  # noqa: N802
            calls.append(("command", name, command))

    monkeypatch.setitem(sys.modules, "nuke", types.SimpleNamespace(menu=lambda name: Menu()))
    exec(compile((GIZMOS / "menu.py").read_text(), "menu.py", "exec"), {"__name__": "menu"})
    created = [c[2] for c in calls if c[0] == "command"]
    assert created == ["nuke.createNode('FaceSwap')"]
    assert (GIZMOS / "FaceSwap.gizmo").is_file()


def test_init_warns_when_the_bundle_is_not_on_the_ofx_path(monkeypatch, tmp_path):
    printed: list[str] = []
    added: list[str] = []
    nuke = types.SimpleNamespace(pluginAddPath=added.append, tprint=printed.append)
    monkeypatch.setitem(sys.modules, "nuke", nuke)
    monkeypatch.setenv("OFX_PLUGIN_PATH", str(tmp_path))
    code = compile((GIZMOS / "init.py").read_text(), str(GIZMOS / "init.py"), "exec")
    exec(code, {"__file__": str(GIZMOS / "init.py"), "__name__": "init"})
    assert added == [str(GIZMOS)] and "FaceSwap.ofx.bundle is not on OFX_PLUGIN_PATH" in printed[0]
    (tmp_path / "FaceSwap.ofx.bundle").mkdir()
    printed.clear()
    exec(code, {"__file__": str(GIZMOS / "init.py"), "__name__": "init"})
    assert printed == []
