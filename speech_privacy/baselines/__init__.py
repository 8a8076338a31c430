"""Disentanglement baselines the mask generator is compared with, at their real size:
`ppslu` (a wav2vec2/HuBERT-base encoder with an intent slice and adversarial ASR and speaker
heads) and `vae` (a waveform VAE encoder with adversarial attribute removal); `train` trains
reduced-width copies of both briefly for their utility and privacy figures.
"""
