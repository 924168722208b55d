"""Device-agnostic training core: loop (checkpoint/resume, early stopping, AMP), feature caching, DDP."""

from vsalib.train.loop import FitResult, evaluate_model, fit, make_optimizer, model_device, pick_device, seed_everything

__all__ = ["FitResult", "evaluate_model", "fit", "make_optimizer", "model_device", "pick_device", "seed_everything"]
