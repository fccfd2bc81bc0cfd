"""How the engine fits: :class:`EngineSettings` (method, iteration limits, optimizer and
posterior-mode settings), in the engine's own terms.  The MATLAB layer maps its name-value
options onto them (fitglme/fit_options.py, :func:`fitglme.fit_options.engine_settings`)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class EngineSettings:
    """Settings of one engine fit.

    Attributes
    ----------
    method : {'MPL', 'REMPL', 'Laplace', 'ApproximateLaplace'}
    dispersion_flag : bool
        Estimate the dispersion of Binomial / Poisson in the pseudo-likelihood fits.
    pl_iterations, pl_tolerance : int, float
        Limit and tolerance (relative change of the linear predictor) of the PL iterations.
    init_pl_iterations : int
        PL iterations that give the Laplace methods their start.
    mu_start : ndarray or None
        Starting means of the used rows (None: the distribution's default).
    verbose : int
        0, 1 or 2: print nothing, the outer iterations, also the inner ones.
    max_iter : int
        Iteration bound of the many-fits refit fast paths (at most 200 of them are used).
    optimizer : {'quasinewton', 'fminsearch', 'fminunc'}
        L-BFGS-B, Nelder-Mead, TNC (each followed by the Newton polish, fitglme.engine.optimize).
    optimizer_max_iter, optimizer_max_evals : int
        Iteration and evaluation limits of the optimizer.
    optimizer_trace : bool
        Print every optimizer iteration.
    optimizer_defaults : bool
        No optimizer setting was given: the refit fast paths may use their own limits.
    posterior_mode : dict
        Keyword arguments of :func:`fitglme.engine.pirls.pirls` (method, max_iter, display,
        eta_tol, grad_tol, step_tol).
    start_method : {'default', 'random'}
    rng : numpy.random.Generator or None
        The stream of a random start.
    covariance_method : {'conditional', 'joint_hessian'}
        Covariance of beta conditional on the covariance parameters, or from the joint Hessian.
    check_hessian : bool
        Check that the joint Hessian at the optimum is positive definite.
    sequential : bool
        Laplace: refine the PL start with ApproximateLaplace first.
    """

    method: str = "MPL"
    dispersion_flag: bool = False
    pl_iterations: int = 100
    pl_tolerance: float = 1e-8
    init_pl_iterations: int = 10
    mu_start: np.ndarray | None = None
    verbose: int = 0
    max_iter: int = 10000
    optimizer: str = "quasinewton"
    optimizer_max_iter: int = 10000
    optimizer_max_evals: int = 10000
    optimizer_trace: bool = False
    optimizer_defaults: bool = True
    posterior_mode: dict = field(default_factory=dict)
    start_method: str = "default"
    rng: np.random.Generator | None = None
    covariance_method: str = "conditional"
    check_hessian: bool = False
    sequential: bool = False

    def optimizer_kwargs(self) -> dict:
        """Keyword arguments of :func:`fitglme.engine.optimize.minimize_bounded`."""
        return {
            "method": self.optimizer,
            "max_iter": int(self.optimizer_max_iter),
            "max_fun": int(self.optimizer_max_evals),
            "verbose": max(self.verbose, 2 if self.optimizer_trace else 0),
        }

    def pirls_kwargs(self) -> dict:
        """Keyword arguments of pirls: ``posterior_mode``; by default Newton's method to rounding
        precision within 100 iterations."""
        kw = {"max_iter": 100, "display": False}
        kw.update(self.posterior_mode)
        return kw

    def random_start(self, thetas) -> np.ndarray:
        """A random start: scale parameters exp(N(0, 1)), others N(0, 0.1^2), drawn from
        ``self.rng`` (the caller's stream; a fresh generator when none is given)."""
        x = thetas.start()
        mask = thetas.scale_mask()
        rng = self.rng if self.rng is not None else np.random.default_rng()
        draw = rng.standard_normal(len(x))
        return np.where(mask, np.exp(draw), 0.1 * draw)
