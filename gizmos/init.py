"""Doppel for Nuke: put this folder on NUKE_PATH (it adds the gizmo) and the OFX bundle's folder
on OFX_PLUGIN_PATH before Nuke starts (Nuke scans OFX plugins at startup).

    export NUKE_PATH=/opt/doppel/gizmos:$NUKE_PATH
    export OFX_PLUGIN_PATH=/opt/doppel/build:$OFX_PLUGIN_PATH   # holds FaceSwap.ofx.bundle
    export DOPPEL_VENV=/opt/doppel/.venv   # a venv of Nuke's Python version (docs/node.md)
"""

import os

import nuke

HERE = os.path.dirname(os.path.abspath(__file__))
nuke.pluginAddPath(HERE)

_bundle_dirs = [d for d in os.environ.get("OFX_PLUGIN_PATH", "").split(os.pathsep) if d]
if not any(os.path.isdir(os.path.join(d, "FaceSwap.ofx.bundle")) for d in _bundle_dirs):
    nuke.tprint("Doppel: FaceSwap.ofx.bundle is not on OFX_PLUGIN_PATH; the FaceSwap gizmo "
                "needs it (build it with 'make plugin', see docs/node.md)")
