#!/usr/bin/python3
"""interop_numpy.py - checks a clann model file against an independent reader: parses the
safetensors file with its own code (8-byte length, JSON header, raw little-endian F32 data),
rebuilds the forward pass in numpy from the spec in __metadata__ (dense with every activation,
activation layers, batch normalization at inference, dropout and noise as the identity, then
softmax or sigmoid for the cross-entropy losses, as clann predict does; image models: conv2d
with same or valid padding, strides and dilation, max and average pooling and flatten over
NCHW images, with window loops of its own) and compares it with the predictions `clann predict`
wrote.

usage: interop_numpy.py MODEL DATA.csv PREDICTIONS.csv LABEL_COLUMN
"""
import json
import struct
import sys

import numpy as np

TOLERANCE = 1e-5


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = blob[8 + n:]
    meta = header.pop("__metadata__")
    tensors = {}
    end = 0
    for name, entry in header.items():
        assert entry["dtype"] == "F32", (name, entry["dtype"])
        b, e = entry["data_offsets"]
        shape = tuple(entry["shape"])
        arr = np.frombuffer(data[b:e], dtype="<f4").astype(np.float64)
        assert arr.size == int(np.prod(shape)), name
        tensors[name] = arr.reshape(shape)
        end = max(end, e)
    assert end == len(data), "data section not fully covered by tensors"
    return json.loads(meta["clann_spec"]), tensors


def activation(kind, z, alpha, prelu=None, lower=0.125, upper=1 / 3):
    if kind == "linear":
        return z
    if kind == "sigmoid":
        return 1 / (1 + np.exp(-z))
    if kind == "tanh":
        return np.tanh(z)
    if kind == "relu":
        return np.maximum(z, 0)
    if kind == "leaky_relu":
        return np.where(z > 0, z, alpha * z)
    if kind == "prelu":
        return np.where(z > 0, z, prelu * z)
    if kind == "rrelu":  # inference: the mean slope
        return np.where(z > 0, z, (lower + upper) / 2 * z)
    if kind == "relu6":
        return np.clip(z, 0, 6)
    if kind == "elu":
        return np.where(z > 0, z, alpha * (np.exp(np.minimum(z, 0)) - 1))
    if kind == "softplus":
        return np.logaddexp(0, z)
    if kind == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    raise ValueError("unknown activation " + kind)


def conv_axis(size, kernel, stride, dilation, same):
    """Output size and the padding before the first input along one axis (TensorFlow's rule:
    same padding puts the odd element after)."""
    span = (kernel - 1) * dilation + 1
    if not same:
        return ((size - span) // stride + 1 if size >= span else 0), 0
    out = -(-size // stride)
    need = (out - 1) * stride + span if out else 0
    return out, max(need - size, 0) // 2


def windows(x, kh, kw, stride, dilation, same, fill):
    """x (N, C, H, W) -> (N, C, out_h, out_w, kh, kw): every window's elements, `fill` in the
    padding; written with loops over the window, independent of clann's im2col."""
    n, c, h, w = x.shape
    oh, top = conv_axis(h, kh, stride, dilation, same)
    ow, left = conv_axis(w, kw, stride, dilation, same)
    out = np.full((n, c, oh, ow, kh, kw), fill)
    for oy in range(oh):
        for ox in range(ow):
            for i in range(kh):
                y = oy * stride + i * dilation - top
                for j in range(kw):
                    xx = ox * stride + j * dilation - left
                    if 0 <= y < h and 0 <= xx < w:
                        out[:, :, oy, ox, i, j] = x[:, :, y, xx]
    return out


def conv2d(layer, t, p, x):
    kh, kw = layer["kernel_h"], layer["kernel_w"]
    win = windows(x, kh, kw, layer.get("stride", 1), layer.get("dilation", 1),
                  layer.get("padding", "same") == "same", 0.0)
    k = t[p + "kernel"].reshape(-1, x.shape[1], kh, kw)  # filters x (C, kh, kw)
    z = np.einsum("ncyxij,fcij->nfyx", win, k)
    if layer.get("use_bias", True):
        z = z + t[p + "bias"][None, :, None, None]
    return activation(layer["activation"], z, layer.get("alpha", 0))


def pool2d(layer, x, kind):
    size = layer["size"]
    win = windows(x, size, size, layer.get("stride") or size, 1, False, np.nan)
    return np.nanmax(win, axis=(4, 5)) if kind == "max_pool2d" else np.nanmean(win, axis=(4, 5))


def forward(spec, t, x):
    seen = set()
    if spec.get("input_shape"):
        x = x.reshape((x.shape[0],) + tuple(spec["input_shape"]))  # NCHW
    for i, layer in enumerate(spec["layers"]):
        kind = layer["kind"]
        p = "layers.%d.%s." % (i, kind)
        if kind == "conv2d":
            x = conv2d(layer, t, p, x)
        elif kind in ("max_pool2d", "avg_pool2d"):
            x = pool2d(layer, x, kind)
        elif kind == "flatten":
            x = x.reshape(x.shape[0], -1)
        elif kind == "dense":
            z = x @ t[p + "kernel"]
            if layer.get("use_bias", True):
                z = z + t[p + "bias"]
            x = activation(layer["activation"], z, layer.get("alpha", 0),
                           t.get(p + "prelu_alpha"), layer.get("rrelu_lower", 0.125),
                           layer.get("rrelu_upper", 1 / 3))
        elif kind == "activation":
            x = activation(layer["activation"], x, layer.get("alpha", 0))
        elif kind == "batchnorm":
            eps = layer.get("epsilon", 1e-3)
            x = (x - t[p + "moving_mean"]) / np.sqrt(t[p + "moving_variance"] + eps)
            x = x * t[p + "gamma"] + t[p + "beta"]
        elif kind not in ("dropout", "noise"):
            raise ValueError("unknown layer " + kind)
        seen.add(layer["activation"] if kind in ("dense", "activation", "conv2d") else kind)
        if kind == "conv2d":
            seen.add("conv2d %s stride %d" % (layer.get("padding", "same"), layer.get("stride", 1)))
    loss = spec["loss"]
    if loss in ("softmax_cross_entropy", "sparse_softmax_cross_entropy"):
        x = activation("softmax", x, 0)
    elif loss == "sigmoid_cross_entropy":
        x = activation("sigmoid", x, 0)
    return x, seen


def scale(s, x, invert=False):
    """A stored scaler (clann train standardizes inputs and regression targets by default)."""
    if s is None or s["kind"] == "none":
        return x
    kind, lo, hi = s["kind"], s.get("lo", 0.0), s.get("hi", 1.0)
    a, b = np.array(s.get("a", [0.0]), np.float64), np.array(s.get("b", [1.0]), np.float64)
    if kind == "standard":
        return x * b + a if invert else (x - a) / b
    if kind == "minmax":
        return a + (x - lo) * (b - a) / (hi - lo) if invert else lo + (x - a) * (hi - lo) / (b - a)
    if kind == "log":
        return np.sign(x) * np.expm1(np.abs(x)) if invert else np.sign(x) * np.log1p(np.abs(x))
    raise ValueError("unknown scaler " + kind)


def main():
    model, data, preds, label = sys.argv[1:5]
    spec, tensors = read_safetensors(model)
    table = np.genfromtxt(data, delimiter=",", names=True)
    features = [n for n in table.dtype.names if n != label]
    x = np.stack([table[n] for n in features], axis=1).astype(np.float32).astype(np.float64)
    ours, seen = forward(spec, tensors, scale(spec.get("input_scaler"), x))
    ours = scale(spec.get("target_scaler"), ours, invert=True)
    theirs = np.genfromtxt(preds, delimiter=",", names=True)
    cols = [n for n in theirs.dtype.names if n != "class"]
    theirs = np.stack([theirs[n] for n in cols], axis=1)
    assert theirs.shape == ours.shape, (theirs.shape, ours.shape)
    err = np.abs(ours - theirs) / np.maximum(1.0, np.abs(ours))
    worst = float(err.max())
    print("%s: %d rows x %d outputs, layers/activations %s: max error %.3g"
          % (model, ours.shape[0], ours.shape[1], ",".join(sorted(seen)), worst))
    if not worst <= TOLERANCE:
        print("MISMATCH above %g" % TOLERANCE)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
