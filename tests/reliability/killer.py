"""Run catalog_run in this process and SIGKILL it at a chosen point (test-only; never imported by the project).

    python -m tests.reliability.killer '<json flow params>'      with REL_KILL_AT=<stage>:<n>

stage generate: kill while the n-th master clip of this process is half written (frames on disk, not done);
stage encode:   kill once the n-th encode call has started writing files into its encode folder;
stage publish:  kill right after the n-th video object is stored (before its poster and before the batch
                is journaled) - the worst case: an object in the sink that no manifest names yet.
The wrappers only add the kill; every stage still runs its real code. Without REL_KILL_AT nothing changes.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path


def _die(where: str) -> None:
    sys.stdout.write(f"KILLING at {where}\n")
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def install(spec: str) -> None:
    stage, _, nth = spec.partition(":")
    target = int(nth or 1)
    count = {"n": 0}
    lock = threading.Lock()

    def hit() -> bool:
        with lock:
            count["n"] += 1
            return count["n"] == target

    if stage == "generate":
        from catalog_motion import media

        real_write = media.MasterClipWriter.write

        def write(self, frame):  # noqa: ANN001
            real_write(self, frame)
            if self.n_frames == 3 and hit():
                if self._proc is not None:  # lossless H.264 goes through ffmpeg; raw NUT is muxed in-process
                    self._proc.stdin.flush()
                    time.sleep(0.2)  # let ffmpeg put the first frames into the .partial file
                _die(f"generate ({self._tmp.name})")

        media.MasterClipWriter.write = write
    elif stage == "encode":
        from publishing import encode

        real_encode = encode.encode_variants

        def encode_variants(clip, preset, out_dir, **kwargs):  # noqa: ANN001, ANN003
            if hit():
                folder = Path(out_dir)

                def watch() -> None:
                    deadline = time.monotonic() + 30
                    while time.monotonic() < deadline:
                        if folder.exists() and any(folder.iterdir()):
                            _die(f"encode ({folder})")
                        time.sleep(0.002)

                threading.Thread(target=watch, daemon=True).start()
            return real_encode(clip, preset, out_dir, **kwargs)

        encode.encode_variants = encode_variants
    elif stage == "publish":
        from publishing import sinks

        real_put = sinks.Sink.put

        def put(self, local_path, key, content_type, metadata=None, **kw):  # noqa: ANN001
            asset = real_put(self, local_path, key, content_type, metadata, **kw)
            if kw.get("kind", "").startswith("video") and hit():
                _die(f"publish ({key})")
            return asset

        sinks.Sink.put = put
    else:
        raise SystemExit(f"unknown REL_KILL_AT stage {stage!r}")


def main() -> None:
    params = json.loads(sys.argv[1])
    spec = os.environ.get("REL_KILL_AT")
    if spec:
        install(spec)
    from flows.catalog_run import catalog_run

    summary = catalog_run(**params)
    print(
        "SUMMARY "
        + json.dumps(
            {"run_id": summary["run_id"], "counts": summary["counts"], "invariants": summary.get("invariants")}
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
