"""One-line helpers for ablation trials (docs/lua.md, "Ablation studies").

A trial of an ablation study gets ``ablate={"features": [...], "layers":
[...], "components": [...]}``: the names to leave out. These helpers apply
it to the usual things, and refuse names they cannot find (a misspelled
feature must not pass as "no effect")::

    from maggy import ablation

    def train(lr, ablate, seed=0):
        X, names = ablation.drop_features(X, ablate, names=feature_names)
        model = ablation.skip_layers(build_model(), ablate)
        if ablation.keeps(ablate, "augmentation"):
            ...
"""

KINDS = ("features", "layers", "components")


def left_out(ablate, kind):
    """The names of `kind` ("features", "layers", "components") to leave
    out; an empty list when `ablate` is None (the function run by hand)."""
    if kind not in KINDS:
        raise ValueError("kind must be one of %s, not %r" % (", ".join(KINDS), kind))
    return list((ablate or {}).get(kind, ()))


def keeps(ablate, component):
    """True unless the custom component `component` is left out."""
    return component not in left_out(ablate, "components")


def drop_features(data, ablate, names=None):
    """`data` without the features the trial leaves out.

    A pandas DataFrame: the columns are dropped by name, the frame is
    returned. A 2-D numpy array (or anything indexable as data[:, cols]):
    `names` gives its columns' names; returns (data without them, the kept
    names)."""
    drop = left_out(ablate, "features")
    if hasattr(data, "columns") and hasattr(data, "drop"):
        _check_known(drop, list(data.columns), "feature")
        return data.drop(columns=drop)
    if names is None:
        raise ValueError("drop_features: a numpy array needs names=[...] for "
                         "its columns")
    names = list(names)
    _check_known(drop, names, "feature")
    keep = [i for i, n in enumerate(names) if n not in drop]
    return data[:, keep], [names[i] for i in keep]


def skip_layers(model, ablate):
    """`model` (a PyTorch nn.Module) with the layers the trial leaves out
    replaced by nn.Identity, found by their names in named_modules() (for an
    nn.Sequential built from an OrderedDict, the keys; "0", "1"... else).
    A skipped layer must keep its input's shape for the model to run."""
    import torch.nn as nn

    names = dict(model.named_modules())
    drop = left_out(ablate, "layers")
    _check_known(drop, [n for n in names if n], "layer")
    for name in drop:
        parent_name, _, child = name.rpartition(".")
        setattr(names[parent_name] if parent_name else model, child,
                nn.Identity())
    return model


def _check_known(wanted, known, what):
    missing = [w for w in wanted if w not in known]
    if missing:
        raise ValueError("no %s named %s (there are: %s)" % (
            what, ", ".join(repr(m) for m in missing),
            ", ".join(map(str, known))))
