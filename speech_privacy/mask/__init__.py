"""The differential mask: hard-concrete gates (gate), generators S/M and the random baseline
(generator), and the DiffMask training objective (train)."""
