"""Identity (e): zero-order hold is exact; bilinear is the (1,1) Pade approximant of exp.

Scalar mode x'(t) = a x(t) + b u(t), u constant (= u) on one step of length dt:
  ZOH:       x(dt) = exp(a dt) x0 + (exp(a dt) - 1)/a * b u        (lam = e^{a dt}, Bbar = (lam-1)/a b)
  bilinear:  lam_bil = (1 + a dt/2)/(1 - a dt/2),  Bbar_bil = dt/(1 - a dt/2) * b
lam_bil is the unique R(x) = (p0 + p1 x)/(1 + q1 x) with R(x) - e^x = O(x^3), and
lam_bil - e^{a dt} = (a dt)^3/12 + O((a dt)^4).
"""

from __future__ import annotations

import sympy as sp

from .exact import Check, ProofResult, prove_equal, prove_series_agree, run_proof

a = sp.Symbol("a", nonzero=True)  # continuous-time eigenvalue (complex in general; only a != 0 assumed)
b, u, x0, dt, t, s = sp.symbols("b u x0 dt t s")
x = sp.Symbol("x")  # the dimensionless product a*dt in the Pade statements


def zoh_step(a_=a, dt_=dt):
    """Claimed one-step map: returns (lam, Bbar/b) = (e^{a dt}, (e^{a dt} - 1)/a)."""
    lam = sp.exp(a_ * dt_)
    return lam, (lam - 1) / a_


def zoh_exact(zoh=zoh_step) -> ProofResult:
    """x(dt) = lam x0 + Bbar u solves x' = a x + b u, x(0) = x0, proved three ways."""
    lam_t, gain_t = zoh(a, t)           # the claim, as a function of the elapsed time t
    claimed = lam_t * x0 + gain_t * b * u

    def checks():
        yield prove_equal(sp.diff(claimed, t), a * claimed + b * u, "claimed x(t) satisfies x' = a x + b u")
        yield prove_equal(claimed.subs(t, 0), x0, "claimed x(0) = x0 (unique solution, linear ODE)")
        xf = sp.Function("xf")
        sol = sp.dsolve(sp.Eq(xf(t).diff(t), a * xf(t) + b * u), xf(t), ics={xf(0): x0})
        yield prove_equal(sol.rhs, claimed, "sympy dsolve solution equals the claim")
        voc = sp.exp(a * t) * x0 + sp.integrate(sp.exp(a * (t - s)) * b * u, (s, 0, t))
        yield prove_equal(voc, claimed, "variation of constants e^{at}x0 + int_0^t e^{a(t-s)} b u ds")
        yield prove_equal(claimed.subs(t, dt), sp.exp(a * dt) * x0 + (sp.exp(a * dt) - 1) / a * b * u,
                          "at t = dt: x(dt) = e^{a dt} x0 + (e^{a dt} - 1)/a b u")
    return run_proof("zoh_exact", "ZOH x(dt) = e^{a dt} x0 + (e^{a dt}-1)/a * b u is the exact ODE solution",
                     "symbolic a != 0, b, u, x0, dt", checks)


def pade11_coefficients():
    """Solve the (1,1) Pade conditions for e^x: (1 + q1 x) e^x - (p0 + p1 x) = O(x^3)."""
    p0, p1, q1 = sp.symbols("p0 p1 q1")
    resid = sp.expand(sp.series((1 + q1 * x) * sp.exp(x), x, 0, 3).removeO() - (p0 + p1 * x))
    eqs = [resid.coeff(x, k) for k in range(3)]
    sols = sp.solve(eqs, [p0, p1, q1], dict=True)
    return sols, (p0, p1, q1)


def bilinear_lambda(x_=x):
    """lam_bil as a function of x = a dt: (1 + x/2)/(1 - x/2)."""
    return (1 + x_ / 2) / (1 - x_ / 2)


ONE_TWELFTH = sp.Rational(1, 12)


def bilinear_pade(lam_bil=bilinear_lambda, error_coeff=ONE_TWELFTH) -> ProofResult:
    """lam_bil is the (1,1) Pade approximant of e^{a dt} with error (a dt)^3/12 + O(4)."""
    def checks():
        R = lam_bil(x)
        num, den = sp.fraction(sp.cancel(R))
        yield Check(sp.degree(num, x) == 1 and sp.degree(den, x) == 1,
                    "lam_bil is a ratio of degree-1 polynomials in x = a dt", f"{num} / {den}")
        sols, (p0, p1, q1) = pade11_coefficients()
        yield Check(len(sols) == 1, "(1,1) Pade conditions have a unique solution", str(sols))
        sol = sols[0]
        yield prove_equal((sol[p0] + sol[p1] * x) / (1 + sol[q1] * x), R, "that solution equals lam_bil")
        yield prove_series_agree(R, sp.exp(x), x, 3, "lam_bil = e^x + O(x^3) (agrees through x^2)")
        c3 = sp.series(R - sp.exp(x), x, 0, 4).removeO().coeff(x, 3)
        yield prove_equal(c3, error_coeff, f"x^3 coefficient of lam_bil - e^x is {error_coeff}")
    return run_proof("bilinear_pade",
                     "lam_bil = (1+a dt/2)/(1-a dt/2) is the (1,1) Pade of e^{a dt}; "
                     "lam_bil - e^{a dt} = (a dt)^3/12 + O(4)",
                     "symbolic x = a dt", checks)


def bilinear_trapezoid(gain=lambda a_, dt_: dt_ / (1 - a_ * dt_ / 2)) -> ProofResult:
    """Trapezoidal rule with u held constant gives x1 = lam_bil x0 + dt/(1 - a dt/2) b u.

    Trapezoid: x1 = x0 + dt/2 * [(a x0 + b u) + (a x1 + b u)]; solve for x1.
    """
    x1 = sp.Symbol("x1")

    def checks():
        sol = sp.solve(sp.Eq(x1, x0 + dt / 2 * ((a * x0 + b * u) + (a * x1 + b * u))), x1)
        yield Check(len(sol) == 1, "trapezoidal step has a unique solution x1", str(sol))
        yield prove_equal(sol[0], bilinear_lambda(a * dt) * x0 + gain(a, dt) * b * u,
                          "x1 = (1 + a dt/2)/(1 - a dt/2) x0 + dt/(1 - a dt/2) b u")
    return run_proof("bilinear_trapezoid",
                     "Bbar_bil = dt/(1 - a dt/2) * b is the trapezoidal-rule input gain",
                     "symbolic a, b, u, x0, dt", checks)
