"""A slow scalar reference of docs/arithmetic.md: Python integers, one unit and one weight at a
time, events processed one by one as the hardware does. It shares no code with sw/golden.py
except the spec helpers (rshift_round, saturate, lut_index) whose own tests pin them down."""

from hw.spec import EGRUConfig, lut_index, rshift_round, saturate


def reference_run(cfg: EGRUConfig, p, x_seq):
    """x_seq: [T][I] ints (one sequence). p: sw.golden.ModelParams (read as Python ints).
    Returns (logits [C], per layer a list over steps of (c [H], o [H], y [H]))."""
    H, C = cfg.hidden_size, cfg.num_classes
    luts = {k: v.tolist() for k, v in p.luts.items()}
    layers = [{f: getattr(L, f).tolist() for f in ("kernel", "recurrent", "bias_u", "bias_r",
                                                     "bias_gx", "bias_gh", "thr")} for L in p.layers]
    rw, rb = p.readout_weight.tolist(), p.readout_bias.tolist()
    T = len(x_seq)
    y_prev = [[0] * H for _ in layers]
    c = [[0] * H for _ in layers]
    logits = list(rb)
    trace = [[] for _ in layers]
    for t in range(T):
        inputs = list(x_seq[t])
        for li, L in enumerate(layers):
            # accumulators start at zero; the biases join the pre-activations
            A_u, A_r, A_gx, A_gh = [0] * H, [0] * H, [0] * H, [0] * H
            sx, sh = cfg.input_shift(li), cfg.recurrent_shift(li)
            for i, xi in enumerate(inputs):          # input events: nonzero inputs only
                if xi == 0:
                    continue
                for k in range(H):
                    A_u[k] += (xi * L["kernel"][i][k]) << sx
                    A_r[k] += (xi * L["kernel"][i][H + k]) << sx
                    A_gx[k] += (xi * L["kernel"][i][2 * H + k]) << sx
            for j, yj in enumerate(y_prev[li]):      # recurrent events of the previous step
                if yj == 0:
                    continue
                for k in range(H):
                    A_u[k] += (yj * L["recurrent"][j][k]) << sh
                    A_r[k] += (yj * L["recurrent"][j][H + k]) << sh
                    A_gh[k] += (yj * L["recurrent"][j][2 * H + k]) << sh
            down = cfg.acc_frac(li) - cfg.preact_frac
            P, S, F = cfg.preact_bits, cfg.state_bits, cfg.state_frac
            c_new, o_new, y_new = [], [], []
            for k in range(H):
                pu = saturate(rshift_round(A_u[k], down) + L["bias_u"][k], P)
                pr = saturate(rshift_round(A_r[k], down) + L["bias_r"][k], P)
                pgx = saturate(rshift_round(A_gx[k], down) + L["bias_gx"][k], P)
                pgh = saturate(rshift_round(A_gh[k], down) + L["bias_gh"][k], P)
                u = luts["update"][lut_index(pu, cfg, cfg.sigmoid_frac)]
                r = luts["sigmoid"][lut_index(pr, cfg, cfg.sigmoid_frac)]
                pg = saturate(pgx + rshift_round(r * pgh, F), P)
                g = luts["tanh"][lut_index(pg, cfg, cfg.tanh_frac)]
                c_hat = saturate(g + rshift_round(u * (c[li][k] - g), F), S)
                fire = c_hat > L["thr"][k]
                o_new.append(int(fire))
                y_new.append(c_hat if fire else 0)
                c_new.append(c_hat - L["thr"][k] if fire else c_hat)
            c[li], y_prev[li] = c_new, y_new
            trace[li].append((c_new, o_new, y_new))
            inputs = y_new                            # the next layer's input events
        for j, yj in enumerate(inputs):               # readout: events of the last layer
            if yj:
                for n in range(C):
                    logits[n] += yj * rw[j][n]
    return logits, trace
