"""Special functions in NumPy float64 (NumPy has none of these, and SciPy
is not a dependency): the values behind tf.math.lgamma, digamma,
bessel_i0/i0e/i1/i1e, igamma/igammac, betainc and zeta, and tf.math.special's
Bessel J, Y and K functions, dawsn, expint, the Fresnel integrals and
spence, each accurate to well under float32's resolution over the argument
range those take (the tf.math.special ones to about 1e-12 in float64).

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


# ------------------------------------------------------- tf.math.special
# Bessel J, Y (orders 0, 1), K (orders 0, 1, and scaled), Dawson's
# integral, the Fresnel integrals, the exponential integral Ei and
# Spence's function, as TensorFlow's (SciPy's) definitions.

_EULER = 0.57721566490153286061


def _hankel(x, nu):
    """(P, Q) of the Hankel asymptotic expansion of J_nu and Y_nu (x >= 25,
    where its smallest term is below double precision)."""
    mu = 4.0 * nu * nu
    p, q = np.ones_like(x), np.zeros_like(x)
    term = np.ones_like(x)
    for k in range(1, 40):
        term = term * (mu - (2 * k - 1) ** 2) / (k * 8.0 * x)
        if k % 2:
            q = q + (term if k % 4 == 1 else -term)
        else:
            p = p + (term if k % 4 == 0 else -term)
    return p, q


def _bessel_small(x):
    """(J0, J1, Y0, Y1) of 0 < x <= 25: J_n by Miller's backward recurrence
    J_(n-1) = 2n / x J_n - J_(n+1), normalized by J_0 + 2 (J_2 + J_4 + ...)
    = 1, and Y by the Neumann series Y0 = 2/pi (ln(x/2) + gamma) J0 - 4/pi
    sum (-1)^k J_2k / k and its derivative Y1 = -Y0'; the sums gathered as
    the recurrence goes (no table of orders kept)."""
    top = 2 * int((float(np.max(x, initial=0.0)) + 40) // 2) + 2
    nxt, cur = np.zeros_like(x), np.full_like(x, 1e-30)
    norm, s0, s1 = 2.0 * cur, np.zeros_like(x), np.zeros_like(x)
    j1 = None
    for n in range(top, 0, -1):
        m = n - 1                                     # (the order made now)
        nxt, cur = cur, 2.0 * n / x * cur - nxt
        if m % 2 == 0 and m:
            k = m // 2
            norm = norm + 2.0 * cur
            s0 = s0 + (-1) ** k * cur / k
        elif m % 2:
            if m >= 3:                               # J_(2k+1) of k = (m - 1) / 2
                k = (m - 1) // 2
                s1 = s1 - (-1) ** k * cur / k
            k = (m + 1) // 2                         # J_(2k-1) of k = (m + 1) / 2
            s1 = s1 + (-1) ** k * cur / k
        if m == 1:
            j1 = cur
        big = np.abs(cur) > 1e250                    # (rescale: the values grow fast)
        if big.any():
            scale = np.where(big, 1e-250, 1.0)
            nxt, cur, norm, s0, s1 = nxt * scale, cur * scale, norm * scale, s0 * scale, \
                s1 * scale
            if j1 is not None:
                j1 = j1 * scale
    norm = norm + cur                                # (J_0 itself)
    j0, j1, s0, s1 = cur / norm, j1 / norm, s0 / norm, s1 / norm
    lg = np.log(x / 2.0) + _EULER
    y0 = 2.0 / np.pi * lg * j0 - 4.0 / np.pi * s0
    y1 = -2.0 / np.pi * (j0 / x - lg * j1) + 2.0 / np.pi * s1
    return j0, j1, y0, y1


def _bessel_tiny(x):
    """(J0, J1, Y0, Y1) of 0 < x < 1e-5 by their series' first terms (the
    next ones below double precision)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        lg = np.log(x / 2.0) + _EULER
        h2 = x * x / 4.0
        return (1.0 - h2, x / 2.0 * (1.0 - h2 / 2.0), 2.0 / np.pi * (lg * (1.0 - h2) + h2),
                -2.0 / (np.pi * x) + x / np.pi * (lg - 0.5))


def _bessel_jy(x, nu):
    """(J_nu, Y_nu) of x >= 0 for nu 0 or 1."""
    x = np.asarray(x, np.float64)
    small = np.clip(x, 1e-5, 25.0)
    j0, j1, y0, y1 = _bessel_small(small)
    tiny = x < 1e-5
    if tiny.any():
        t = _bessel_tiny(np.where(tiny, x, 1e-6))
        j0, j1, y0, y1 = (np.where(tiny, a, b) for a, b in zip(t, (j0, j1, y0, y1)))
    big = np.maximum(x, 25.0)
    p, q = _hankel(big, nu)
    chi = big - (0.25 + 0.5 * nu) * np.pi
    scale = np.sqrt(2.0 / (np.pi * big))
    ja, ya = scale * (p * np.cos(chi) - q * np.sin(chi)), scale * (p * np.sin(chi) +
                                                                   q * np.cos(chi))
    near = x <= 25.0
    return (np.where(near, j0 if nu == 0 else j1, ja),
            np.where(near, y0 if nu == 0 else y1, ya))


def _finite_or(x, fn):
    """fn of x's finite entries; NaN at NaN and +-inf (as Cephes's, whose
    sines and cosines of infinity are NaN)."""
    x = np.asarray(x, np.float64)
    out = fn(np.where(np.isfinite(x), x, 0.0))
    return np.where(np.isfinite(x), out, np.nan)


def bessel_j0(x):
    return _finite_or(x, lambda v: _bessel_jy(np.abs(v), 0)[0])


def bessel_j1(x):
    return _finite_or(x, lambda v: np.sign(v) * _bessel_jy(np.abs(v), 1)[0])


def _y(x, nu):
    x = np.asarray(x, np.float64)
    with np.errstate(invalid="ignore"):
        out = _finite_or(x, lambda v: _bessel_jy(np.abs(v), nu)[1])
        out = np.where(x == 0, -np.inf, out)
        return np.where(x < 0, np.nan, out)


def bessel_y0(x):
    return _y(x, 0)


def bessel_y1(x):
    return _y(x, 1)


def _bessel_k_scaled(x):
    """(e^x K0(x), e^x K1(x)) of x > 0: the series (Abramowitz & Stegun
    9.6.13, 9.6.11) below 2, Steed's continued fraction (Temme's method,
    as Numerical Recipes' bessik) from 2."""
    x = np.asarray(x, np.float64)
    s = np.minimum(x, 2.0)
    h2 = (s / 2.0) ** 2
    lg = np.log(s / 2.0)
    term0, term1 = np.ones_like(s), np.ones_like(s)    # (x^2/4)^k / (k!)^2, / (k! (k+1)!)
    psi_k, psi_k1 = -_EULER, 1.0 - _EULER                # psi(k + 1), psi(k + 2)
    i0, i1 = np.zeros_like(s), np.zeros_like(s)
    sum0, sum1 = np.zeros_like(s), np.zeros_like(s)
    for k in range(0, 40):
        if k:
            term0 = term0 * h2 / (k * k)
            term1 = term1 * h2 / (k * (k + 1))
            psi_k, psi_k1 = psi_k + 1.0 / k, psi_k1 + 1.0 / (k + 1)
        i0, i1 = i0 + term0, i1 + term1 * s / 2.0
        sum0 = sum0 + psi_k * term0
        sum1 = sum1 + (psi_k + psi_k1) * term1
    k0s = -lg * i0 + sum0
    k1s = 1.0 / s + lg * i1 - s / 4.0 * sum1
    series = (k0s * np.exp(s), k1s * np.exp(s))
    b = np.maximum(x, 2.0)
    bb = 2.0 * (1.0 + b)
    d = 1.0 / bb
    h = delh = d
    q1, q2 = np.zeros_like(b), np.ones_like(b)
    a1 = 0.25
    q = c = a1
    a = -a1
    ssum = 1.0 + q * delh
    active = np.ones(b.shape, bool)
    for i in range(2, 400):
        a = a - 2 * (i - 1)
        c = -a * c / i
        qnew = (q1 - bb * q2) / a
        q1, q2 = q2, qnew
        q = q + c * qnew
        bb = bb + 2.0
        d = 1.0 / (bb + a * d)
        delh = (bb * d - 1.0) * delh
        h = np.where(active, h + delh, h)
        dels = q * delh
        ssum = np.where(active, ssum + dels, ssum)
        active = active & ~(np.abs(dels / ssum) < 1e-16)
        if not active.any():
            break
    h = a1 * h
    k0 = np.sqrt(np.pi / (2.0 * b)) / ssum
    k1 = k0 * (b + 0.5 - h) / b
    near = x < 2.0
    return np.where(near, series[0], k0), np.where(near, series[1], k1)


def _k(x, which, scaled):
    x = np.asarray(x, np.float64)
    with np.errstate(all="ignore"):
        pos = np.where(x > 0, np.where(np.isfinite(x), x, 1.0), 1.0)
        v = _bessel_k_scaled(pos)[which]
        if not scaled:
            v = v * np.exp(-pos)
        out = np.where(x == 0, np.inf, v)
        out = np.where(np.isposinf(x), 0.0, out)
        return np.where((x < 0) | np.isnan(x), np.nan, out)


def bessel_k0(x):
    return _k(x, 0, False)


def bessel_k1(x):
    return _k(x, 1, False)


def bessel_k0e(x):
    return _k(x, 0, True)


def bessel_k1e(x):
    return _k(x, 1, True)


def dawsn(x):
    """Dawson's integral exp(-x^2) int_0^x exp(t^2) dt: the series
    exp(-x^2) sum x^(2k+1) / (k! (2k + 1)) (all terms positive) up to
    |x| = 6, the asymptotic series sum (2k - 1)!! / (2^(k+1) x^(2k+1))
    beyond."""
    x = np.asarray(x, np.float64)
    ax = np.abs(np.where(np.isfinite(x), x, 0.0))
    s = np.minimum(ax, 6.0)
    x2 = s * s
    term, total = s.copy(), s.copy()
    for k in range(1, 200):
        term = term * x2 / k
        total = total + term / (2 * k + 1)
    series = np.exp(-x2) * total
    b = np.maximum(ax, 6.0)
    term = 1.0 / (2.0 * b)
    total = term.copy()
    for k in range(1, 18):
        term = term * (2 * k - 1) / (2.0 * b * b)
        total = total + term
    out = np.sign(x) * np.where(ax <= 6.0, series, total)
    return np.where(np.isnan(x), np.nan, np.where(np.isinf(x), 0.0, out))


_GAUSS_LEGENDRE = {}


def _fresnel_quadrature(x):
    """(S, C) of 0 <= x <= 8 by Gauss-Legendre quadrature of sin and cos(pi
    t^2 / 2) over [0, x] (at most 32 oscillations: 160 nodes integrate
    them to double precision)."""
    if 160 not in _GAUSS_LEGENDRE:
        _GAUSS_LEGENDRE[160] = np.polynomial.legendre.leggauss(160)
    u, w = _GAUSS_LEGENDRE[160]
    s_out, c_out = np.empty_like(x), np.empty_like(x)
    for lo in range(0, x.size, 4096):
        part = x[lo:lo + 4096]
        t = part[:, None] * (u[None, :] + 1.0) / 2.0
        phase = np.pi / 2.0 * t * t
        s_out[lo:lo + 4096] = part / 2.0 * (np.sin(phase) @ w)
        c_out[lo:lo + 4096] = part / 2.0 * (np.cos(phase) @ w)
    return s_out, c_out


def _fresnel_asymptotic(x):
    """(S, C) of x >= 8 by the auxiliary functions f and g (Abramowitz &
    Stegun 7.3.9, 7.3.10, 7.3.27, 7.3.28), whose smallest terms there are
    far below double precision."""
    t = np.pi * x * x
    f_sum, g_sum = np.ones_like(x), np.ones_like(x)
    f_term, g_term = np.ones_like(x), np.ones_like(x)
    for m in range(1, 30):
        f_term = -f_term * (4 * m - 3) * (4 * m - 1) / (t * t)
        g_term = -g_term * (4 * m - 1) * (4 * m + 1) / (t * t)
        f_sum, g_sum = f_sum + f_term, g_sum + g_term
    f = f_sum / (np.pi * x)
    g = g_sum / (np.pi * np.pi * x ** 3)
    phase = np.pi / 2.0 * np.mod(x * x, 4.0)           # (the angle reduced exactly)
    sn, cs = np.sin(phase), np.cos(phase)
    return 0.5 - f * cs - g * sn, 0.5 + f * sn - g * cs


def _fresnel(x):
    """(S(x), C(x)) = int_0^x (sin, cos)(pi t^2 / 2) dt: the power series
    below |x| = 1.8, quadrature up to 8, the asymptotic expansion beyond;
    1/2 at infinity (both are odd)."""
    x = np.asarray(x, np.float64)
    ax = np.abs(np.where(np.isfinite(x), x, 0.0))
    s = np.minimum(ax, 1.8)
    z = np.pi / 2.0 * s * s
    cs, ss = np.zeros_like(s), np.zeros_like(s)
    term = s.copy()                                    # (pi/2)^m x^(2m+1) / m!, m = 0, 1, ...
    for m in range(0, 60):
        if m:
            term = term * z / m
        part = term / (2 * m + 1)
        if m % 2 == 0:
            cs = cs + (part if m % 4 == 0 else -part)
        else:
            ss = ss + (part if m % 4 == 1 else -part)
    sv, c = ss, cs
    mid = (ax >= 1.8) & (ax <= 8.0)
    if mid.any():
        qs, qc = _fresnel_quadrature(ax[mid])
        sv, c = sv.copy(), c.copy()
        sv[mid], c[mid] = qs, qc
    far = ax > 8.0
    if far.any():
        fs_, fc_ = _fresnel_asymptotic(ax[far])
        sv, c = sv.copy(), c.copy()
        sv[far], c[far] = fs_, fc_
    sign = np.sign(x)
    inf = np.isinf(x)
    c = np.where(inf, 0.5, c) * sign
    sv = np.where(inf, 0.5, sv) * sign
    return np.where(np.isnan(x), np.nan, sv), np.where(np.isnan(x), np.nan, c)


def fresnel_sin(x):
    return _fresnel(x)[0]


def fresnel_cos(x):
    return _fresnel(x)[1]


def expint(x):
    """Ei(x), the principal value of int_-inf^x e^t / t dt (as SciPy's
    expi): the series gamma + ln|x| + sum x^k / (k k!) for -1 <= x <= 40,
    e^x / x sum k! / x^k above, -E1(-x) by its continued fraction below
    -1; -inf at 0."""
    x = np.asarray(x, np.float64)
    with np.errstate(all="ignore"):
        s = np.clip(np.where(np.isfinite(x), x, 0.0), -1.0, 40.0)
        term, total = np.ones_like(s), np.zeros_like(s)
        for k in range(1, 200):
            term = term * s / k
            total = total + term / k
        series = _EULER + np.log(np.abs(s)) + total
        b = np.maximum(np.where(np.isfinite(x), x, 41.0), 40.0)
        term, total = np.ones_like(b), np.ones_like(b)
        for k in range(1, 40):
            term = term * k / b
            total = total + term
        asym = np.exp(b) / b * total
        y = np.maximum(-np.where(np.isfinite(x), x, -2.0), 1.0)
        # E1(y) = e^-y / (y + 1 - 1 / (y + 3 - 4 / (y + 5 - ...))) (Lentz)
        bb = y + 1.0
        c = np.full_like(y, 1e300)
        d = 1.0 / bb
        h = d
        for i in range(1, 300):
            an = -float(i * i)
            bb = bb + 2.0
            d = 1.0 / (an * d + bb)
            c = bb + an / c
            h = h * c * d
        neg = -h * np.exp(-y)
        out = np.where(x > 40.0, asym, np.where(x < -1.0, neg, series))
        out = np.where(x == 0, -np.inf, out)
        out = np.where(np.isposinf(x), np.inf, np.where(np.isneginf(x), 0.0, out))
        return np.where(np.isnan(x), np.nan, out)


def _bernoulli(count):
    """B_0 .. B_count as floats (B_1 = -1/2), by the recurrence
    sum_k C(m + 1, k) B_k = 0."""
    from fractions import Fraction
    from math import comb
    b = [Fraction(1)]
    for m in range(1, count + 1):
        b.append(-sum(comb(m + 1, k) * b[k] for k in range(m)) / (m + 1))
    return [float(v) for v in b]


_B = _bernoulli(40)


def _dilog_core(z):
    """Li2(z) for -1 <= z <= 1/2: sum B_n u^(n+1) / (n+1)! with u = -ln(1 - z)
    (|u| <= ln 2)."""
    u = -np.log1p(-z)
    total = np.zeros_like(z)
    power, fact = u.copy(), 1.0
    for n, bn in enumerate(_B):
        fact *= n + 1
        if bn:
            total = total + bn * power / fact
        power = power * u
    return total


def _dilog(z):
    """Li2(z) for real z <= 1."""
    z = np.asarray(z, np.float64)
    pi2_6 = np.pi ** 2 / 6.0
    with np.errstate(all="ignore"):
        mid = _dilog_core(np.clip(z, -1.0, 0.5))
        w = np.clip(1.0 - z, 0.0, 0.5)                 # z in (1/2, 1]
        upper = pi2_6 - np.where(w == 0, 0.0, np.log(np.clip(z, 0.5, 1.0)) * np.log(w)) \
            - _dilog_core(w)
        v = 1.0 / np.minimum(z, -1.0)                  # z < -1: Li2(1/z) of -1 < 1/z < 0
        lower = -pi2_6 - 0.5 * np.log(-np.minimum(z, -1.0)) ** 2 - _dilog_core(v)
        return np.where(z > 0.5, upper, np.where(z < -1.0, lower, mid))


def spence(x):
    """Spence's function int_1^x ln t / (1 - t) dt = Li2(1 - x) for x >= 0
    (NaN below and at infinity, as Cephes's)."""
    x = np.asarray(x, np.float64)
    with np.errstate(invalid="ignore"):
        out = _dilog(1.0 - np.where((x >= 0) & np.isfinite(x), x, 0.0))
        return np.where((x < 0) | ~np.isfinite(x), np.nan, out)
