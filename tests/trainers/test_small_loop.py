"""trainers.small_loop: the loop the XSeg and FaceEnhancer trainers share."""

from types import SimpleNamespace

import pytest
import torch

from engine.errors import TrainingError
from trainers.small_loop import optimiser_step, run_iterations


class Counting:
    """A trainer whose step is one real optimiser step on a one-weight model."""

    def __init__(self, out, loss=1.0):
        self.out, self.iteration, self.loss = out, 0, loss
        self.w = torch.nn.Parameter(torch.ones(()))
        self.opt = torch.optim.SGD([self.w], lr=0.1)
        self.previews, self.saves, self.lines = [], [], []

    def step(self):
        total = self.w * self.loss
        optimiser_step(self, self.opt, total, "test")
        return {"l": float(total.item())}

    def write_preview(self):
        self.previews.append(self.iteration)

    def save_checkpoint(self):
        self.saves.append(self.iteration)

    def log(self, message):
        self.lines.append(message)


def config(target):
    return SimpleNamespace(target_iters=target, log_every=2, preview_every=3, save_every=4,
                           to_dict=lambda: {"target_iters": target})


def test_the_loop_stops_at_the_target_and_logs_previews_and_saves_at_their_intervals(tmp_path):
    t = Counting(tmp_path)
    result = run_iterations(t, config(5))
    assert result["iteration"] == t.iteration == 5
    assert t.saves == [4, 5] and t.previews == [3, 5]  # the last state always saved and shown
    logged = (tmp_path / "losses.jsonl").read_text().splitlines()
    assert [int(line.split('"it": ')[1].split(",")[0]) for line in logged] == [2, 4]
    assert run_iterations(t, config(5))["losses"] is None and "nothing to do" in t.lines[-1]


def test_a_loss_that_is_not_finite_never_reaches_the_weights(tmp_path):
    t = Counting(tmp_path, loss=float("nan"))
    with pytest.raises(TrainingError, match=r"test loss became nan at iteration 1; last good "
                                            r"checkpoint: \(none yet\)"):
        run_iterations(t, config(5))
    assert t.iteration == 0 and t.w.item() == 1.0
