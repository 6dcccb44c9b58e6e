"""Pure parts of the diffusion engines, on clips whose right answer is known (no torch needed)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from catalog_motion.errors import TransientError
from generation.diffusion.engine import motion_phrase, pad_to_aspect
from generation.diffusion.oom import run_with_oom_policy
from generation.diffusion.subject_lock import SubjectLock
from generation.diffusion.timeline import (
    Retimer,
    close_loop,
    plan_takes,
    retime_positions,
    round_to_latent_grid,
    stitch_takes,
)
from tests.generation.conftest import draw_garment


def _square_clip(n: int, size=(64, 96), start=10.0, speed=1.5, brightness=None) -> np.ndarray:
    """A bright square moving right at `speed` px/frame on a dark textured background."""
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    base = (40 + 20 * np.sin(xx / 5.0) * np.cos(yy / 7.0)).astype(np.float32)
    frames = []
    for i in range(n):
        x0 = start + speed * i
        inside = (xx >= x0) & (xx < x0 + 16) & (yy >= 24) & (yy < 40)
        frame = base.copy()
        frame[inside] = 220 + (brightness(i) if brightness else 0)
        frames.append(np.repeat(frame[..., None], 3, axis=2))
    return np.clip(np.stack(frames), 0, 255).astype(np.uint8)


def _mad(a, b) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


def test_frame_rounding_and_take_plans():
    assert [round_to_latent_grid(n, 4) for n in (1, 2, 5, 6, 9, 80, 81, 82)] == [1, 5, 5, 9, 9, 81, 81, 85]
    wan = lambda n: round_to_latent_grid(n, 4)  # noqa: E731
    one = plan_takes(4.0, 16, 81, wan)  # 4 s at 16 fps: 65 frames, one take
    assert (one.frames_per_take, one.n_takes, one.needed) == (65, 1, 65)
    chained = plan_takes(8.0, 16, 81, wan, overlap=4)  # 129 frames needed: two 81-frame takes
    assert (chained.frames_per_take, chained.n_takes) == (81, 2)
    assert chained.stitched_frames >= chained.needed
    loop = plan_takes(4.0, 16, 81, wan, loop=True, loop_method="last_frame")
    assert (loop.loop_frames, loop.needed, loop.frames_per_take) == (64, 65, 65)
    fade = plan_takes(4.0, 16, 81, wan, loop=True, loop_method="crossfade", loop_blend=6)
    assert (fade.needed, fade.frames_per_take) == (70, 73)
    with pytest.raises(ValueError, match="max_takes"):
        plan_takes(30.0, 16, 81, wan, max_takes=4, engine="wan")
    svd = plan_takes(6.0, 7, 25, lambda n: n)  # 43 frames from 25-frame takes
    assert svd.n_takes == 2 and svd.frames_per_take == 25


def test_stitching_chained_takes_is_seamless():
    clip = _square_clip(40)
    overlap = 6
    # Take 2 was conditioned on take 1's frame at -overlap: it re-covers those instants.
    take1, take2 = clip[:24], clip[24 - overlap :]
    assert np.array_equal(stitch_takes([take1, take2], overlap), clip)  # consistent takes join exactly
    # A take that drifts (the model's second take comes out 20 levels brighter on the subject): the
    # crossfade spreads the jump over the overlap instead of one hard cut.
    drift = clip.copy()
    drift[24 - overlap :] = np.clip(drift[24 - overlap :].astype(np.int16) + 20, 0, 255).astype(np.uint8)
    take2 = drift[24 - overlap :]
    stitched = stitch_takes([take1, take2], overlap)
    naive = np.concatenate([take1, take2[overlap:]])
    worst = lambda c: max(_mad(c[i], c[i + 1]) for i in range(len(c) - 1))  # noqa: E731
    assert len(stitched) == len(naive) == 40
    assert worst(stitched) < 0.5 * worst(naive)


def test_close_loop_makes_the_seam_an_ordinary_step():
    loop_len, blend = 30, 6
    # Brightness drifts, so a naive loop (frames 0..29 repeated) jumps at the seam.
    clip = _square_clip(loop_len + blend, speed=0.0, brightness=lambda i: -2.0 * i)
    looped = close_loop(clip, loop_len)
    steps = [_mad(looped[i], looped[i + 1]) for i in range(loop_len - 1)]
    seam = _mad(looped[-1], looped[0])
    naive_seam = _mad(clip[loop_len - 1], clip[0])
    assert seam <= 1.5 * max(steps) + 1e-6
    assert naive_seam > 5 * seam
    assert np.array_equal(looped[blend:], clip[blend:loop_len])  # outside the blend: untouched
    with pytest.raises(ValueError):
        close_loop(clip[:loop_len], loop_len)


def test_retimer_flow_places_moving_square_in_between():
    clip = _square_clip(5, speed=8.0)  # fast: 8 px per model frame
    flow = Retimer(clip, method="flow")
    blend = Retimer(clip, method="blend")
    mid_flow, mid_blend = flow.at(1.5), blend.at(1.5)
    assert np.array_equal(flow.at(2.0), clip[2])
    bright = mid_flow[..., 0] > 150
    xs = np.nonzero(bright)[1]
    assert xs.size > 0
    assert abs(xs.mean() - (10 + 8 * 1.5 + 7.5)) < 1.5  # the square's centre sits half-way
    ghost = (mid_blend[..., 0] > 90) & (mid_blend[..., 0] < 170)
    assert ghost.sum() > 100 and ((mid_flow[..., 0] > 90) & (mid_flow[..., 0] < 170)).sum() < ghost.sum() / 2
    # Loops wrap; positions map the output period onto the loop length.
    pos = retime_positions(48, 24, 16, loop_frames=32)
    assert pos[0] == 0 and pos[-1] == pytest.approx(32 * 47 / 48)
    assert retime_positions(4, 24, 12).tolist() == [0.0, 0.5, 1.0, 1.5]


def test_subject_lock_restores_print_moved_by_known_shift():
    source = draw_garment(240, 300, patch=(120, 150, 40))
    mask = np.zeros(source.shape[:2], np.float32)
    mask[(source[..., 2] > source[..., 0] + 40) | (source[..., 0] > 150) & (source[..., 2] < 120)] = 1.0
    mask[150:190, 120:160] = 1.0
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    lock = SubjectLock(source, mask, max_residual=0.06)
    rng = np.random.default_rng(0)
    errors_before, errors_after = [], []
    inner = cv2.erode((mask > 0.5).astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
    for t in range(8):
        dx, dy = 0.7 * t, -0.4 * t
        matrix = np.float32([[1, 0, dx], [0, 1, dy]])
        truth = cv2.warpAffine(source, matrix, (240, 300), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        # What a generator does to a print: smears it, adds noise.
        generated = cv2.GaussianBlur(truth, (0, 0), 1.6)
        generated = np.clip(generated + rng.normal(0, 4, truth.shape), 0, 255).astype(np.uint8)
        out, info = lock.apply(generated)
        assert info.locked, info
        # frame -> reference mapping: translation by (-dx, -dy)
        assert info.matrix[0][2] == pytest.approx(-dx, abs=0.35) and info.matrix[1][2] == pytest.approx(-dy, abs=0.35)
        region = np.roll(np.roll(inner, round(dy), 0), round(dx), 1)
        errors_before.append(_mad(generated[region], truth[region]))
        errors_after.append(_mad(out[region], truth[region]))
    assert np.mean(errors_after) < 0.4 * np.mean(errors_before)
    # A frame where the garment is something else entirely is left alone.
    other = np.full_like(source, 200)
    cv2.circle(other, (120, 150), 80, (200, 30, 30), -1)
    out, info = lock.apply(other)
    assert not info.locked and np.array_equal(out, other)


def test_oom_policy_splits_then_enables_savers_then_gives_up():
    class FakeOOM(RuntimeError):
        pass

    calls: list[int] = []
    savers = ["vae_tiling", "offload:model"]
    enabled: list[str] = []

    def run(batch):
        calls.append(len(batch))
        if len(batch) > 2:
            raise FakeOOM("CUDA out of memory. Tried to allocate 2.00 GiB")
        if 99 in batch and "offload:model" not in enabled:
            raise FakeOOM("CUDA out of memory")
        if 77 in batch:
            raise FakeOOM("CUDA out of memory")
        return [x * 10 for x in batch]

    def next_saver():
        if not savers:
            return None
        enabled.append(savers.pop(0))
        return enabled[-1]

    events: list[str] = []
    freed = []
    out = run_with_oom_policy(
        [1, 2, 3, 4, 5],
        run,
        oom_types=(FakeOOM,),
        enable_next_saver=next_saver,
        on_oom=lambda: freed.append(1),
        events=events,
    )
    assert out == [10, 20, 30, 40, 50]
    assert calls == [5, 2, 3, 1, 2]  # 5 -> 2 + 3, the 3 -> 1 + 2
    assert any("split batch 5" in e for e in events) and not enabled
    out = run_with_oom_policy([99], run, oom_types=(FakeOOM,), enable_next_saver=next_saver, events=events)
    assert out == [990] and enabled == ["vae_tiling", "offload:model"]
    out = run_with_oom_policy(
        [6, 77], run, oom_types=(FakeOOM,), enable_next_saver=next_saver, events=events, engine="wan"
    )
    assert out[0] == 60 and isinstance(out[1], TransientError) and "wan: out of GPU memory" in str(out[1])
    with pytest.raises(ValueError):  # anything but OOM propagates untouched
        run_with_oom_policy(
            [1], lambda b: (_ for _ in ()).throw(ValueError("x")), oom_types=(FakeOOM,), enable_next_saver=next_saver
        )
    assert freed


def test_pad_to_aspect_keeps_photo_and_extends_background():
    photo = draw_garment(200, 300)
    canvas, (left, top) = pad_to_aspect(photo, 720, 480)  # portrait photo into a landscape model
    assert canvas.shape[0] == 300 and canvas.shape[1] == 450 and (left, top) == (125, 0)
    centre = canvas[:, left + 20 : left + 180]
    assert _mad(centre, photo[:, 20:180]) < 1.0  # the garment is untouched
    fill = canvas[:, : left - 5].reshape(-1, 3).astype(np.float32)
    assert np.abs(fill - np.median(photo[0], axis=0)).max() < 12  # studio colour, no stripes
    same, offset = pad_to_aspect(photo, 2, 3)
    assert same is photo and offset == (0, 0)


def test_motion_phrase_tracks_amount_and_path():
    assert "very subtle" in motion_phrase("breathing", 0.1)
    assert "push in" in motion_phrase("push_in", 0.6) and "fluid" in motion_phrase("push_in", 0.6)
