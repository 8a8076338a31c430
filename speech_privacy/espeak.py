"""eSpeak NG (PyPI `espeakng-loader`: the library and its data, no system package) through
ctypes: one utterance in, float32 samples out. The speech corpora speak with it."""

from __future__ import annotations

import ctypes
import threading

import numpy as np

from .audio import AudioError

#: The en-us voice variants the corpora use as speakers.
VOICES = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5")
#: Further en-us variants (eSpeak NG's voices/!v), heard only by the attackers' recogniser in
#: training and never speakers of a corpus's clips: a real attacker's ASR has heard many voices.
ATTACKER_VOICES = ("m8", "Alex", "Andy", "Annie", "adam", "antonio", "aunty", "belinda",
                   "benjamin", "caleb", "david", "edward", "ian", "john", "linda", "max",
                   "norbert", "paul", "quincy", "robert", "steph", "travis", "victor", "zac")

# eSpeak NG is one process-wide library with global state: initialised once, used under a lock.
_ESPEAK_LOCK = threading.Lock()
_ESPEAK: dict = {}
_AUDIO_OUTPUT_SYNCHRONOUS, _CHARS_UTF8 = 2, 1
_RATE, _PITCH, _RANGE = 1, 3, 4          # espeak_PARAMETER values
_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                                   ctypes.c_void_p)


def espeak_synthesise(text: str, voice: str, rate_wpm: int = 175, pitch: int = 50,
                      pitch_range: int = 50, noise_seed: int = 0) -> tuple[np.ndarray, int]:
    """Speak `text` with eSpeak NG's en-us voice and variant `voice` (e.g. "f3"):
    (float32 samples in [-1, 1], sample rate in Hz, 22050). The samples depend slightly on
    the utterances this process synthesised before (eSpeak's internal state); the breath
    noise of some voices is random, seeded with `noise_seed`."""
    with _ESPEAK_LOCK:
        lib, rate = _espeak()
        if voice not in VOICES + ATTACKER_VOICES \
                or lib.espeak_SetVoiceByName(f"en-us+{voice}".encode()) != 0:
            raise AudioError(f"unknown eSpeak voice variant {voice!r} (known: "
                             f"{VOICES + ATTACKER_VOICES})")
        for parameter, value in ((_RATE, rate_wpm), (_PITCH, pitch), (_RANGE, pitch_range)):
            lib.espeak_SetParameter(parameter, int(value), 0)
        chunks = _ESPEAK["chunks"]
        chunks.clear()
        data = text.encode()
        lib.espeak_ng_SetRandSeed(int(noise_seed) & 0x7FFFFFFF)   # its own generator
        _ESPEAK["libc"].srand(int(noise_seed) & 0xFFFFFFFF)      # and the C library's
        status = lib.espeak_Synth(data, len(data) + 1, 0, 0, 0, _CHARS_UTF8, None, None)
        pcm = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
        chunks.clear()
    if status != 0 or not len(pcm):
        raise AudioError(f"eSpeak NG could not synthesise {text!r} (status {status})")
    return pcm.astype(np.float32) / 32768, rate


def _espeak():
    """(library, output rate in Hz), initialising eSpeak NG on first use (under the lock)."""
    if not _ESPEAK:
        import espeakng_loader

        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p,
                                          ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint,
                                     ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
                                     ctypes.c_void_p, ctypes.c_void_p]
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0,
                                     espeakng_loader.get_data_path().encode(), 0)
        if rate <= 0:
            raise AudioError(f"eSpeak NG failed to initialise (status {rate})")
        chunks: list[np.ndarray] = []

        def collect(wav, count, events):
            if wav and count > 0:
                chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
            return 0

        callback = _SYNTH_CALLBACK(collect)
        lib.espeak_SetSynthCallback(callback)
        _ESPEAK.update(lib=lib, rate=rate, chunks=chunks, callback=callback,  # keep alive
                       libc=ctypes.CDLL(None))
    return _ESPEAK["lib"], _ESPEAK["rate"]
