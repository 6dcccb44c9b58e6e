"""Every v2 clip as a named recipe: label, family, strength and, for defects, whether a person sees it at
1080p (`visible`), judged from the magnitude written in `note` (dE, px at 1080p, frames) - never from
what the gate does. A defect is its good scene with one thing changed; `base` rebuilds that scene, so the
builder's own pixel comparison (validate.py) can confirm the defect is where the recipe says."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Literal

from benchmarks.heldout2 import effects as E
from benchmarks.heldout2.photos import product
from benchmarks.heldout2.render import Camera, Clip, Deform, Warp, fit_view
from catalog_motion.presets import Preset, load_presets


@dataclass
class Delivery:
    """An H.264 encode made from the master's frames: `crf`, and which master frame feeds each encoded
    frame (`feed`, default all in order); `score_encode`: check_clip scores the encode (a round trip)."""

    crf: int
    feed: Callable[[int], list[int]] | None = None
    score_encode: bool = False


@dataclass
class Plan:
    clip: Clip | None = None
    delivery: Delivery | None = None
    engine_scale: float | None = None  # the real `camera` engine renders the master at this motion scale
    broken: Literal["truncated", "zero-length", "corrupt"] | None = None  # a file that is not a clip


@dataclass
class Recipe:
    name: str
    label: Literal["good", "defect"]
    family: str
    strength: str
    preset: str
    product: str
    visible: bool | None  # defects only: would a person notice it at 1080p
    note: str
    make: Callable[[], Plan] = field(repr=False)
    base: Callable[[], Plan] | None = field(default=None, repr=False)  # the defect-free scene
    shown: float = 0.85  # clip time where the defect is clearest (validation, contact sheet)


@cache
def presets() -> dict[str, Preset]:
    return load_presets()


def scene(
    preset_name: str,
    name: str,
    *,
    k: float = 1.0,
    sway: float = 0.0,
    hem: float = 0.0,
    breath: float = 0.0,
    parallax: bool = False,
    camera: Callable[[Camera], Camera] | None = None,
    effects: list | None = None,
    n_frames: int | None = None,
    time_of: Callable[[int], float] | None = None,
    fill: float = 0.84,
    still: bool = False,
) -> Clip:
    """A good clip of `name` for the preset: its camera path at amount x k, with garment sway (hem moves
    `sway` of the garment's height), hem wave (`hem`), breathing (`breath`) and parallax (the subject and the
    backdrop seen from different views)."""
    preset = presets()[preset_name]
    p = product(name)
    m = preset.motion
    rest = fit_view(p, preset.width, preset.height, m.focus, fill)
    if still:
        cam = E.still_camera(rest)
    elif m.path == "breathing":
        cam = E.breathing_camera(rest, m.amount, k, preset.height)
    elif m.path == "parallax_orbit":
        cam = E.orbit_camera(rest, m.amount, k, preset.width)
    else:
        cam = E.push_camera(rest, m.amount, k)
    if camera is not None:
        cam = camera(cam)
    deform: Deform | None = None
    if sway or hem or breath:
        h = p.height

        def deform(t: float) -> Warp:
            phase = 2 * math.pi * 2 * t  # two swings per clip: a loop closes on itself
            return Warp(sway * h * math.sin(phase), hem * h, phase, breath * (0.5 - 0.5 * math.cos(phase)))

    return Clip(
        name,
        preset.width,
        preset.height,
        float(preset.fps),
        n_frames or preset.n_frames,
        cam,
        loop=preset.loop,
        backdrop_camera=E.backdrop_of(cam, rest) if parallax else None,
        deform=deform,
        effects=list(effects or []),
        time_of=time_of,
    )


def n_of(preset_name: str) -> int:
    return presets()[preset_name].n_frames


# --- good clips ------------------------------------------------------------------------------------


def _good(name: str, preset: str, prod: str, note: str, make: Callable[[], Plan]) -> Recipe:
    return Recipe(name, "good", "good", "-", preset, prod, None, note, make)


def good_recipes() -> list[Recipe]:
    PP, SO, CU = "product-page", "social", "close-up"
    r: list[Recipe] = []
    for preset, prod, scale in [(PP, "blouse", 1.0), (PP, "trench", 0.5), (SO, "flannel", 1.0),
                                (SO, "skirt", 0.5), (CU, "sweater", 1.0), (CU, "tote", 0.5)]:  # fmt: skip
        r.append(_good(f"good-engine-{preset}-{prod}-x{scale}", preset, prod,
                       f"the real camera engine at motion x{scale}", lambda s=scale: Plan(engine_scale=s)))  # fmt: skip
    for preset, prod, k in [(PP, "denim_jacket", 1.0), (PP, "ihc_print", 0.5), (SO, "trousers", 1.0),
                            (SO, "sweater", 0.5), (CU, "flannel", 1.0), (CU, "scarf", 0.5)]:  # fmt: skip
        r.append(_good(f"good-camera-{preset}-{prod}-x{k}", preset, prod,
                       f"v2's own camera path at the preset's amount x{k}",
                       lambda p=preset, n=prod, k=k: Plan(scene(p, n, k=k, parallax=p == SO))))  # fmt: skip
    specs = [
        ("sway-skirt", PP, "skirt", "anchored sway, hem 3 % of the garment height", dict(sway=0.03)),
        ("sway-trench", SO, "trench", "anchored sway, hem 3 % (coat, shoulders fixed)", dict(sway=0.03)),
        ("sway-knit", PP, "sweater", "anchored sway 1.5 % on cable knit", dict(sway=0.015)),
        ("hem-skirt", PP, "skirt", "hem wave 1.2 % + sway 1 %", dict(hem=0.012, sway=0.01)),
        ("hem-blouse", SO, "blouse", "hem wave 1 % on polka dots", dict(hem=0.01)),
        ("breath-sweater", PP, "sweater", "chest breathing 1.2 %", dict(breath=0.012)),
        ("breath-flannel", SO, "flannel", "chest breathing 1 % on plaid", dict(breath=0.01, sway=0.01)),
        (
            "parallax-tote",
            PP,
            "tote",
            "subject/backdrop parallax (backdrop 35 % of the move)",
            dict(parallax=True, k=1.0),
        ),
        (
            "parallax-denim",
            SO,
            "denim_jacket",
            "parallax orbit on denim with a back print",
            dict(sway=0.01, parallax=True),
        ),
        (
            "loop-trench",
            PP,
            "trench",
            "exact loop: breathing camera + sway 2 % + chest 0.8 %",
            dict(sway=0.02, breath=0.008),
        ),
        ("loop-scarf", PP, "scarf", "exact loop: breathing camera + sway 2 % (silk print)", dict(sway=0.02)),
        ("closeup-knit", CU, "sweater", "push-in on cable knit", {}),
        ("closeup-tweed", CU, "trousers", "push-in on tweed", {}),
        ("social-knit-sway", SO, "sweater", "orbit + sway 2.5 % on cable knit", dict(sway=0.025)),
    ]
    for tag, preset, prod, note, kw in specs:
        r.append(_good(f"good-{tag}", preset, prod, note, lambda p=preset, n=prod, kw=kw: Plan(scene(p, n, **kw))))
    soft = [("soft-ihc", PP, "ihc_print"), ("soft-denim-closeup", CU, "denim_jacket"), ("soft-scarf", SO, "scarf")]
    for tag, preset, prod in soft:
        r.append(_good(f"good-{tag}", preset, prod, "re-render softness: 0.78x round trip + 0.6 px blur",
                       lambda p=preset, n=prod: Plan(scene(p, n, effects=[E.softness()]))))  # fmt: skip
    crfs = [("crf18-knit", PP, "sweater", 18, {}), ("crf22-plaid", SO, "flannel", 22, dict(sway=0.015)),
            ("crf26-denim-loop", PP, "denim_jacket", 26, {}), ("crf24-plaid-sway", PP, "flannel", 24, dict(sway=0.02)),
            ("crf20-denim-soft", PP, "denim_jacket", 20, dict(sway=0.015, hem=0.008))]  # fmt: skip
    for tag, preset, prod, crf, kw in crfs:
        fx = [E.softness(0.85, 0.5)] if "soft" in tag else []
        r.append(_good(f"good-{tag}", preset, prod, f"libx264 crf {crf} round trip (scored as the encode)",
                       lambda p=preset, n=prod, c=crf, kw=kw, fx=fx: Plan(scene(p, n, effects=fx, **kw),
                                                                          Delivery(c, score_encode=True))))  # fmt: skip
    return r


# --- defects ---------------------------------------------------------------------------------------


def _defect(family, strength, visible, preset, prod, note, make, base, shown=0.85) -> Recipe:
    name = f"{family}-{strength}-{preset}-{prod}".replace(" ", "").replace("%", "pct").replace("/", "per")
    return Recipe(name, "defect", family, strength, preset, prod, visible, note, make, base, shown)


def defect_recipes() -> list[Recipe]:
    PP, SO, CU = "product-page", "social", "close-up"
    r: list[Recipe] = []

    def add(family, strength, visible, preset, prod, note, shown=0.85, base_kw=None, delivery=None, **kw):
        base_kw = base_kw or {}

        def make(p=preset, n=prod, kw=kw, bk=base_kw, d=delivery):
            return Plan(scene(p, n, **{**bk, **kw}), d)

        def base(p=preset, n=prod, bk=base_kw):
            return Plan(scene(p, n, **bk))

        r.append(_defect(family, strength, visible, preset, prod, note, make, base, shown))

    # subject drift: colour (a*b* shift in Lab units, ramping in from 15 % to 70 % of the clip)
    for de, vis, preset, prod in [(1.5, False, PP, "blouse"), (5, True, SO, "trench"), (10, True, CU, "scarf")]:
        add("colour_drift", f"dE{de:g}", vis, preset, prod,
            f"garment chroma moves {de:g} Lab units; " + ("below what a viewer notices on a moving clip (<2)"
                                                          if not vis else "a clearly different colour (>3)"),
            effects=[E.colour_drift(de)])  # fmt: skip
    # shape: cross-fade into another garment
    for s, vis, preset, prod, other in [(0.15, False, PP, "skirt", "trousers"), (0.5, True, SO, "blouse", "flannel"),
                                        (1.0, True, PP, "flannel", "sweater")]:  # fmt: skip

        def make_morph(p=preset, n=prod, o=other, s=s):
            target = scene(p, o)
            return Plan(scene(p, n, effects=[E.morph_into(target, s)]))

        r.append(_defect("morph", f"{round(100 * s)}%", vis, preset, prod,
                         f"cross-fade to the {other} reaching {100 * s:.0f} %: "
                         + ("a faint ghost only" if not vis else "the garment visibly turns into another"),
                         make_morph, lambda p=preset, n=prod: Plan(scene(p, n))))  # fmt: skip
    # print / logo / text smear and melt (fraction of the garment's height, at full resolution)
    melts = [(0.003, True, False, PP, "tote", "smear 0.3 %: ~3 px at 1080p, text still crisp"),
             (0.025, False, True, PP, "tote", "text melts 2.5 % (~25 px): letters sag unevenly"),
             (0.06, False, True, SO, "denim_jacket", "back print melts 6 % (~45 px)"),
             (0.025, True, True, CU, "ihc_print", "print smeared 2.5 % down: detail visibly dragged")]  # fmt: skip
    for frac, smear, vis, preset, prod, note in melts:
        add("print_melt", f"{'smear' if smear else 'melt'}{frac * 100:g}%", vis, preset, prod, note,
            effects=[E.print_melt(frac, smear)])  # fmt: skip
    # boiling texture on fabric (grey levels of fresh grain each frame)
    for g, vis, preset, prod in [(1.5, False, PP, "sweater"), (6, True, SO, "flannel"), (12, True, CU, "trousers"),
                                 (6, True, CU, "denim_jacket")]:  # fmt: skip
        add("boiling", f"{g:g}grey", vis, preset, prod,
            f"fresh 2 px grain of std {g:g} grey levels on the fabric every frame; "
            + ("under the texture's own contrast, not seen" if not vis else "the fabric visibly crawls"),
            effects=[E.boiling(g)])  # fmt: skip
    # hard cut at half the clip (shift as a fraction of the width)
    for shift, zoom, vis, preset, prod in [(0.003, 1.0, False, PP, "trench"), (0.025, 1.0, True, SO, "tote"),
                                           (0.08, 1.1, True, CU, "scarf")]:  # fmt: skip
        w = presets()[preset].width
        add("hard_cut", f"{shift * 100:g}%" + ("+zoom10%" if zoom > 1 else ""), vis, preset, prod,
            f"the view jumps {shift * w:.0f} px at 1080p at mid-clip" + (" and zooms 10 %" if zoom > 1 else "")
            + ("; a 3 px step is under what a viewer notices" if not vis else "; a visible jump cut"),
            shown=0.52, camera=lambda c, s=shift, z=zoom, w=w: E.cut_camera(c, 0.5, s, z, w))  # fmt: skip
    # short glitch
    glitches = [(2, 0.003, False, False, SO, "skirt"), (3, 0.04, False, True, PP, "blouse"),
                (6, 0.06, True, True, CU, "sweater")]  # fmt: skip
    for n, shift, blocky, vis, preset, prod in glitches:
        start = int(0.6 * n_of(preset)) + 1
        add("glitch", f"{n}f-{shift * 100:g}%" + ("-blocky" if blocky else ""), vis, preset, prod,
            f"{n} frames from frame {start} knocked {shift * 1080:.0f} px sideways"
            + (", blocky with swapped colours" if blocky else "")
            + ("; 3 px for 2 frames is not seen" if not vis else "; a visible glitch"),
            shown=(start + 0.5) / n_of(preset), effects=[E.glitch(start, n, shift, blocky)])  # fmt: skip
    # garment cut off by the frame: the garment is `fill` x the frame's width (social is 9:16)
    for over, vis, preset, prod in [(0.005, False, SO, "sweater"), (0.06, True, SO, "trench"),
                                    (0.18, True, SO, "flannel"), (0.1, True, PP, "denim_jacket")]:  # fmt: skip
        p = presets()[preset]
        g = product(prod)
        fill = (1 + 2 * over) * p.width / g.width / min(p.width / g.width, p.height / g.height)
        add("framing", f"cut{over * 100:g}%", vis, preset, prod,
            f"garment {over * 100:g} % of the frame width outside each side ({over * p.width:.0f} px)"
            + ("; a sleeve tip grazing the edge" if not vis else "; sleeves visibly cut off") + " (hem sways 2 %)",
            fill=fill, still=True, sway=0.02, shown=0.3)  # fmt: skip
    # a still with faint noise where the preset asks for motion
    for g, preset, prod in [(1.0, SO, "skirt"), (2.5, PP, "tote"), (1.0, CU, "flannel")]:
        add("still_noise", f"noise{g:g}", True, preset, prod,
            f"no motion at all (noise std {g:g}): a still where the preset asks for {presets()[preset].motion.path}",
            still=True, effects=[E.faint_noise(g)])  # fmt: skip
    # too much motion
    for k, sway, vis, preset, prod, note in [
        (2.0, 0.0, False, SO, "trousers", "camera at 2x the preset's amount: livelier, still reads as intended"),
        (4.0, 0.0, True, SO, "skirt", "camera at 4x: a swooping 28 % arc, the garment swings across the frame"),
        (1.0, 0.09, True, PP, "trench", "hem swinging 9 % of the garment height (~120 px): flapping"),  # peak at t 1/8
        (4.0, 0.0, True, CU, "sweater", "push-in at 4x: 49 % magnification in 4 s, a lurch"),
    ]:
        add("too_much_motion", f"x{k:g}" + (f"-sway{sway * 100:g}%" if sway else ""), vis, preset, prod, note,
            k=k, sway=sway, shown=0.125 if sway else 0.5)  # fmt: skip
    # clip shorter than the preset (the same motion, ended early)
    for frac, vis, preset, prod in [
        (0.5, True, SO, "denim_jacket"),
        (0.75, True, PP, "scarf"),
        (0.95, False, CU, "tote"),
    ]:
        full = n_of(preset)
        add("short_clip", f"{frac * 100:g}%", vis, preset, prod,
            f"{round(frac * full)} of {full} frames ({frac * presets()[preset].duration_s:.1f} s)"
            + ("; the clip visibly ends early" if vis else "; 0.2 s short, not noticed"),
            n_frames=round(frac * full), time_of=lambda i, f=full: i / (f - 1), shown=0.3)  # fmt: skip
    # loop seam on the loop preset (the view creeps and jumps back at the seam)
    for frac, vis, prod in [(0.0025, False, "skirt"), (0.015, True, "ihc_print"), (0.04, True, "blouse")]:
        add("loop_seam", f"{frac * 100:g}%", vis, PP, prod,
            f"the loop's last frame is {frac * 1350:.0f} px off its first"
            + ("; a 3 px step at the seam is not seen" if not vis else "; a visible jump each time it loops"),
            camera=lambda c, f=frac: E.drifting_camera(c, f, 1350), shown=0.999)  # fmt: skip
    # flicker / brightness pumping
    fps_s = float(presets()[SO].fps)
    for tag, fx, vis, preset, prod, note in [
        (
            "random0.3%",
            E.gain(E.random_flicker(0.003)),
            False,
            PP,
            "sweater",
            "+-0.3 % exposure per frame: steps under 1 %, not seen",
        ),
        ("random4%", E.gain(E.random_flicker(0.04)), True, SO, "trench", "+-4 % exposure per frame: visible flicker"),
        ("pump8%", E.gain(E.pumping(0.08, 2.0, fps_s)), True, SO, "blouse", "brightness pumping +-8 % at 2 Hz"),
    ]:
        add("flicker", tag, vis, preset, prod, note, effects=[fx], shown=0.5)
    # black and frozen frames
    pp_n, so_n = n_of(PP), n_of(SO)
    add(
        "black_frozen",
        "black1",
        True,
        PP,
        "trousers",
        "one black frame at 40 %: a visible blink",
        effects=[E.gain(E.black({int(0.4 * pp_n)}))],
        shown=(int(0.4 * pp_n) + 0.1) / pp_n,
    )
    add(
        "black_frozen",
        "black3",
        True,
        SO,
        "sweater",
        "three black frames at 60 %",
        effects=[E.gain(E.black({int(0.6 * so_n) + j for j in range(3)}))],
        shown=(int(0.6 * so_n) + 1.1) / (so_n - 1),
    )
    hold = (int(0.3 * so_n), int(0.3 * so_n) + 45)
    add(
        "black_frozen",
        "frozen1.5s",
        True,
        SO,
        "flannel",
        "the picture freezes for 45 frames (1.5 s) mid-move",
        time_of=lambda i, a=hold[0], b=hold[1], n=so_n: (a if a <= i < b else i) / (n - 1),
        shown=0.4,
    )
    # flashes
    pp_fps = float(presets()[PP].fps)
    for tag, per_s, level, count, vis, prod, note in [
        ("single2%", 1.0, 1.02, 1, False, "skirt", "one frame 2 % brighter: not seen"),
        ("4pers", 4.0, 1.7, 12, True, "denim_jacket", "12 frames flashing 70 % brighter, 4 a second"),
        ("8pers", 8.0, 0.35, 16, True, "tote", "16 dark flashes (35 % brightness), 8 a second"),
    ]:
        start = int(0.3 * pp_n)
        add("flashes", tag, vis, PP, prod, note, effects=[E.gain(E.flashes(per_s, pp_fps, level, start, count))],
            shown=(start + 0.1) / pp_n)  # fmt: skip
    # defects only in the delivered encode (the master is a good clip)
    for tag, vis, preset, prod, d, note in [
        ("crf48", True, PP, "sweater", Delivery(48), "encode at crf 48: blocky, knit texture gone"),
        ("crf40", True, SO, "flannel", Delivery(40), "encode at crf 40: plaid smeared into blocks"),
        (
            "drop-every5",
            True,
            PP,
            "blouse",
            Delivery(20, lambda n: [i for i in range(n) if i % 5 != 4]),
            "every 5th frame dropped: stutter, 80 % of the duration",
        ),
        (
            "60pct-frames",
            True,
            SO,
            "trousers",
            Delivery(21, lambda n: list(range(int(0.6 * n)))),
            "the encode stops at 60 % (3.6 s of 6 s)",
        ),
        (
            "drop1",
            False,
            CU,
            "scarf",
            Delivery(20, lambda n: [i for i in range(n) if i != n // 2]),
            "one frame dropped mid-clip: a 42 ms hitch nobody sees",
        ),
    ]:
        add("delivered", tag, vis, preset, prod, note, delivery=d, shown=0.5)
    # moderate drift in structure + colour + texture at once
    for s, vis, preset, prod in [(0.4, False, PP, "tote"), (1.0, True, PP, "denim_jacket"), (1.0, True, SO, "scarf")]:
        add("combined_drift", f"x{s:g}", vis, preset, prod,
            f"colour {3 * s:g} Lab + print melt {1.5 * s:g} % + softening {1.2 * s:g} px together"
            + ("; each part is under notice" if not vis else "; the garment looks off"),
            effects=[E.colour_drift(3 * s, 200.0), E.print_melt(0.015 * s),
                     E.blur(lambda t, s=s: 1.2 * s * E.ramp(t))])  # fmt: skip
    # files that are not a clip (expected: unreadable, a clear bad-input error)
    for kind in ("truncated", "zero-length", "corrupt"):
        r.append(Recipe(f"unreadable-{kind}", "defect", "unreadable", kind, PP, "skirt", True,
                        f"a {kind} file in place of the master: there is nothing to watch",
                        lambda k=kind: Plan(scene(PP, "skirt"), broken=k), None))  # fmt: skip
    return r


@cache
def recipes() -> list[Recipe]:
    return good_recipes() + defect_recipes()
