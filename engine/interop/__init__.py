"""DeepFaceLab / DeepFaceLive interop: read their files safely, run their models.

- `dfl_pickle`: the restricted unpickler every DFL pickle goes through (aligned-face metadata,
  SAEHD weights and options): plain containers, numbers, strings, bytes and numpy arrays only.
- `dfl_aligned`: DFL's aligned-face JPEGs (metadata in an APP15 segment): reader and writer.
- `dfl_faceset`: a folder of DFL aligned faces -> a Doppel faceset (crops, landmarks, matrices,
  sources, XSeg masks; the XSeg polygons are handed to the label writer).
- `dfm`: DeepFaceLive's `.dfm` swap models as an engine swap model (`DfmModel`).

The formats are described from public facts; no DeepFaceLab/DeepFaceLive code is used here.
"""
