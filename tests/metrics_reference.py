#!/usr/bin/env python3
"""Reference values from scikit-learn for tests/test-metrics.c.

Usage: metrics_reference.py DATAFILE. The data file holds sections written by the test:
    binary N            then N lines "score label"
    multiclass N C      then N lines "p_0 ... p_C-1 label"
    regression N K      then N lines "pred_0 ... pred_K-1 label_0 ... label_K-1"
    multilabel N L      then N lines "p_0 ... p_L-1 label_0 ... label_L-1"
Prints one line per value: "name v1 v2 ..." with 17 significant digits.
"""
import sys

import numpy as np
from sklearn import metrics


def emit(name, values):
    values = np.atleast_1d(np.asarray(values, dtype=np.float64)).ravel()
    print(name, " ".join("%.17g" % v for v in values))


def log_loss(y, p, **kw):
    # eps was a parameter until scikit-learn 1.5 (default 1e-15, then "auto"); clann clips at
    # 1e-7. Newer versions clip at the dtype's epsilon only.
    try:
        return metrics.log_loss(y, p, eps=1e-7, **kw)
    except TypeError:
        return metrics.log_loss(y, p, **kw)


def binary(rows):
    s = np.array([r[0] for r in rows])
    y = np.array([int(r[1]) for r in rows])
    pred = (s >= 0.5).astype(int)
    emit("roc_auc", metrics.roc_auc_score(y, s))
    emit("average_precision", metrics.average_precision_score(y, s))
    emit("accuracy", metrics.accuracy_score(y, pred))
    emit("precision", metrics.precision_score(y, pred, zero_division=0))
    emit("recall", metrics.recall_score(y, pred, zero_division=0))
    emit("f1", metrics.f1_score(y, pred, zero_division=0))
    emit("log_loss", log_loss(y, s))
    fpr, tpr, thr = metrics.roc_curve(y, s, drop_intermediate=False)
    emit("roc_fpr", fpr)
    emit("roc_tpr", tpr)
    emit("roc_thresholds", thr[1:])  # the first is max + 1 or inf depending on the version
    prec, rec, thr = metrics.precision_recall_curve(y, s)
    emit("pr_precision", prec)
    emit("pr_recall", rec)
    emit("pr_thresholds", thr)


def multiclass(rows, c):
    p = np.array([r[:c] for r in rows])
    y = np.array([int(r[c]) for r in rows])
    labels = list(range(c))
    pred = p.argmax(axis=1)
    emit("mc_accuracy", metrics.accuracy_score(y, pred))
    emit("mc_log_loss", log_loss(y, p, labels=labels))
    emit("mc_confusion", metrics.confusion_matrix(y, pred, labels=labels))
    pr, rc, f1, _ = metrics.precision_recall_fscore_support(
        y, pred, labels=labels, average=None, zero_division=0)
    emit("mc_precision", pr)
    emit("mc_recall", rc)
    emit("mc_f1", f1)
    mp, mr, mf, _ = metrics.precision_recall_fscore_support(
        y, pred, labels=labels, average="macro", zero_division=0)
    emit("mc_macro", [mp, mr, mf])
    emit("mc_roc_auc", [metrics.roc_auc_score(y == k, p[:, k]) for k in labels])
    emit("mc_macro_roc_auc", metrics.roc_auc_score(y, p, multi_class="ovr", average="macro",
                                                   labels=labels))
    for k in (2, 3):
        emit("mc_top%d" % k, metrics.top_k_accuracy_score(y, p, k=k, labels=labels))


def regression(rows, k):
    p = np.array([r[:k] for r in rows])
    y = np.array([r[k:] for r in rows])
    mse = metrics.mean_squared_error(y, p)
    rmse = np.mean(np.sqrt(metrics.mean_squared_error(y, p, multioutput="raw_values")))
    emit("reg_mse", mse)
    emit("reg_rmse", rmse)
    emit("reg_mae", metrics.mean_absolute_error(y, p))
    emit("reg_r2", metrics.r2_score(y, p))


def multilabel(rows, k):
    p = np.array([r[:k] for r in rows])
    y = np.array([r[k:] for r in rows]).astype(int)
    pred = (p >= 0.5).astype(int)
    emit("ml_subset_accuracy", metrics.accuracy_score(y, pred))
    emit("ml_hamming_accuracy", 1 - metrics.hamming_loss(y, pred))
    pr, rc, f1, _ = metrics.precision_recall_fscore_support(y, pred, average=None,
                                                            zero_division=0)
    emit("ml_precision", pr)
    emit("ml_recall", rc)
    emit("ml_f1", f1)
    _, _, macro_f1, _ = metrics.precision_recall_fscore_support(y, pred, average="macro",
                                                                zero_division=0)
    mp, mr, mf, _ = metrics.precision_recall_fscore_support(y, pred, average="micro",
                                                            zero_division=0)
    emit("ml_averages", [macro_f1, mp, mr, mf])
    emit("ml_roc_auc", metrics.roc_auc_score(y, p, average=None))
    emit("ml_macro_roc_auc", metrics.roc_auc_score(y, p, average="macro"))
    emit("ml_micro_roc_auc", metrics.roc_auc_score(y, p, average="micro"))


def main():
    with open(sys.argv[1]) as f:
        lines = [l.split() for l in f if l.strip()]
    i = 0
    while i < len(lines):
        head = lines[i]
        n = int(head[1])
        rows = [[float(v) for v in l] for l in lines[i + 1:i + 1 + n]]
        if head[0] == "binary":
            binary(rows)
        elif head[0] == "multiclass":
            multiclass(rows, int(head[2]))
        elif head[0] == "regression":
            regression(rows, int(head[2]))
        elif head[0] == "multilabel":
            multilabel(rows, int(head[2]))
        else:
            sys.exit("unknown section " + head[0])
        i += 1 + n


if __name__ == "__main__":
    main()
