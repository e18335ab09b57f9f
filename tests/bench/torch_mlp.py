#!/usr/bin/python3
"""PyTorch reference for `clann bench`: the same model (784-256-128-10, ReLU), data (the real
Fashion-MNIST IDX files), batch, loss and optimizer (Adam, lr 1e-3, betas 0.9/0.999, eps 1e-7),
trained on the CPU for a fixed number of steps; prints samples/s per thread count.

Like clann's fit, each step gathers a shuffled batch, runs forward, loss, backward and the
update, and accumulates the loss sum and the correct count (no host sync inside the step).
Adam runs as PyTorch's multi-tensor (foreach) update, which is twice as fast on the CPU as
its default per-tensor loop in 1.13 (--adam loop selects that one).

    tests/bench/torch_mlp.py [--threads 1,2] [--steps 1000] [--batch 128] [--json]

Each thread count runs in a fresh process, because OpenMP and OpenBLAS read their thread
counts when they load. Not part of the unit test suite.
"""
import argparse
import gzip
import json
import os
import subprocess
import sys
import time

import numpy as np

DATA = os.environ.get("CLANN_FASHION_MNIST", "/usr/share/datasets/fashion-mnist")


def read_idx(path):
    """An IDX file (gzip-compressed) as a numpy array of its declared shape."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(data_dir):
    x = read_idx(os.path.join(data_dir, "train-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(data_dir, "train-labels-idx1-ubyte.gz"))
    return x.reshape(len(x), -1).astype(np.float32) / 255.0, y.astype(np.int64)


def run_one(args):
    """Runs in a process whose thread environment the parent set."""
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(42)
    xs, ys = load(args.data)
    x, y = torch.from_numpy(xs), torch.from_numpy(ys)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 128), torch.nn.ReLU(),
        torch.nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7,
                           foreach=args.adam == "foreach")
    loss_fn = torch.nn.CrossEntropyLoss()
    n, b = x.shape[0], args.batch
    state = {"perm": torch.randperm(n), "pos": 0}

    def steps(count):
        loss_sum = torch.zeros(())
        correct = torch.zeros((), dtype=torch.int64)
        for _ in range(count):
            if state["pos"] + b > n:
                state["perm"], state["pos"] = torch.randperm(n), 0
            idx = state["perm"][state["pos"]:state["pos"] + b]
            state["pos"] += b
            xb, yb = x.index_select(0, idx), y.index_select(0, idx)
            opt.zero_grad(set_to_none=True)
            out = model(xb)
            loss = loss_fn(out, yb)
            loss.backward()
            opt.step()
            with torch.no_grad():
                loss_sum += loss.detach() * b
                correct += (out.argmax(1) == yb).sum()
        return float(loss_sum), int(correct)

    steps(args.warmup)
    runs = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        steps(args.steps)
        runs.append(args.steps * b / (time.perf_counter() - t0))
    result = {"threads": args.threads, "adam": args.adam, "batch": b,
              "steps": args.steps, "samples_per_s": sorted(runs)[len(runs) // 2],
              "runs": runs, "torch": torch.__version__}
    print(json.dumps(result))


def run_child(script, threads, options):
    """Runs `script --child --threads T OPTIONS` in a fresh process whose OpenMP and BLAS
    thread counts are T, and returns the JSON object it printed last."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    cmd = [sys.executable, os.path.abspath(script), "--child", "--threads", str(threads)]
    out = subprocess.run(cmd + options, env=env, check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--data", default=DATA)
    p.add_argument("--adam", choices=["foreach", "loop"], default="foreach",
                   help="PyTorch's Adam implementation (default: foreach, the faster)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        args.threads = int(args.threads)
        run_one(args)
        return
    for t in [int(v) for v in args.threads.split(",")]:
        r = run_child(__file__, t, ["--steps", str(args.steps), "--batch", str(args.batch),
                                    "--repeat", str(args.repeat), "--warmup", str(args.warmup),
                                    "--data", args.data, "--adam", args.adam])
        if args.json:
            print(json.dumps(r), flush=True)
        else:
            print(f"pytorch {r['torch']} threads {t}, adam {r['adam']}: "
                  f"{r['samples_per_s']:.0f} samples/s "
                  f"(runs: {' '.join(f'{v:.0f}' for v in r['runs'])})", flush=True)


if __name__ == "__main__":
    main()
