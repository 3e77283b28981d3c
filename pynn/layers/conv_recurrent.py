"""Convolutional LSTM layers: ConvLSTM1D, ConvLSTM2D, ConvLSTM3D, as
Keras 3's.

An LSTM whose input and recurrent transformations are convolutions: over
a sequence of (batch, timesteps, *spatial, channels) frames, each step
computes ``z = conv(x_t, kernel) + bias + conv(h, recurrent_kernel)``
(the recurrent convolution at stride 1 with 'same' padding, so the states
keep the output's spatial shape), splits z into the gates i, f, c, o along
the channels, and ``c = f * c + i * activation(z_c)``, ``h = o *
activation(c)``.  The weights are Keras's: ``kernel`` ``kernel_size +
(channels, 4 * filters)``, ``recurrent_kernel`` ``kernel_size + (filters,
4 * filters)``, ``bias`` ``(4 * filters,)``, gates in the order i, f, c, o.

The input convolution runs once over all the steps (the steps folded into
the batch), the recurrent one once per step; the backward pass goes back
through time step by step for the states' gradients and then computes the
kernels' gradients over all the steps at once.  The convolutions are
pynn's 2-D kernels: the 1-D layer runs them at height 1, the 3-D layer once
per depth tap of the kernel (as Conv1D and Conv3D do).

Masks, ``initial_state``, ``return_state``, ``go_backwards``,
``stateful`` and dropout (four masks per transformation, one per gate,
drawn once per call) behave as in Keras and as pynn's LSTM.
"""
import numpy as np

from .. import ops
from .base import ChannelsFirst, Layer, shape_str, shapes_str
from .conv import _tuple, _window_padding, depth_taps
from .core import _positive_int
from .recurrent import _first_mask, _Recurrent, _split_inputs

_GATES = 4


class _SpatialConv:
    """A channels-last convolution of rank 1, 2 or 3 (input (n, *spatial,
    channels), kernel ``kernel_size + (channels, out)``) through pynn's
    2-D kernels, without bias or activation."""

    def __init__(self, rank, kernel_size, strides, padding, dilation_rate, label):
        self.rank, self.padding, self.label = rank, padding, label
        if rank == 1:
            self.geo = ((1,) + kernel_size, (1,) + strides, padding, (1,) + dilation_rate)
        else:
            self.geo = (kernel_size[-2:], strides[-2:], padding, dilation_rate[-2:])
        self.depth = (kernel_size[0], strides[0], dilation_rate[0]) if rank == 3 else None

    def _taps(self, d):
        kernel, stride, dilation = self.depth
        return depth_taps(d, kernel, stride, self.padding, dilation, self.label)

    def output_spatial(self, spatial):
        """The output's spatial shape for an input of spatial shape
        ``spatial`` (ValueError naming the layer when it is too small)."""
        k, s, p, d = self.geo
        hw = (1,) + tuple(spatial) if self.rank == 1 else tuple(spatial[-2:])
        (oh, ow), _ = ops.conv_geometry((1,) + hw + (1,), k, s, p, d, self.label)
        if self.rank == 1:
            return (ow,)
        if self.rank == 2:
            return (oh, ow)
        return (self._taps(spatial[0])[0], oh, ow)

    def forward(self, x, kernel, out):
        """``conv(x, kernel)`` into ``out``."""
        k, s, p, d = self.geo
        if self.rank == 1:
            ops.conv2d(x[:, None], kernel[None], None, s, p, d, out=out[:, None])
            return out
        if self.rank == 2:
            return ops.conv2d(x, kernel, None, s, p, d, out=out)
        n, depth, h, w, c = x.shape
        _, taps = self._taps(depth)
        out[...] = 0.0
        for t, iz, oz in taps:
            planes = np.ascontiguousarray(x[:, iz]).reshape(-1, h, w, c)
            part = ops.conv2d(planes, np.ascontiguousarray(kernel[t]), None, s, p, d)
            out[:, oz] += part.reshape((n, len(oz)) + out.shape[2:])
        return out

    def backward(self, x, kernel, dy, kernel_grad=None, input_grad=None):
        """The gradients of ``conv(x, kernel)`` from ``dy``: the kernel's
        written into ``kernel_grad`` (when given), the input's into
        ``input_grad`` (when given, and returned)."""
        k, s, p, d = self.geo
        if self.rank < 3:
            one = self.rank == 1
            dx = ops.conv2d_grad(
                x[:, None] if one else x, kernel[None] if one else kernel,
                dy[:, None] if one else dy, s, p, d,
                kernel_grad=None if kernel_grad is None else
                (kernel_grad[None] if one else kernel_grad),
                input_grad=False if input_grad is None else
                (input_grad[:, None] if one else input_grad))
            return input_grad if dx is not None else None
        n, depth, h, w, c = x.shape
        _, taps = self._taps(depth)
        if kernel_grad is not None:
            kernel_grad[...] = 0.0
        if input_grad is not None:
            input_grad[...] = 0.0
        for t, iz, oz in taps:
            planes = np.ascontiguousarray(x[:, iz]).reshape(-1, h, w, c)
            g = np.ascontiguousarray(dy[:, oz]).reshape((-1,) + dy.shape[2:])
            dplanes = ops.conv2d_grad(planes, np.ascontiguousarray(kernel[t]), g, s, p, d,
                                      kernel_grad=None if kernel_grad is None else kernel_grad[t],
                                      input_grad=input_grad is not None)
            if input_grad is not None:
                input_grad[:, iz] += dplanes.reshape(n, len(iz), h, w, c)
        return input_grad


def _gate_slices(ctx, key, a, filters):
    """The four gates' parts of ``a`` along its last axis, as contiguous
    arrays (work buffers under ``key``)."""
    shape = a.shape[:-1] + (filters,)
    return ops.concatenate_grad(a, [filters] * _GATES, axis=-1,
                                outs=[ctx.buffer((key, g), shape) for g in range(_GATES)])


def _blend(ctx, keep, skip, a, b, out):
    """``a`` where ``keep`` (1.0 or 0.0 per row, broadcast; ``skip`` is
    ``1 - keep``) is 1, ``b`` where it is 0: ``keep * a + skip * b``,
    exact because one of the two terms is a zero."""
    ops.multiply(a, keep, out=out)
    return ops.add(out, ops.multiply(b, skip, out=ctx.buffer("blend", out.shape)), out=out)


class _ConvLSTM(ChannelsFirst, _Recurrent):
    """What ConvLSTM1D, ConvLSTM2D and ConvLSTM3D share (channels_first data
    is (batch, time, channels, spatial axes), its states (batch, channels,
    spatial axes))."""
    rank = 2
    gates = _GATES
    state_count = 2
    # The activations whose derivative pynn.ops computes elementwise.
    allowed_activations = tuple(a for a in ops.ACTIVATIONS if a != "softmax")

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, zero_output_for_mask=False,
                 **kwargs):
        super().__init__(
            1, activation=activation, recurrent_activation=recurrent_activation,
            use_bias=use_bias, kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint, dropout=dropout,
            recurrent_dropout=recurrent_dropout, seed=seed, return_sequences=return_sequences,
            return_state=return_state, go_backwards=go_backwards, stateful=stateful,
            unroll=unroll, zero_output_for_mask=zero_output_for_mask, **kwargs)
        label = self._label()
        self.filters = _positive_int(filters, "filters", self)
        self.units = self.filters  # the states' channels (given as 1 above: checked here)
        self._set_data_format(data_format, label)
        if self.data_format == "channels_first":
            self.channels_first_min_rank = self.rank + 3
        n = self.rank
        self.kernel_size = _tuple(kernel_size, n, "kernel_size", label)
        self.strides = _tuple(strides, n, "strides", label)
        self.dilation_rate = _tuple(dilation_rate, n, "dilation_rate", label)
        self.padding = _window_padding(self.kernel_size, self.strides, self.dilation_rate,
                                       padding, label)
        self.unit_forget_bias = bool(unit_forget_bias)
        self._input_conv = _SpatialConv(n, self.kernel_size, self.strides, self.padding,
                                        self.dilation_rate, label)
        self._recurrent_conv = _SpatialConv(n, self.kernel_size, (1,) * n, "same", (1,) * n,
                                            label)

    # ----------------------------------------------------------- shapes

    def _state_shape(self, x):
        """A state's shape, (batch, *output spatial, filters), for input
        shape ``x``."""
        return (x[0],) + self._input_conv.output_spatial(x[2:-1]) + (self.filters,)

    def _check_shapes(self, input_shape):
        x, states = self._split_shapes(input_shape)
        n = self.rank
        if len(x) != n + 3 or None in x[2:]:
            raise ValueError(f"{self._label()}: expected a sequence of shape (batch, timesteps, "
                             f"{', '.join(['spatial'] * n)}, channels) (rank {n + 3}) with the "
                             f"spatial sizes and channels known, got shape {shape_str(x)}")
        want = self._state_shape(x)
        if states and len(states) != self.state_count:
            raise ValueError(f"{self._label()}: initial_state must hold {self.state_count} "
                             f"states of shape {shape_str(want)}, got {len(states)}: "
                             f"{shapes_str(states)}")
        for s in states:
            if len(s) != len(want) or any(a is not None and a != b
                                          for a, b in zip(s[1:], want[1:])):
                raise ValueError(f"{self._label()}: each initial state must have shape "
                                 f"{shape_str(want)}, got {shapes_str(states)}")
        return x, states

    cell_path = "conv_lstm_cell"  # (in Keras 3's weight paths)

    def _make_cell(self):
        return ConvLSTMCell(self)

    def build(self, input_shape):
        x, _ = self._check_shapes(input_shape)
        channels, f = x[-1], self.filters
        if self.stateful and x[0] is None:
            raise ValueError(f"{self._label()}: a stateful layer needs a fixed batch size: give "
                             f"the first layer batch_input_shape=(batch, timesteps, ...) or "
                             f"pynn.Input(batch_shape=...)")
        self.kernel = self.add_weight("kernel", self.kernel_size + (channels, 4 * f),
                                      self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight(
            "recurrent_kernel", self.kernel_size + (f, 4 * f), self.recurrent_initializer,
            regularizer=self.recurrent_regularizer, constraint=self.recurrent_constraint)
        self.bias = self.add_weight("bias", (4 * f,), self._bias_init(),
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint) if self.use_bias else None
        self._paths_under_cell()
        if self.stateful:
            self.states = [np.zeros(self._state_shape(x), np.float32)
                           for _ in range(self.state_count)]
        self.built = True

    def _bias_init(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        init, f = self.bias_initializer, self.filters

        def bias(shape):
            return np.concatenate([init((f,)), np.ones(f, np.float32),
                                   init((2 * f,))]).astype(np.float32)
        return bias

    def _check_input(self, shape):
        x, _ = self._check_shapes(shape)
        built = self._build_input_shape
        want = built[0] if isinstance(built, list) else built
        if want is not None and tuple(x[2:]) != tuple(want[2:]):
            raise ValueError(f"Input 0 of layer {self.name!r} is incompatible with the layer: "
                             f"expected frames of shape {shape_str(want[2:])} "
                             f"(shape={shape_str(want)}), found shape={shape_str(x)}")

    def compute_output_shape(self, input_shape):
        x, _ = self._check_shapes(input_shape)
        state = self._state_shape(x)
        out = (x[0], x[1]) + state[1:] if self.return_sequences else state
        if self.return_state:
            return [out, state, state]
        return out

    # -------------------------------------------------------- computing

    def _initial_states(self, states, shape):
        if states:
            for s in states:
                if s.shape != shape:
                    raise ValueError(f"{self._label()}: each initial state must have shape "
                                     f"{shape} for these inputs, got "
                                     f"{[tuple(v.shape) for v in states]}")
            return states
        if self.stateful:
            if self.states[0].shape != shape:
                raise ValueError(f"{self._label()}: the layer is stateful with states of shape "
                                 f"{self.states[0].shape}, but got inputs needing {shape}; "
                                 f"feed batches of that size (and no partial last batch)")
            return self.states
        return [np.zeros(shape, np.float32) for _ in range(self.state_count)]

    def _gate_kernels(self, kernel):
        """The kernel's four gate parts (contiguous copies)."""
        f = self.filters
        return [np.ascontiguousarray(kernel[..., g * f:(g + 1) * f]) for g in range(_GATES)]

    def _transform(self, ctx, key, conv, x, kernel, masks, bias=None):
        """``conv(x, kernel) + bias`` for all four gates, each gate's input
        multiplied by its dropout mask when there are masks."""
        n = x.shape[0]
        shape = (n,) + conv.output_spatial(x.shape[1:-1]) + (4 * self.filters,)
        out = ctx.buffer(key, shape)
        if masks is None:
            conv.forward(x, kernel, out)
        else:
            parts = []
            for g, (k, m) in enumerate(zip(self._gate_kernels(kernel), masks)):
                dropped = ops.multiply(x, m, out=ctx.buffer((key, "in", g), x.shape))
                parts.append(conv.forward(dropped, k, ctx.buffer(
                    (key, g), shape[:-1] + (self.filters,))))
            ops.concatenate(parts, axis=-1, out=out)
        if bias is not None:
            ops.bias_add(out, bias, out=out)
        return out

    def _transform_grad(self, ctx, key, conv, x, kernel, masks, dz, kernel_grad, input_grad):
        """The gradients of :meth:`_transform` (without its bias): the
        kernel's into ``kernel_grad`` (when given), the input's into
        ``input_grad`` (when given, and returned)."""
        if masks is None:
            return conv.backward(x, kernel, dz, kernel_grad, input_grad)
        f = self.filters
        if input_grad is not None:
            input_grad[...] = 0.0
        dparts = _gate_slices(ctx, (key, "dz"), dz, f)
        for g, (k, m, dg) in enumerate(zip(self._gate_kernels(kernel), masks, dparts)):
            dropped = ops.multiply(x, m, out=ctx.buffer((key, "in", g), x.shape))
            kg = None if kernel_grad is None else ctx.buffer((key, "kgrad"), k.shape)
            dx = None if input_grad is None else ctx.buffer((key, "dx"), x.shape)
            conv.backward(dropped, k, dg, kg, dx)
            if kg is not None:
                kernel_grad[..., g * f:(g + 1) * f] = kg
            if dx is not None:
                ops.add(input_grad, ops.multiply(dx, m, out=dx), out=input_grad)
        return input_grad

    def forward(self, ctx, inputs, training):
        x, states = _split_inputs(inputs)
        batch, steps = x.shape[:2]
        frame = x.shape[2:]
        if steps < 1:
            raise ValueError(f"{self._label()}: expected at least one timestep, got inputs of "
                             f"shape {x.shape}")
        mask = _first_mask(ctx.mask)
        if mask is not None and np.shape(mask) != (batch, steps):
            raise ValueError(f"{self._label()}: the mask must have shape ({batch}, {steps}) "
                             f"(batch, timesteps) for inputs of shape {x.shape}, got "
                             f"{np.shape(mask)}")
        state_shape = self._state_shape(x.shape)
        h, c = self._initial_states(states, state_shape)
        drop = training and not ctx.inference_behaviour
        dmasks = rmasks = None
        if drop and self.dropout:
            dmasks = [self._dropout_mask(ctx, ("dropout", g), (batch,) + frame, self.dropout)
                      for g in range(_GATES)]
        if drop and self.recurrent_dropout:
            rmasks = [self._dropout_mask(ctx, ("recurrent_dropout", g), state_shape,
                                         self.recurrent_dropout) for g in range(_GATES)]
        # Time-major: each step's frames, states and gates are contiguous.
        xt = ops.transpose(x, (1, 0) + tuple(range(2, x.ndim)),
                           out=ctx.buffer("xt", (steps, batch) + frame))
        flat = xt.reshape((steps * batch,) + frame)
        flat_masks = None if dmasks is None else [
            np.broadcast_to(m, (steps,) + m.shape).reshape(flat.shape) for m in dmasks]
        zx = self._transform(ctx, "zx", self._input_conv, flat, self.kernel.value, flat_masks,
                             self.bias.value if self.bias is not None else None)
        zx = zx.reshape((steps,) + state_shape[:-1] + (4 * self.filters,))
        keep = skip = None
        if mask is not None:
            keep = np.asarray(mask, np.float32).T.reshape(
                (steps, batch) + (1,) * (len(state_shape) - 1))
            skip = ops.axpby(-1.0, keep, 1.0, np.ones_like(keep))
        seq = ctx.buffer("seq", (steps,) + state_shape) if self.return_sequences else None
        kept = self._trace_buffers(ctx, steps, state_shape) if training else None
        f = self.filters
        order = range(steps - 1, -1, -1) if self.go_backwards else range(steps)
        for s, t in enumerate(order):
            if kept is not None:
                np.copyto(kept["h_prev"][t], h)
                np.copyto(kept["c_prev"][t], c)
            zh = self._transform(ctx, "zh", self._recurrent_conv, h,
                                 self.recurrent_kernel.value, rmasks)
            z = ops.add(zx[t], zh, out=kept["z"][t] if kept else ctx.buffer("z", zh.shape))
            zi, zf, zc, zo = _gate_slices(ctx, "gates", z, f)
            ra, a = self.recurrent_activation, self.activation
            i = ops.activation(zi, ra, out=kept["i"][t] if kept else zi)
            fg = ops.activation(zf, ra, out=kept["f"][t] if kept else zf)
            g = ops.activation(zc, a, out=kept["g"][t] if kept else zc)
            o = ops.activation(zo, ra, out=kept["o"][t] if kept else zo)
            fc = ops.multiply(fg, c, out=ctx.buffer("fc", c.shape))
            c_new = ops.multiply(i, g, out=kept["c"][t] if kept else ctx.buffer(("c", s % 2),
                                                                                 c.shape))
            ops.add(c_new, fc, out=c_new)
            tc = ops.activation(c_new, a, out=kept["tc"][t] if kept else ctx.buffer("tc",
                                                                                     c.shape))
            h_new = ops.multiply(o, tc, out=ctx.buffer(("h", s % 2), c.shape))
            if keep is not None:
                out_t = ops.multiply(h_new, keep[t], out=ctx.buffer("zeroed", c.shape)) \
                    if self.zero_output_for_mask else None
                h = _blend(ctx, keep[t], skip[t], h_new, h,
                           ctx.buffer(("h_carry", s % 2), c.shape))
                c = _blend(ctx, keep[t], skip[t], c_new, c,
                           ctx.buffer(("c_carry", s % 2), c.shape))
                if out_t is None:
                    out_t = h
            else:
                h, c, out_t = h_new, c_new, h_new
            if seq is not None:
                np.copyto(seq[s], out_t)
        h_final = np.array(h)
        c_final = np.array(c)
        if self.return_sequences:
            y = ops.transpose(seq, (1, 0) + tuple(range(2, seq.ndim)),
                              out=ctx.buffer("y", (batch, steps) + state_shape[1:]))
        else:
            y = out_t if keep is not None else h_final
            y = np.array(y)
        if training:
            ctx.trace = dict(kept, x=flat, dmasks=flat_masks, rmasks=rmasks, keep=keep,
                             skip=skip, order=list(order), shape=x.shape, state_shape=state_shape,
                             state_inputs=len(states))
        if self.stateful:
            np.copyto(self.states[0], h_final)
            np.copyto(self.states[1], c_final)
        return [y, h_final, c_final] if self.return_state else y

    def _trace_buffers(self, ctx, steps, state_shape):
        """The per-step values the backward pass reads, time-major."""
        shape = (steps,) + state_shape
        out = {k: ctx.buffer(("trace", k), shape)
               for k in ("h_prev", "c_prev", "i", "f", "g", "o", "c", "tc")}
        out["z"] = ctx.buffer(("trace", "z"), shape[:-1] + (4 * self.filters,))
        return out

    def backward(self, ctx, dy, need_input_grad=True):
        tr = ctx.trace
        if self.return_state:
            dout, dh_final, dc_final = (list(dy) + [None, None])[:3]
        else:
            dout, dh_final, dc_final = dy, None, None
        n_states = tr["state_inputs"]
        if n_states:
            need = list(need_input_grad)
            need_x = need[0]
        else:
            need_x = bool(need_input_grad)
        state_shape, order, keep = tr["state_shape"], tr["order"], tr["keep"]
        steps, f = len(order), self.filters
        ra, a = self.recurrent_activation, self.activation
        pre = ra in ops.NEEDS_INPUT or a in ops.NEEDS_INPUT
        dh = ctx.buffer(("dh", "final"), state_shape)
        dc = ctx.buffer(("dc", "final"), state_shape)
        np.copyto(dh, 0.0 if dh_final is None else dh_final)
        np.copyto(dc, 0.0 if dc_final is None else dc_final)
        dseq = None
        if dout is not None and self.return_sequences:
            dseq = ops.transpose(dout, (1, 0) + tuple(range(2, dout.ndim)),
                                 out=ctx.buffer("dseq", (steps,) + state_shape))
        dz_all = ctx.buffer("dz", tr["z"].shape)

        def scratch(key):
            return ctx.buffer(("scratch", key), state_shape)
        for s in range(steps - 1, -1, -1):
            t = order[s]
            if dseq is not None:
                d_out = dseq[s]
            else:
                d_out = dout if s == steps - 1 and not self.return_sequences else None
            # The gradients of this step's new h and c, and what passes
            # straight to the previous step's through a masked row.
            dh_new = dh if d_out is None else ops.add(dh, d_out, out=scratch("dsum"))
            dh_pass = dc_pass = None
            if keep is not None:
                k, skip = keep[t], tr["skip"][t]
                passed = dh if self.zero_output_for_mask else dh_new
                dh_pass = ops.multiply(passed, skip, out=scratch("dh_pass"))
                dc_pass = ops.multiply(dc, skip, out=scratch("dc_pass"))
                dh_new = ops.multiply(dh_new, k, out=scratch("dh_new"))
                dc = ops.multiply(dc, k, out=scratch("dc_new"))
            i, fg, g, o = tr["i"][t], tr["f"][t], tr["g"][t], tr["o"][t]
            c, tc, c_prev = tr["c"][t], tr["tc"][t], tr["c_prev"][t]
            zi, zf, zc, zo = _gate_slices(ctx, "gates", tr["z"][t], f) if pre else (None,) * 4
            dzi, dzf, dzc, dzo = (scratch(("dz", n)) for n in range(_GATES))
            product = scratch("product")
            ops.activation_grad(ra, zo, o, ops.multiply(dh_new, tc, out=product), out=dzo)
            dc = ops.add(dc, ops.activation_grad(a, c, tc, ops.multiply(dh_new, o, out=product),
                                                 out=product), out=scratch("dc_total"))
            ops.activation_grad(ra, zi, i, ops.multiply(dc, g, out=product), out=dzi)
            ops.activation_grad(ra, zf, fg, ops.multiply(dc, c_prev, out=product), out=dzf)
            ops.activation_grad(a, zc, g, ops.multiply(dc, i, out=product), out=dzc)
            dc = ops.multiply(dc, fg, out=ctx.buffer(("dc", s % 2), dc.shape))
            if dc_pass is not None:
                ops.add(dc, dc_pass, out=dc)
            dz = ops.concatenate([dzi, dzf, dzc, dzo], axis=-1, out=dz_all[t])
            dh = self._transform_grad(ctx, "zh", self._recurrent_conv, tr["h_prev"][t],
                                      self.recurrent_kernel.value, tr["rmasks"], dz, None,
                                      ctx.buffer(("dh", s % 2), dh.shape))
            if dh_pass is not None:
                ops.add(dh, dh_pass, out=dh)
        # The kernels' gradients, over all the steps at once.
        dz_flat = dz_all.reshape((-1,) + dz_all.shape[2:])
        h_flat = tr["h_prev"].reshape((-1,) + state_shape[1:])
        rmasks = None if tr["rmasks"] is None else [
            np.broadcast_to(m, (steps,) + m.shape).reshape(h_flat.shape) for m in tr["rmasks"]]
        self._transform_grad(ctx, "zh_all", self._recurrent_conv, h_flat,
                             self.recurrent_kernel.value, rmasks, dz_flat,
                             self._grad_target(ctx, self.recurrent_kernel, "rk_grad"), None)
        if self.bias is not None:
            ops.bias_grad(dz_flat, out=self._grad_target(ctx, self.bias, "bias_grad"))
        x = tr["x"]
        dx_flat = ctx.buffer("dx_flat", x.shape) if need_x else None
        self._transform_grad(ctx, "zx", self._input_conv, x, self.kernel.value, tr["dmasks"],
                             dz_flat, self._grad_target(ctx, self.kernel, "kernel_grad"),
                             dx_flat)
        dx = None
        if need_x:
            dx_t = dx_flat.reshape((steps, x.shape[0] // steps) + x.shape[1:])
            dx = ops.transpose(dx_t, (1, 0) + tuple(range(2, dx_t.ndim)),
                               out=ctx.buffer("dx", tr["shape"]))
        if not n_states:
            return dx
        return [dx] + [g if n else None for g, n in zip((dh, dc), need[1:])]

    # ----------------------------------------------------------- config

    def get_config(self):
        config = super().get_config()
        del config["units"]
        return {**config, "filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": self.padding,
                "data_format": self.data_format, "dilation_rate": list(self.dilation_rate),
                "unit_forget_bias": self.unit_forget_bias}


class ConvLSTMCell(Layer):
    """The cell Keras 3's ConvLSTM layers hold (``layer.cell``): the
    layer's arguments and, once it is built, its very weights.  Called on
    one frame and its states ``[h, c]`` it computes one step, as a one-step
    run of the layer: (h, [h, c])."""
    _ARGS = ("rank", "filters", "kernel_size", "strides", "padding", "dilation_rate",
             "activation", "recurrent_activation", "use_bias", "kernel_initializer",
             "recurrent_initializer", "bias_initializer", "unit_forget_bias",
             "kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
             "kernel_constraint", "recurrent_constraint", "bias_constraint", "dropout",
             "recurrent_dropout", "seed")
    data_format = "channels_last"
    state_size = -1  # (Keras's: the states' shape follows the frames')

    def __init__(self, layer):
        super().__init__(name=layer.cell_path, trainable=layer.trainable)
        for a in self._ARGS:
            setattr(self, a, getattr(layer, a))
        self.kernel = self.recurrent_kernel = self.bias = None
        self._layer_config = layer.get_config()

    def _adopt(self, layer):
        self.kernel, self.recurrent_kernel, self.bias = \
            layer.kernel, layer.recurrent_kernel, layer.bias
        self._weights = list(layer._weights)
        self._layer_class, self._frames_shape = type(layer), layer._build_input_shape

    def call(self, inputs, states, training=False):
        if not self.built:
            raise ValueError(f"ConvLSTMCell {self.name!r}: build the layer that holds the "
                             f"cell (call it once) before stepping the cell")
        states = list(states)
        if len(states) != 2:
            raise ValueError(f"ConvLSTMCell {self.name!r}: expected the states [h, c], got "
                             f"{len(states)} state(s)")
        # A layer of the same arguments that returns its states, on the
        # cell's weights (made per call: held, it would be a layer inside
        # the cell, another copy of the weights for saving to walk)
        step = self._layer_class.from_config({
            **self._layer_config, "return_sequences": False, "return_state": True,
            "go_backwards": False, "stateful": False, "name": f"{self.name}_step"})
        step.kernel, step.recurrent_kernel, step.bias = self.kernel, self.recurrent_kernel, \
            self.bias
        step._weights = list(self._weights)
        step._build_input_shape, step.built = self._frames_shape, True
        x = np.asarray(inputs, np.float32)[:, None]
        _, h, c = step(x, initial_state=states, training=training)
        return h, [h, c]

    def __call__(self, inputs, states=None, training=None, **kwargs):
        if states is None:
            raise ValueError(f"ConvLSTMCell {self.name!r}: call the cell on a frame and its "
                             f"states [h, c]")
        return self.call(inputs, states, training=bool(training))


class ConvLSTM1D(_ConvLSTM):
    """1-D convolutional LSTM over (batch, timesteps, steps, channels)
    (Keras's ``ConvLSTM1D``)."""
    rank = 1


class ConvLSTM2D(_ConvLSTM):
    """2-D convolutional LSTM over (batch, timesteps, rows, cols, channels)
    (Keras's ``ConvLSTM2D``)."""
    rank = 2


class ConvLSTM3D(_ConvLSTM):
    """3-D convolutional LSTM over (batch, timesteps, depth, rows, cols,
    channels) (Keras's ``ConvLSTM3D``)."""
    rank = 3
