"""Plain reference implementations the tests compare dln against (independent of dln)."""

import numpy as np


def numpy_descent(X, Y, weights, lr, steps, biases=None):
    """Plain full-batch gradient descent on the raw data (rows are samples), with optional
    biases: forward and backward passes over all P samples every step."""
    ws = [np.array(W) for W in weights]
    bs = [None] * len(ws) if biases is None else [None if b is None else np.array(b)
                                                  for b in biases]
    P = X.shape[0]
    for _ in range(steps):
        acts = [X.T]
        for W, b in zip(ws, bs):
            acts.append(W @ acts[-1] + (0 if b is None else b[:, None]))
        delta = (acts[-1] - Y.T) / P  # dL/dŷ
        gw, gb = [None] * len(ws), [None] * len(ws)
        for l in range(len(ws) - 1, -1, -1):
            gw[l], gb[l] = delta @ acts[l].T, delta.sum(axis=1)
            delta = ws[l].T @ delta
        ws = [W - lr * g for W, g in zip(ws, gw)]
        bs = [None if b is None else b - lr * g for b, g in zip(bs, gb)]
    return ws, bs
