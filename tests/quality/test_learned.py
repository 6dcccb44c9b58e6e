"""Optional learned models: tiny TorchScript modules built here, saved, and loaded from a local path."""

from __future__ import annotations

import pytest

from catalog_motion.errors import ConfigError
from quality.gate import check_clip
from quality.synthetic import camera_frames
from tests.fixtures.quality_clips import QC_H, QC_N, QC_W

torch = pytest.importorskip("torch", reason="torch is the optional 'diffusion' extra")


class _Darkness(torch.nn.Module):
    """A 'segmenter': subject = darker than a studio sweep (logit of 0.8 - mean RGB), via a real conv."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 1, 1)
        with torch.no_grad():
            self.conv.weight.fill_(-20.0 / 3.0)
            self.conv.bias.fill_(16.0)

    def forward(self, x):
        return self.conv(x)


class _Encoder(torch.nn.Module):
    """An 'image encoder' with random weights: conv features pooled on a 4x4 grid, centred."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 16, 5, stride=2)

    def forward(self, x):
        v = torch.nn.functional.adaptive_avg_pool2d(self.conv(x), 4).flatten(1)
        return v - v.mean(dim=1, keepdim=True)


@pytest.fixture(scope="module")
def qc_torchscript(tmp_path_factory):
    folder = tmp_path_factory.mktemp("qc_weights")
    seg, enc = folder / "segmenter.pt", folder / "encoder.pt"
    torch.jit.save(torch.jit.script(_Darkness().eval()), str(seg))
    torch.jit.save(torch.jit.script(_Encoder().eval()), str(enc))
    return seg, enc


def test_learned_segmenter_and_similarity_drive_the_gate(
    qc_torchscript, qc_photo_path, qc_photo_array, qc_write_clip, qc_presets
):
    from quality.learned import learned_mask

    seg, enc = qc_torchscript
    mask = learned_mask(qc_photo_array, seg)
    assert mask.shape == qc_photo_array.shape[:2] and 0.2 < (mask > 0.5).mean() < 0.8
    base = qc_presets["product-page"]
    push_in = base.motion.model_copy(update={"path": "push_in", "amount": 0.5})
    preset = base.model_copy(
        update={
            "loop": False,
            "motion": push_in,
            "qc": base.qc.model_copy(update={"segmenter_weights": str(seg), "similarity_weights": str(enc)}),
        }
    )
    good = check_clip(qc_photo_path, qc_write_clip(camera_frames(qc_photo_array, QC_W, QC_H, QC_N, zoom=0.08)), preset)
    assert good.passed, good.reasons
    assert 0.0 <= good.scores["drift_learned"] < 0.1
    import cv2
    import skimage.data

    other = cv2.resize(skimage.data.coffee()[:, 80:560], (384, 480))  # the subject turns into something else
    frames = camera_frames(qc_photo_array, QC_W, QC_H, QC_N)[:8] + camera_frames(other, QC_W, QC_H, QC_N)[8:]
    bad = check_clip(qc_photo_path, qc_write_clip(frames, "bad"), preset)
    assert bad.scores["drift_learned"] > good.scores["drift_learned"] + 0.05
    assert "drift" in bad.failed_checks


def test_missing_weights_are_a_config_error(tmp_path, qc_photo_path, qc_photo_array, qc_write_clip, qc_presets):
    base = qc_presets["product-page"]
    preset = base.model_copy(update={"qc": base.qc.model_copy(update={"segmenter_weights": str(tmp_path / "no.pt")})})
    clip = qc_write_clip(camera_frames(qc_photo_array, QC_W, QC_H, 4))
    with pytest.raises(ConfigError, match="not found"):
        check_clip(qc_photo_path, clip, preset)
