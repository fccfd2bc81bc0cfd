"""High-precision reference fits for the huge-count Poisson tests (tests/test_bad_input.py).

Independent of fitglme: the model y ~ x + (1|g), Poisson with the log link, is fitted here in
60-digit arithmetic (mpmath) straight from its definitions, for the 40-row, 4-group data of the
tests (counts = Poisson(3) draws times a scale s):

* Laplace: minimise over (beta0, beta1, sigma) the Laplace approximation
  -2 log L = sum_g [-2 sum_i log p(y_i | mu_i) + u_g^2 + log(1 + sigma^2 sum_i mu_i)] with u_g
  the conditional mode (eta_i = beta0 + beta1 x_i + sigma u_g; W = mu is both the observed and the
  expected weight for the canonical link).  Newton's method on the 3-parameter gradient (derivatives
  by mpmath.diff).
* MPL: the pseudo-likelihood fixed point -- working response z = eta + (y - mu)/mu, weights mu,
  linear mixed model fitted by ML with the residual variance held at 1 (Poisson dispersion fixed),
  sigma by a 1-D minimisation of the profiled objective, eta updated from the BLUPs -- iterated to
  a change of eta below 1e-40.
* REMPL: the same with the REML criterion (the profiled objective plus log det X'V^{-1}X).

Run ``python tests/huge_counts_reference.py`` to print the reference values stored in the tests
(estimates of beta0 - log(s), beta1 and sigma).
"""
from __future__ import annotations

import mpmath as mp
import numpy as np

mp.mp.dps = 60


def data(scale: float):
    """The test data (same generator calls as the tests)."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=40)
    g = np.repeat(np.arange(4), 10)
    y = rng.poisson(3.0, 40).astype(float) * scale
    return x, g, y


def _groups(x, g, y):
    return [([mp.mpf(float(v)) for v in x[g == k]], [mp.mpf(float(v)) for v in y[g == k]]) for k in range(4)]


def laplace_objective(groups, b0, b1, sigma):
    """-2 log L (Laplace), without the constant sum log y!; returns (f, modes)."""
    f = mp.mpf(0)
    for xs, ys in groups:
        u = mp.mpf(0)
        for _ in range(200):  # Newton for the mode of sum(y eta - mu) - u^2/2
            mus = [mp.exp(b0 + b1 * xi + sigma * u) for xi in xs]
            grad = sigma * sum(yi - mi for yi, mi in zip(ys, mus)) - u
            hess = -(sigma**2) * sum(mus) - 1
            step = -grad / hess
            u += step
            if abs(step) < mp.mpf(10) ** (-55):
                break
        etas = [b0 + b1 * xi + sigma * u for xi in xs]
        mus = [mp.exp(e) for e in etas]
        ll = sum(yi * ei - mi for yi, ei, mi in zip(ys, etas, mus))
        f += -2 * ll + u**2 + mp.log(1 + sigma**2 * sum(mus))
    return f


def fit_laplace(scale: float, start):
    groups = _groups(*data(scale))
    c = mp.log(mp.mpf(scale))
    p = mp.matrix([mp.mpf(start[0]) + c, mp.mpf(start[1]), mp.mpf(start[2])])
    f = lambda a, b, s: laplace_objective(groups, a, b, s)
    for _ in range(50):
        g = mp.matrix([mp.diff(f, tuple(p), tuple(int(i == j) for j in range(3))) for i in range(3)])
        H = mp.matrix(3, 3)
        for i in range(3):
            for j in range(3):
                o = [0, 0, 0]
                o[i] += 1
                o[j] += 1
                H[i, j] = mp.diff(f, tuple(p), tuple(o))
        step = mp.lu_solve(H, g)
        p = p - step
        if mp.norm(step) < mp.mpf(10) ** (-30):
            break
    return [p[0] - c, p[1], abs(p[2])]


def fit_rempl(scale: float, start):
    """REMPL: as MPL with the REML criterion (+ log det X'V^{-1}X) in the linear mixed model."""
    return fit_mpl(scale, start, reml=True)


def fit_mpl(scale: float, start, reml: bool = False):
    x, g, y = data(scale)
    groups = _groups(x, g, y)
    c = mp.log(mp.mpf(scale))
    b0, b1, sigma = mp.mpf(start[0]) + c, mp.mpf(start[1]), mp.mpf(start[2])
    etas = [[b0 + b1 * xi for xi in xs] for xs, _ in groups]  # start: no random effects
    for _ in range(500):
        # working data
        work = []
        for (xs, ys), es in zip(groups, etas):
            mus = [mp.exp(e) for e in es]
            work.append((xs, [e + (yi - mi) / mi for e, yi, mi in zip(es, ys, mus)], mus))

        def profile(s2):
            """ML -2 log l (up to constants) at sigma^2 = s2, beta by GLS; returns (obj, beta)."""
            M = mp.matrix(2, 2)
            r = mp.matrix(2, 1)
            logdet = mp.mpf(0)
            for xs, zs, ws in work:
                sw = sum(ws)
                swx = sum(w * xi for w, xi in zip(ws, xs))
                swz = sum(w * zi for w, zi in zip(ws, zs))
                k = s2 / (1 + s2 * sw)
                logdet += mp.log(1 + s2 * sw)
                # V^{-1} = W - k W 1 1' W
                M[0, 0] += sw - k * sw * sw
                M[0, 1] += swx - k * sw * swx
                M[1, 1] += sum(w * xi * xi for w, xi in zip(ws, xs)) - k * swx * swx
                r[0] += swz - k * sw * swz
                r[1] += sum(w * xi * zi for w, xi, zi in zip(ws, xs, zs)) - k * swx * swz
            M[1, 0] = M[0, 1]
            beta = mp.lu_solve(M, r)
            q = mp.mpf(0)
            for xs, zs, ws in work:
                res = [zi - beta[0] - beta[1] * xi for xi, zi in zip(xs, zs)]
                sw = sum(ws)
                swr = sum(w * ri for w, ri in zip(ws, res))
                q += sum(w * ri * ri for w, ri in zip(ws, res)) - s2 / (1 + s2 * sw) * swr * swr
            if reml:
                logdet += mp.log(mp.det(M))
            return logdet + q, beta

        obj = lambda ls: profile(mp.exp(2 * ls))[0]  # in log sigma
        ls = mp.findroot(lambda t: mp.diff(obj, t), mp.log(sigma))
        sigma = mp.exp(ls)
        s2 = sigma**2
        _, beta = profile(s2)
        b0, b1 = beta[0], beta[1]
        new = []
        for xs, zs, ws in work:
            res = [zi - b0 - b1 * xi for xi, zi in zip(xs, zs)]
            sw = sum(ws)
            bg = s2 * sum(w * ri for w, ri in zip(ws, res)) / (1 + s2 * sw)
            new.append([b0 + b1 * xi + bg for xi in xs])
        change = max(abs(a - b) for ea, eb in zip(new, etas) for a, b in zip(ea, eb))
        etas = new
        if change < mp.mpf(10) ** (-40):
            break
    return [b0 - c, b1, sigma]


SCALES = [1e10, 1e12, 1e13, 1e15, 2.0**53]

if __name__ == "__main__":
    start = (1.1688, 0.1226, 0.0609)
    for s in SCALES:
        for name, fit in (("Laplace", fit_laplace), ("MPL", fit_mpl), ("REMPL", fit_rempl)):
            est = fit(s, start)
            print(f"{s!r:>22} {name:8s}", "  ".join(mp.nstr(v, 17) for v in est), flush=True)
