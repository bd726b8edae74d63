"""DeepFaceLab interop on the trainer side: SAEHD weights in (`saehd_import`), DeepFaceLive's
`.dfm` out (`dfm_export`), and DFL's XSeg polygons as Doppel XSeg labels (`dfl_labels`).

Modules import torch only where they need it (`dfm_export`, `saehd_import`'s checkpoint path);
`dfl_labels` is torch-free like `trainers.xseg.labels`.
"""
