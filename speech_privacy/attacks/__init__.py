"""Attackers that measure what (masked) speech leaks: a CTC speech recogniser for content
(`asr`, plus PyPI pocketsphinx for real corpora) and a speaker classifier (`speaker`)."""
