"""`doppel import-dfl-model`: a DeepFaceLab SAEHD/Quick96 model folder -> a new Doppel model
folder (a checkpoint at DFL's iteration and the mapped config), thin over
trainers.interop.saehd_import (torch is imported only when this command runs).

    doppel import-dfl-model workspace/model -o models/imported
    doppel train -c models/imported/config.yaml --src FS_SRC --dst FS_DST \\
        --out models/imported --resume
    doppel export models/imported -o imported.onnx      # or --format dfm -o imported.dfm
"""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="DeepFaceLab's model folder (or the NAME_SAEHD_data.dat of one "
                                 "of several models in it); only read")
    p.add_argument("-o", "--output", required=True, help="new Doppel model folder to write")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from trainers.interop.saehd_import import import_saehd

    imp, path = import_saehd(args.model, args.output)
    print(f"imported {imp.files.data} -> {path}")
    for line in imp.summary_lines():
        print(f"  {line}")
    print(f"  config: {path.parent.parent / 'config.yaml'} (train on with --resume, or export)")
    return 0
