"""Supertonic fine-tuning (issue 18, being built): latent targets for a speaker's clips (`targets.py`)."""
