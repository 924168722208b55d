"""Run profiles: what a notebook does when only ``profile`` is given.

- ``quick``: the embedded synthetic dataset (240 scenes), EfficientNet-Lite0 at 128 px, short schedules (4 epochs),
  CPU; every notebook finishes in a minute or two on a 2-core laptop (the book and CI use it).
- ``cpu``: real data at 224 px on CPU with the offline EfficientNet-Lite0; fine-tuning updates the
  last two stages and the head on cached activations of the frozen stages (centre crop + flip).
- ``paper``: the papers' backbone (VGG16) and schedule, whole network fine-tuned on images with
  random crops and flips, for a GPU; per-group learning rates as in R-CNNGSR (0.001 conv, 0.001 fc,
  0.01 classifier), batch 32, 20 epochs.

Explicit notebook parameters override the profile's values.
"""

from __future__ import annotations

from vsalib.errors import UnknownNameError

PROFILES: dict[str, dict] = {
    "quick": {
        "dataset": "synthetic", "subset": None, "backbone": "efficientnet_lite0", "image_size": 128,
        "n_images": 240, "epochs": 4, "folds": 3, "seeds": [0], "batch_size": 32,
        "finetune_from": 12, "lrs": {"conv": 0.01, "fc": 0.01, "classifier": 0.05},
        "patience": None, "views": 2, "full_finetune": False,
    },
    "cpu": {
        "dataset": "twitter1", "subset": "five", "backbone": "efficientnet_lite0", "image_size": 224,
        "n_images": None, "epochs": 12, "folds": 5, "seeds": [0], "batch_size": 32,
        "finetune_from": 12, "lrs": {"conv": 0.005, "fc": 0.005, "classifier": 0.05},
        "patience": 4, "views": 2, "full_finetune": False,
    },
    "paper": {
        "dataset": "twitter1", "subset": "five", "backbone": "vgg16", "image_size": 224,
        "n_images": None, "epochs": 20, "folds": 5, "seeds": [0], "batch_size": 32,
        "finetune_from": None, "lrs": {"conv": 0.001, "fc": 0.001, "classifier": 0.01},
        "patience": None, "views": 1, "full_finetune": True,
    },
}


def resolve_profile(profile: str, **overrides) -> dict:
    """The profile's settings with every non-None override applied.

    The profile's ``subset`` belongs to the profile's own dataset: when another dataset is asked
    for, the subset is left to that dataset's default (unless given).
    """
    if profile not in PROFILES:
        raise UnknownNameError(f"unknown profile {profile!r}; valid profiles: {', '.join(PROFILES)}")
    cfg = dict(PROFILES[profile])
    for key, value in overrides.items():
        if key not in cfg:
            raise UnknownNameError(f"profile setting {key!r} does not exist; valid: {', '.join(sorted(cfg))}")
        if value is not None:
            cfg[key] = value
    if cfg["dataset"] != PROFILES[profile]["dataset"] and overrides.get("subset") is None:
        cfg["subset"] = None  # a profile's default subset is its own dataset's (five-agree is Twitter I's)
    cfg["profile"] = profile
    from vsalib import provenance

    provenance.set_run(profile=profile, backbone=cfg["backbone"])  # stamped on the records written next
    return cfg


# The notebook parameter ``subset`` selects a dataset's variant: Twitter I's agreement subset,
# or the label rule of the emotion datasets. Its default per dataset:
SUBSET_OPTION: dict[str, tuple[str, str]] = {
    "twitter1": ("subset", "five"),
    "emotion6": ("labels", "binary"),
    "emotionroi": ("labels", "binary"),
    "fi": ("labels", "binary"),
    "iaps": ("labels", "binary"),
    "artphoto": ("labels", "binary"),
    "abstract": ("labels", "binary"),
    "synthetic": ("labels", "binary"),
}


def dataset_options(dataset: str, subset: str | None, *, n_images: int | None = None,
                    image_size: int | None = None) -> tuple[str | None, dict]:
    """``(subset, loader options)`` for a notebook's ``dataset``/``subset`` parameters.

    The returned subset is never None for a dataset that has variants (its default is filled in),
    so records of ``subset=None`` and of the explicit default are the same experiment.
    """
    options: dict = {}
    if dataset in SUBSET_OPTION:
        key, default = SUBSET_OPTION[dataset]
        subset = subset or default
        options[key] = subset
    elif subset is not None:
        raise UnknownNameError(f"dataset {dataset!r} has no subsets; leave subset=None")
    if dataset == "synthetic":
        if n_images is not None:
            options["n_images"] = n_images
        if image_size is not None:
            options["size"] = image_size
    return subset, options
