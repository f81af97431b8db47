"""A deliberately slow, scalar reference of the EGRU equations (DESIGN.md section 2), in
Python floats (float64), one unit at a time. The vectorised sw.egru.EGRU is checked against
it; it shares no code with it."""

import math


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def egru_reference(x, W, R, bx, br, thr, y0=None, zoneout=0.0):
    """x: [T][I] list of lists (one sequence); W: [I][3H]; R: [H][3H]; bx, br: [3H]; thr: [H].
    Evaluation mode (zoneout, if any, is EvNN's deterministic eval mix).
    Returns per step lists y[t][k], c[t][k], o[t][k], tr[t][k]."""
    T, I, H = len(x), len(W), len(thr)
    y_prev = list(y0) if y0 is not None else [0.0] * H
    c = [0.0] * H
    tr = [0.0] * H
    ys, cs, os_, trs = [], [], [], []
    for t in range(T):
        y_new, c_new, o_new, tr_new = [], [], [], []
        for k in range(H):
            a = [bx[gate * H + k] + sum(x[t][i] * W[i][gate * H + k] for i in range(I))
                 for gate in range(3)]
            b = [br[gate * H + k] + sum(y_prev[j] * R[j][gate * H + k] for j in range(H))
                 for gate in range(3)]
            u = sigmoid(a[0] + b[0])
            r = sigmoid(a[1] + b[1])
            g = math.tanh(a[2] + r * b[2])
            c_hat = u * c[k] + (1.0 - u) * g
            if zoneout:
                c_hat = zoneout * c[k] + (1.0 - zoneout) * c_hat
            o = 1.0 if c_hat - thr[k] > 0.0 else 0.0
            y_new.append(o * c_hat)
            c_new.append(c_hat - o * thr[k])
            o_new.append(o)
            tr_new.append(0.9 * tr[k] + 0.1 * o * c_hat)
        y_prev, c, tr = y_new, c_new, tr_new
        ys.append(y_new)
        cs.append(c_new)
        os_.append(o_new)
        trs.append(tr_new)
    return ys, cs, os_, trs
