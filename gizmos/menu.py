"""The Doppel menu in Nuke's Nodes toolbar: FaceSwap (the gizmo around the OFX node)."""

import nuke

toolbar = nuke.menu("Nodes")
doppel = toolbar.addMenu("Doppel")
doppel.addCommand("FaceSwap", "nuke.createNode('FaceSwap')",
                  tooltip="Replace the face with a Doppel model (press Analyze first)")
