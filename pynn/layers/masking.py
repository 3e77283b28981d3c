"""Masking: skip the steps of a sequence whose features all equal a value."""
import numpy as np

from .. import ops
from .base import Layer, shape_str


class Masking(Layer):
    """Keras's Masking: a step (the last axis of the input) whose values all
    equal ``mask_value`` is masked for the layers that follow (recurrent
    layers carry their state over it) and zeroed in the output."""
    supports_masking = True
    fixed_input_axes = ()  # no weights: any sizes, as Keras's

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        try:
            self.mask_value = float(mask_value)
        except (TypeError, ValueError):
            raise ValueError(f"Masking {self.name!r}: mask_value must be a number, got "
                             f"{mask_value!r}") from None

    def build(self, input_shape):
        # (a 2-D input's last axis is its features: one mask value per
        # sample, as Keras computes it for any rank)
        if len(input_shape) < 2:
            raise ValueError(f"Masking {self.name!r}: expected an input of shape (batch, "
                             f"steps, features) or (batch, features), got shape "
                             f"{shape_str(input_shape)}")
        self.built = True

    def forward(self, ctx, x, training):
        y, mask = ops.time_mask(x, self.mask_value, out=ctx.buffer("y", x.shape),
                                mask=ctx.buffer("mask", x.shape[:-1], bool))
        ctx.out_mask = mask
        return y

    def backward(self, ctx, dy, need_input_grad=True):
        if not need_input_grad:
            return None
        return ops.time_mask_grad(dy, ctx.out_mask, out=ctx.buffer("dx", dy.shape))

    def compute_mask(self, ctx, inputs, mask):
        # Keras's Masking replaces any mask it is given; asked outside a
        # call (layer.compute_mask(x)), it computes it from the inputs
        out = getattr(ctx, "out_mask", None)
        return np.any(inputs != self.mask_value, axis=-1) if out is None else out

    def _output_has_mask(self, input_masks):
        return True

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}
