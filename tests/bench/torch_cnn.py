#!/usr/bin/python3
"""PyTorch reference for the CNN benchmark (tests/bench/cnn.sh): the model of
`clann train --conv 16x3,32x3 --hidden 128` (conv 16 3x3 same + ReLU + max pool 2, conv 32 3x3
same + ReLU + max pool 2, flatten, dense 128 + ReLU, dense 10), Adam (lr 1e-3, eps 1e-7),
batch 128, on the real Fashion-MNIST IDX files, as a whole job: read the data, train EPOCHS
epochs on the 60,000 training images, evaluate the 10,000 test images. Prints the wall time,
training images/s and test accuracy per thread count, each in a fresh process (OpenMP reads
its thread count when it loads).

    tests/bench/torch_cnn.py [--threads 1,2] [--epochs 1] [--json]

Not part of the unit test suite.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_mlp import DATA, read_idx, run_child  # noqa: E402  (shared with the MLP benchmark)


def load(data_dir, split):
    x = read_idx(os.path.join(data_dir, f"{split}-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(data_dir, f"{split}-labels-idx1-ubyte.gz"))
    return x.reshape(len(x), 1, 28, 28).astype("float32") / 255.0, y.astype("int64")


def run_one(args):
    import torch
    from torch import nn

    start = time.perf_counter()
    torch.set_num_threads(args.threads)
    torch.manual_seed(42)
    xs, ys = load(args.data, "train")
    xt, yt = load(args.data, "t10k")
    x, y = torch.from_numpy(xs), torch.from_numpy(ys)
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7, foreach=True)
    loss_fn = nn.CrossEntropyLoss()
    n, b = x.shape[0], args.batch
    train_start = time.perf_counter()
    for _ in range(args.epochs):
        perm = torch.randperm(n)
        for pos in range(0, n, b):
            idx = perm[pos:pos + b]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x.index_select(0, idx)), y.index_select(0, idx))
            loss.backward()
            opt.step()
    train_s = time.perf_counter() - train_start
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(torch.from_numpy(xt[i:i + 1000])).argmax(1)
                          for i in range(0, len(xt), 1000)])
    acc = float((pred.numpy() == yt).mean())
    print(json.dumps({"threads": args.threads, "epochs": args.epochs, "batch": b,
                      "wall_s": time.perf_counter() - start,
                      "train_images_per_s": args.epochs * n / train_s,
                      "test_accuracy": acc, "torch": torch.__version__}))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--data", default=DATA)
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        args.threads = int(args.threads)
        run_one(args)
        return
    for t in [int(v) for v in args.threads.split(",")]:
        r = run_child(__file__, t, ["--epochs", str(args.epochs), "--batch", str(args.batch),
                                    "--data", args.data])
        if args.json:
            print(json.dumps(r), flush=True)
        else:
            print(f"pytorch {r['torch']} threads {t}: {r['wall_s']:.1f} s whole job, "
                  f"{r['train_images_per_s']:.0f} images/s training, "
                  f"test accuracy {r['test_accuracy']:.4f}", flush=True)


if __name__ == "__main__":
    main()
