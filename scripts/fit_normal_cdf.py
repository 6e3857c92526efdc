#!/usr/bin/env python3
"""The two fits used by src/engine/simd_kernels.wat (reproducible; needs numpy and scipy).

GELU forward: erf(u) ~ u P(u^2) / Q(u^2) on u in [0, 4], P of degree 6, Q of degree 4 with Q(0) = 1
and nonnegative coefficients (so no pole for u^2 >= 0): bounded nonlinear least squares, reweighted
(Lawson) toward the minimax solution. Max error 5.5e-8.

GELU backward (normal tail): with z = |x| and E = exp(-z^2/2), Phi(-z) = E S(z). S is approximated by
    S(z) ~ a1 t + a2 t^2 + ... + a6 t^6,   t = 1 / (1 + p z),
minimising the absolute error of E S (the error of Phi itself) on z in [0, 12]: linear least squares
in the a_i with Lawson reweighting toward the minimax solution, for each p on a grid.
Max error 3.9e-9 for p = 0.276.
Prints both coefficient sets and their float64 max errors.
"""
import math

import numpy as np
from scipy.optimize import least_squares

Z = np.linspace(0.0, 12.0, 60001)
E = np.exp(-Z * Z / 2)
S = np.array([0.5 * math.erfc(v / math.sqrt(2)) * math.exp(v * v / 2) for v in Z])
DEGREE = 6


def fit(p, iterations):
    t = 1 / (1 + p * Z)
    a_matrix = np.stack([t**i for i in range(1, DEGREE + 1)], 1) * E[:, None]
    target = S * E
    weights = np.full_like(Z, 1 / len(Z))
    best = (math.inf, None)
    for _ in range(iterations):
        root = np.sqrt(weights)
        coef, *_ = np.linalg.lstsq(a_matrix * root[:, None], target * root, rcond=None)
        residual = a_matrix @ coef - target
        best = min(best, (np.abs(residual).max(), coef), key=lambda b: b[0])
        weights = weights * (np.abs(residual) + 1e-30)
        weights /= weights.sum()
    return best


def fit_erf(n_p=7, n_q=5, rounds=40):
    u = np.linspace(0.0, 4.0, 20001)
    target = np.array([math.erf(v) for v in u])
    s = u * u

    def model(c):
        q = np.concatenate([[1.0], c[n_p:]])
        return u * np.polyval(c[:n_p][::-1], s) / np.polyval(q[::-1], s)

    c = np.concatenate([[2 / math.sqrt(math.pi)], np.zeros(n_p - 1), np.full(n_q - 1, 0.1)])
    bounds = (np.concatenate([np.full(n_p, -np.inf), np.zeros(n_q - 1)]), np.full(n_p + n_q - 1, np.inf))
    weights = np.ones_like(u)
    best = (math.inf, c)
    for _ in range(rounds):
        c = least_squares(lambda cc: np.sqrt(weights) * (model(cc) - target), c, bounds=bounds,
                          xtol=1e-15, ftol=1e-15, gtol=1e-15, max_nfev=4000).x
        err = np.abs(model(c) - target)
        best = min(best, (err.max(), c), key=lambda b: b[0])
        weights = weights * (err / err.max() + 1e-2)
        weights /= weights.mean()
    return best


if __name__ == "__main__":
    err, coef = fit_erf()
    print(f"erf: max error (float64) = {err:.3g}")
    print("P =", [float(v) for v in coef[:7]])
    print("Q = [1.0] +", [float(v) for v in coef[7:]])
    _, p = min((fit(p, 80)[0], p) for p in np.round(np.linspace(0.26, 0.30, 41), 3))
    err, coef = fit(p, 600)
    print(f"normal tail: p = {p}, max |error of Phi| (float64) = {err:.3g}")
    for i, c in enumerate(coef, 1):
        print(f"a{i} = {float(c)!r}")
