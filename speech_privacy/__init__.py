"""Private spoken-language understanding on the edge: speech corpora (synthetic eSpeak NG
commands, CSV manifests, the Free Spoken Digit Dataset), audio validation and features, the
differential-mask speech encoder (SILENCE) and its disentanglement baselines, and the attackers
(CTC speech recogniser, speaker classifier) that measure what masked audio still leaks.

Stable interface for the export and bench commands (keep these names and meanings):

    speech_privacy.corpus.load_default_corpus(utterances_per_intent=12, seed=0,
            progress=True) -> SpeechCorpus
        the default synthetic corpus, cached under $EDGESIM_CACHE/speech (or
        ~/.cache/edgesim/speech); reproducible from the seed. load_corpus(name, ...) gives
        "fsc-style" (the same) or "slurp-style"; accompanying_corpus(n, seed) free sentences.
    speech_privacy.corpus.SpeechCorpus  (frozen dataclass)
        .audio float32 [N, 64000] in [-1, 1] at .sample_rate = 16000 Hz,
        .transcripts, .intents ("action|object|location"), .speakers (tuples of str, N each),
        .split(test_fraction=0.2, seed=0) -> (train, test)   stratified by intent; the split
                                                               `edgesim speech train` uses,
        .subset(index), .intent_names(), .intent_ids(), .speaker_names(), .speaker_ids();
        slurp-style also fills .entities (per clip (first word, end word, type) spans),
        .scenarios, .test_speakers and .split_by_speaker() -> (train, test).
    speech_privacy.mask.generator.build_mask_generator(variant, segments=100, samples=64000,
            seed=0, batch_size=None) -> keras.Model
        variant "S" or "M"; float32 waveform [batch, samples] -> gate logits
        log_alpha [batch, segments]; a segment is kept iff log_alpha exceeds the generator's
        operating threshold (load_generator(variant).threshold, set on held-out clips by
        `edgesim speech train`; untrained: HardConcrete().threshold). Pass batch_size=1 for TFLite
        export (full INT8 with firmware_sim.export.convert_int8; CONV_2D, AVERAGE_POOL_2D,
        FULLY_CONNECTED, RESHAPE; M adds BATCH_MATMUL, MUL, SOFTMAX, ADD).
    speech_privacy.mask.generator.load_trained_generator(variant, batch_size=None)
            -> keras.Model | None
        the same model with the weights `edgesim speech train` saved; None if never trained.
    speech_privacy.results.load_training_results(path=None) -> dict | None
        the results JSON `edgesim speech train` wrote (keys in speech_privacy.results'
        docstring: corpus, quick, reference, maskers[none|S|M|random] with intent_acc,
        wer_passive, wer_adaptive, wer_offtheshelf, entity_error_*, wer_accompanying,
        speaker_acc, mask_ratio, test_kl; curve; fsdd),
        None if never trained. results_path(), trained_dir() say where.

Modules: audio (WAV I/O, validate, resample; AudioError), corpus, datasets (CSV manifest,
FSDD), features (librosa log-mel/MFCC), slu (intent model), metrics (WER, accuracy),
attacks.asr (CTC attacker, pocketsphinx), attacks.speaker, mask.gate (hard concrete),
mask.generator, mask.train (DiffMask objective), pipeline (what `edgesim speech train` runs),
results.
"""
