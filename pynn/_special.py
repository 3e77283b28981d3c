"""Special functions in NumPy float64 (NumPy has none of these, and SciPy
is not a dependency): the values behind tf.math.lgamma, digamma,
bessel_i0/i0e/i1/i1e, igamma/igammac, betainc and zeta, each accurate to
well under float32's resolution over the argument range those take.

Poles and domains follow TensorFlow's (Eigen's, after Cephes): lgamma is
+inf at the non-positive integers; digamma is NaN there; igamma and
betainc are NaN outside their domains; zeta(x, q) is +inf at x == 1 and
NaN for x < 1.
"""
import numpy as np

# Lanczos's approximation, g = 7, nine terms (relative error near 1e-15).
_LANCZOS = (0.99999999999980993, 676.5203681218851, -1259.1392167224028,
            771.32342877765313, -176.61502916214059, 12.507343278686905,
            -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7)
_HALF_LOG_2PI = 0.5 * np.log(2 * np.pi)


def _sin_pi(x):
    """sin(pi x), exact (zero) at the integers, accurate for large |x|."""
    r = x - 2.0 * np.floor(x / 2.0)          # in [0, 2)
    return np.sin(np.pi * r)


def lgamma(x):
    """log |Gamma(x)|."""
    x = np.asarray(x, np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        reflect = x < 0.5
        z = np.where(reflect, 1.0 - x, x) - 1.0
        a = np.full_like(z, _LANCZOS[0])
        for i, c in enumerate(_LANCZOS[1:], 1):
            a = a + c / (z + i)
        t = z + 7.5
        lg = _HALF_LOG_2PI + (z + 0.5) * np.log(t) - t + np.log(a)
        s = np.abs(_sin_pi(x))
        out = np.where(reflect, np.log(np.pi / s) - lg, lg)
        pole = (x <= 0) & (x == np.floor(x))
        out = np.where(pole, np.inf, out)
        return np.where(np.isinf(x), np.inf, out)


def _shifted(x, asymptotic, step):
    """A function of x >= 0 summed by a recurrence up to x >= 10, then its
    asymptotic series: f(x) = step(x) + f(x + 1)."""
    acc = np.zeros_like(x)
    for _ in range(10):
        low = x < 10
        acc = acc + np.where(low, step(np.where(low, x, 1.0)), 0.0)
        x = np.where(low, x + 1, x)
    return acc + asymptotic(x)


def _digamma_asymptotic(x):
    r = 1.0 / (x * x)
    return (np.log(x) - 0.5 / x
            - r * (1 / 12 - r * (1 / 120 - r * (1 / 252 - r * (1 / 240 - r / 132)))))


def _trigamma_asymptotic(x):
    r = 1.0 / (x * x)
    return (1.0 / x + 0.5 * r
            + r / x * (1 / 6 - r * (1 / 30 - r * (1 / 42 - r * (1 / 30 - r * 5 / 66)))))


def digamma(x):
    """psi(x) = d/dx log Gamma(x); NaN at the non-positive integers."""
    x = np.asarray(x, np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        reflect = x <= 0
        y = np.where(reflect, 1.0 - x, x)
        out = _shifted(y, _digamma_asymptotic, lambda v: -1.0 / v)
        r = np.pi * np.cos(np.pi * (x - 2.0 * np.floor(x / 2.0))) / _sin_pi(x)
        out = np.where(reflect, out - r, out)
        out = np.where(reflect & (x == np.floor(x)), np.nan, out)
        return np.where(x == np.inf, np.inf, out)


def trigamma(x):
    """psi'(x), the derivative of digamma (digamma's gradient)."""
    x = np.asarray(x, np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        reflect = x <= 0
        y = np.where(reflect, 1.0 - x, x)
        out = _shifted(y, _trigamma_asymptotic, lambda v: 1.0 / (v * v))
        s = _sin_pi(x)
        out = np.where(reflect, np.pi * np.pi / (s * s) - out, out)
        return np.where(reflect & (x == np.floor(x)), np.nan, out)


def _bessel_scaled(x, nu):
    """exp(-|x|) I_nu(|x|) for nu 0 or 1: the power series up to |x| = 30,
    the asymptotic series (Abramowitz & Stegun 9.7.1) beyond."""
    ax = np.abs(np.asarray(x, np.float64))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        small = np.minimum(ax, 30.0)
        h2 = (small / 2) ** 2
        term = (small / 2) ** nu
        total = term.copy()
        for k in range(1, 120):
            term = term * h2 / (k * (k + nu))
            total = total + term
        series = total * np.exp(-small)
        big = np.maximum(ax, 30.0)
        mu = 4.0 * nu * nu
        term = np.ones_like(big)
        total = term.copy()
        for k in range(1, 30):
            term = -term * (mu - (2 * k - 1) ** 2) / (k * 8.0 * big)
            total = total + term
        asym = total / np.sqrt(2 * np.pi * big)
        return np.where(ax <= 30.0, series, asym)


def bessel_i0e(x):
    return _bessel_scaled(x, 0)


def bessel_i1e(x):
    x = np.asarray(x, np.float64)
    return np.sign(x) * _bessel_scaled(x, 1)


def bessel_i0(x):
    x = np.asarray(x, np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        return _bessel_scaled(x, 0) * np.exp(np.abs(x))


def bessel_i1(x):
    x = np.asarray(x, np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        return bessel_i1e(x) * np.exp(np.abs(x))


_TINY = 1e-300
_EPS = 1e-15


def _gamma_prefactor(a, x):
    """x^a e^-x / Gamma(a)."""
    return np.exp(a * np.log(x) - x - lgamma(a))


def _igamma_both(a, x):
    """(P(a, x), Q(a, x)), the regularized lower and upper incomplete
    gamma functions: the series where x < a + 1, the continued fraction
    (modified Lentz) elsewhere (Numerical Recipes 6.2)."""
    a, x = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(x, np.float64))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        bad = ~((a > 0) & (x >= 0))
        aa = np.where(bad, 1.0, a)
        xx = np.where(bad, 1.0, x)
        use_series = xx < aa + 1
        # series
        xs = np.where(use_series, xx, 0.5)
        ap = aa.copy()
        term = 1.0 / aa
        total = term.copy()
        for _ in range(100000):
            ap = ap + 1
            term = term * xs / ap
            total = total + term
            if not np.any(np.abs(term) > np.abs(total) * _EPS):
                break
        p_series = total * _gamma_prefactor(aa, xs)
        # continued fraction
        xc = np.where(use_series, aa + 2, xx)
        b = xc + 1 - aa
        c = np.full_like(b, 1 / _TINY)
        d = 1 / b
        h = d.copy()
        for i in range(1, 100000):
            an = -i * (i - aa)
            b = b + 2
            d = an * d + b
            d = np.where(np.abs(d) < _TINY, _TINY, d)
            c = b + an / c
            c = np.where(np.abs(c) < _TINY, _TINY, c)
            d = 1 / d
            delta = d * c
            h = h * delta
            if not np.any(np.abs(delta - 1) > _EPS):
                break
        q_cf = _gamma_prefactor(aa, xc) * h
        p = np.where(use_series, p_series, 1 - q_cf)
        q = np.where(use_series, 1 - p_series, q_cf)
        p = np.where(xx == 0, 0.0, p)
        q = np.where(xx == 0, 1.0, q)
        p = np.where(np.isinf(x) & ~bad, 1.0, p)
        q = np.where(np.isinf(x) & ~bad, 0.0, q)
        return np.where(bad, np.nan, p), np.where(bad, np.nan, q)


def igamma(a, x):
    return _igamma_both(a, x)[0]


def igammac(a, x):
    return _igamma_both(a, x)[1]


def igamma_grad_x(a, x):
    """d/dx P(a, x) = x^(a-1) e^-x / Gamma(a)."""
    a, x = np.asarray(a, np.float64), np.asarray(x, np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        return np.exp((a - 1) * np.log(x) - x - lgamma(a))


def igamma_grad_a(a, x):
    """d/da P(a, x), by central differences in float64 (their error, near
    1e-9, is far below float32's resolution)."""
    a, x = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(x, np.float64))
    h = 1e-5 * np.maximum(1.0, np.abs(a))
    h = np.where(a - h > 0, h, a / 2)
    return (igamma(a + h, x) - igamma(a - h, x)) / (2 * h)


def _betacf(a, b, x):
    """The continued fraction of the incomplete beta function (NR 6.4)."""
    qab, qap, qam = a + b, a + 1, a - 1
    c = np.ones_like(x)
    d = 1 - qab * x / qap
    d = np.where(np.abs(d) < _TINY, _TINY, d)
    d = 1 / d
    h = d.copy()
    for m in range(1, 100000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1 + aa * d
        d = np.where(np.abs(d) < _TINY, _TINY, d)
        c = 1 + aa / c
        c = np.where(np.abs(c) < _TINY, _TINY, c)
        d = 1 / d
        h = h * d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1 + aa * d
        d = np.where(np.abs(d) < _TINY, _TINY, d)
        c = 1 + aa / c
        c = np.where(np.abs(c) < _TINY, _TINY, c)
        d = 1 / d
        delta = d * c
        h = h * delta
        if not np.any(np.abs(delta - 1) > _EPS):
            break
    return h


def _log_beta(a, b):
    return lgamma(a) + lgamma(b) - lgamma(a + b)


def betainc(a, b, x):
    """I_x(a, b), the regularized incomplete beta function."""
    a, b, x = np.broadcast_arrays(*(np.asarray(v, np.float64) for v in (a, b, x)))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        bad = ~((a > 0) & (b > 0) & (x >= 0) & (x <= 1))
        a_ = np.where(bad, 1.0, a)
        b_ = np.where(bad, 1.0, b)
        x_ = np.where(bad | (x == 0) | (x == 1), 0.5, x)
        front = np.exp(a_ * np.log(x_) + b_ * np.log1p(-x_) - _log_beta(a_, b_))
        direct = x_ < (a_ + 1) / (a_ + b_ + 2)
        # each branch where its fraction converges fast; the other's
        # arguments kept harmless
        xd = np.where(direct, x_, 0.0)
        xm = np.where(direct, 0.0, 1 - x_)
        low = front * _betacf(a_, b_, xd) / a_
        high = 1 - front * _betacf(b_, a_, xm) / b_
        out = np.where(direct, low, high)
        out = np.where(x == 0, 0.0, np.where(x == 1, 1.0, out))
        return np.where(bad, np.nan, out)


def betainc_grad_x(a, b, x):
    """d/dx I_x(a, b) = x^(a-1) (1-x)^(b-1) / B(a, b)."""
    a, b, x = (np.asarray(v, np.float64) for v in (a, b, x))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        return np.exp((a - 1) * np.log(x) + (b - 1) * np.log1p(-x) - _log_beta(a, b))


# B_2j / (2j)! for j = 1..12 (Euler-Maclaurin's corrections)
_BERNOULLI = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510,
              43867 / 798, -174611 / 330, 854513 / 138, -236364091 / 2730)
_FACT = [1.0]
for _k in range(1, 25):
    _FACT.append(_FACT[-1] * _k)
_EM = tuple(bj / _FACT[2 * j] for j, bj in enumerate(_BERNOULLI, 1))
del _k


def zeta(x, q):
    """The Hurwitz zeta function sum_k (q + k)^-x, by Euler-Maclaurin
    summation after 9 terms (as Cephes's)."""
    x, q = np.broadcast_arrays(np.asarray(x, np.float64), np.asarray(q, np.float64))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        ok = (x > 1) & (q > 0)
        xs = np.where(ok, x, 2.0)
        qs = np.where(ok, q, 1.0)
        total = np.zeros_like(xs)
        n = 9
        for k in range(n):
            total = total + (qs + k) ** -xs
        w = qs + n
        total = total + w ** (1 - xs) / (xs - 1) + 0.5 * w ** -xs
        fac = xs * w ** (-xs - 1)       # x (x+1)...(x+2j-2) w^(-x-2j+1)
        for j, c in enumerate(_EM, 1):
            term = c * fac
            total = total + term
            fac = fac * (xs + 2 * j - 1) * (xs + 2 * j) / (w * w)
        out = np.where(ok, total, np.nan)
        out = np.where(x == 1, np.inf, out)
        # q <= 0: poles at the integers, undefined elsewhere
        pole = (x > 1) & (q <= 0) & (q == np.floor(q))
        out = np.where(pole, np.inf, out)
        return out
