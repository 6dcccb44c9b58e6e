"""Published product-page MP4 and WebM play in a real browser (headless Debian Chromium) over loopback HTTP."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from catalog_motion.settings import SinkSettings
from publishing.encode import encode_variants
from publishing.publish import publish_variant
from publishing.sinks import make_sink

from .conftest import small_preset

PAGE = """<!doctype html><html><head><meta charset="utf-8"><style>
body {{ margin: 0; background: #202020; }} video {{ width: {w}px; height: {h}px; margin: 8px; background: #000; }}
pre {{ display: none; }}</style></head><body>
<video id="mp4" muted playsinline loop preload="auto" poster="{poster}">
<source src="{mp4}" type='video/mp4; codecs="avc1.640028"'></video>
<video id="webm" muted playsinline loop preload="auto"><source src="{webm}" type='video/webm; codecs="vp9"'></video>
<pre id="result"></pre>
<script>
const out = {{canPlay: {{
  h264: document.createElement("video").canPlayType('video/mp4; codecs="avc1.640028"'),
  vp9: document.createElement("video").canPlayType('video/webm; codecs="vp9"')}}}};
function probe(id) {{
  return new Promise(resolve => {{
    const v = document.getElementById(id);
    const report = (state) => {{
      let mean = null;
      try {{
        const c = document.createElement("canvas"); c.width = v.videoWidth; c.height = v.videoHeight;
        const g = c.getContext("2d"); g.drawImage(v, 0, 0);
        const px = g.getImageData(0, 0, c.width, c.height).data; let s = 0;
        for (let i = 0; i < px.length; i += 4) s += px[i] + px[i + 1] + px[i + 2];
        mean = s / (px.length / 4 * 3);
      }} catch (e) {{ mean = String(e); }}
      resolve({{state, readyState: v.readyState, videoWidth: v.videoWidth, videoHeight: v.videoHeight,
               duration: v.duration, currentTime: v.currentTime, error: v.error ? v.error.code : null,
               canvasMean: mean}});
    }};
    v.addEventListener("error", () => report("error"), true);
    v.querySelector("source").addEventListener("error", () => report("source-error"));
    v.addEventListener("canplaythrough", () => {{
      v.play().then(() => setTimeout(() => report("playing"), 500)).catch(e => report("play-rejected: " + e));
    }}, {{once: true}});
    v.load();
  }});
}}
Promise.all([probe("mp4"), probe("webm")]).then(([mp4, webm]) => {{
  out.mp4 = mp4; out.webm = webm;
  document.getElementById("result").textContent = JSON.stringify(out);
}});
</script></body></html>"""


@pytest.mark.browser
def test_product_page_mp4_and_webm_play_in_chromium(pub_masters, tmp_path, browser, browser_static_server):
    preset = small_preset("product-page", 320, 400, duration_s=2.0)
    clip = pub_masters(320, 400, 24, 48)
    site = tmp_path / "site"
    sink = make_sink(SinkSettings(uri=str(site)))
    stored = publish_variant(
        sku="SKU-1", preset=preset, sink=sink, metadata={}, assets=encode_variants(clip, preset, tmp_path / "enc")
    )
    keys = {a.kind: a.key for a in stored}
    (site / "index.html").write_text(
        PAGE.format(
            w=preset.width, h=preset.height, mp4=keys["video"], webm=keys["video_webm"], poster=keys["poster_jpeg"]
        )
    )
    url = browser_static_server(site) + "/index.html"
    result = browser.eval_json(url)
    assert result["canPlay"]["vp9"] == "probably"
    # Debian's chromium is built with its system FFmpeg, H.264 included; if that ever changes, the MP4
    # part of this test must fail loudly rather than pass on the WebM alone.
    assert result["canPlay"]["h264"] == "probably", result
    for kind in ("mp4", "webm"):
        facts = result[kind]
        assert facts["state"] == "playing" and facts["error"] is None, (kind, facts)
        assert facts["readyState"] >= 3, (kind, facts)  # HAVE_FUTURE_DATA or better
        assert (facts["videoWidth"], facts["videoHeight"]) == (preset.width, preset.height), (kind, facts)
        assert abs(facts["duration"] - 2.0) <= 1 / 24 + 1e-3, (kind, facts)
        # Decoded pixels look like the master (mean brightness of the synthetic clip is ~100-140).
        assert isinstance(facts["canvasMean"], float) and 60 < facts["canvasMean"] < 200, (kind, facts)

    shot = browser.screenshot(url, tmp_path / "playback.png", size=(2 * preset.width + 40, preset.height + 40))
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.float32)
    assert pixels.std() > 10, "screenshot is blank"
    # Both video boxes show the clip rather than the dark page background.
    left = pixels[8 : 8 + preset.height, 8 : 8 + preset.width]
    right = pixels[8 : 8 + preset.height, 24 + preset.width : 24 + 2 * preset.width]
    assert left.mean() > 60 and right.mean() > 60, (left.mean(), right.mean())
    (tmp_path / "result.json").write_text(json.dumps(result))
