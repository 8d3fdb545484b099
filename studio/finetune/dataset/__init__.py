"""Fine-tune dataset builder: uploads and ZIPs to 22.05 kHz clips with transcripts, review, split and manifest."""

from studio.finetune.dataset.build import build_dataset
from studio.finetune.dataset.model import (
    MAX_CLIP_S,
    MIN_CLIP_S,
    REVIEW_COLUMNS,
    SAMPLE_RATE,
    Clip,
    DatasetDraft,
    Summary,
)
from studio.finetune.dataset.pauses import split_at_pauses
from studio.finetune.dataset.review import apply_review, review_rows
from studio.finetune.dataset.sources import gather_sources
from studio.finetune.dataset.store import check_enough_audio, load_manifest, save_dataset, summarize

__all__ = [
    "MAX_CLIP_S",
    "MIN_CLIP_S",
    "REVIEW_COLUMNS",
    "SAMPLE_RATE",
    "Clip",
    "DatasetDraft",
    "Summary",
    "apply_review",
    "build_dataset",
    "check_enough_audio",
    "gather_sources",
    "load_manifest",
    "review_rows",
    "save_dataset",
    "split_at_pauses",
    "summarize",
]
