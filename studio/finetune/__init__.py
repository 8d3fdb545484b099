"""Fine-tuning: datasets, training specs, the training subprocess, runs and evaluation."""
