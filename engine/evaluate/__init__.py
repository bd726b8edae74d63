"""Evaluation of rendered shots: the DeepFaceLab paper's quality numbers (§5.3, Table 1) measured
on our own renders, plus expression transfer and temporal stability (`doppel evaluate`).

One stage per module:
    image_metrics   SSIM and GMSD of the face region
    head_pose       pose fitted on expression-free points; Euler-angle difference
    identity        dlib 128-d descriptors: source centroid, distances
    temporal        frame-to-frame jitter of landmarks, colour and mask edge against the plate
    shot            reading plate and render, per-frame measurement, bad-input checks
    report          table (Markdown/CSV), per-frame CSVs, curves, worst-frame contact sheets
    baselines       renders to compare with: no swap, naive paste
No torch import anywhere here (the engine rule).
"""
