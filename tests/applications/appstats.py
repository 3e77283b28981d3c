"""Helpers for comparing the applications with Keras's.

Batch-normalization statistics for comparing deep applications with
random weights: moving means and variances measured on the images the
comparison runs on, as a trained network's would be.  With statistics
that do not fit the activations (the initial ones, or random ones), the
signal of an EfficientNet fades or blows up within a few blocks, and two
implementations then agree on nothing but a constant.  Weight files in
the layout Keras publishes them in, and the comparison of predictions."""
import numpy as np

from pynn import layers


def calibrate_batch_norm(model, x, rng):
    """Each BatchNormalization of the pynn ``model``, in order: the mean and
    variance of its input on ``x`` (the variance floored at a tenth of the
    median channel's, and scaled up by 1 to 2, so that no channel is blown
    up from rounding noise), random scales and offsets.  One forward pass
    over the graph (not a sub-model per layer): each layer's statistics are
    set when the pass reaches it, before it normalizes."""
    def calibrating(layer):
        plain = layer.forward

        def forward(ctx, h, training):
            h2 = np.asarray(h).reshape(-1, h.shape[-1]).astype(np.float64)
            n = h2.shape[-1]
            var = np.maximum(h2.var(0), 0.1 * np.median(h2.var(0)))
            gamma = [rng.uniform(0.5, 1.5, n)] if layer.scale else []  # (Inception: none)
            layer.set_weights(gamma + [rng.normal(0, 0.2, n), h2.mean(0),
                                       var * rng.uniform(1, 2, n)])
            return plain(ctx, h, training)
        return forward

    bns = [layer for layer in model.layers if isinstance(layer, layers.BatchNormalization)]
    for layer in bns:
        layer.forward = calibrating(layer)
    try:
        model.call(x, training=False)
    finally:
        for layer in bns:
            del layer.forward


def legacy_file(model, path):
    """The Keras ``model``'s weights written to ``path`` in the layout of
    Keras's published weight files (Keras 2's save_weights to .h5)."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
    return path


def close_to_keras(got, want):
    """pynn's predictions ``got`` match Keras's ``want`` to 1e-4 of their
    scale, and ``want`` is no constant (its first two rows differ)."""
    scale = np.abs(want).max()
    assert scale > 1e-3 and np.abs(want[0] - want[1]).max() > 0.05 * scale
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4 * scale)
