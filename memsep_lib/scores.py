"""The empirical score and the posterior of ``X_0`` given ``X_t`` under the empirical law.

For training data ``x_1..x_n`` the noised empirical law is
``P^_t = (1/n) sum_i N(a_t x_i, s_t^2 I)``. With softmax weights

    w_i(x) = softmax_i( -|x - a_t x_i|^2 / (2 s_t^2) )                 (posterior P(X_0 = x_i | X_t = x))

the empirical score, the posterior mean and covariance, and the Hessian of ``log p^_t`` are

    grad log p^_t(x)   = sum_i w_i(x) (a_t x_i - x) / s_t^2
    E[X_0 | X_t = x]   = sum_i w_i(x) x_i                               (Tweedie: score = (a_t E[X_0|x] - x)/s_t^2)
    Cov[X_0 | X_t = x] = sum_i w_i(x) (x_i - m)(x_i - m)^T
    grad^2 log p^_t(x) = -I / s_t^2 + (a_t^2 / s_t^4) Cov[X_0 | X_t = x]

Accuracy at small ``t`` in float32. The fast way to get all ``n`` logits is a matrix product,
``-|x - a x_i|^2 = -|x|^2 + 2 a x.x_i - a^2 |x_i|^2``, but the three terms are of size ``|x|^2 ~ d``
while their sum is of size ``s_t^2 d``: in float32 the logits then carry errors of order
``1e-7 d / s_t^2`` (about 0.3 at ``d = 3072``, ``t = 1e-3``), which is enough to get the weights of two
nearly tied training points badly wrong; the naive float32 kernel (cdist -> softmax -> matmul) is
wrong by up to 30% of the score scale at midpoints between CIFAR-10 images.

How :func:`empirical_score` stays exact at the cost of about one matrix product. One pass over
chunks of the data:

1. ``G_i = a x.x_i - a^2 |x_i|^2 / 2`` (``= |x|^2/2 - |x - a x_i|^2/2``) for the whole chunk by one
   matrix product in the working dtype (``torch.addmm`` folds the norms in), kept *unscaled* by
   ``1/s_t^2`` so that nothing overflows at any ``t``; a running per-query maximum ``m``.
2. The float32 error of ``G_i`` is bounded by ``eps (sqrt(d) + 16) (a |x||x_i| + a^2 |x_i|^2 / 2 + |m|)``
   (measured errors are below 3 ``eps`` times that scale; ``sqrt(d)`` is the random-walk growth of
   rounding in a length-``d`` sum). A point whose ``G_i`` lies more than ``40 + log n`` logits plus
   twice that bound below ``m`` carries, exactly, less than ``e^-40 / n`` of the largest weight:
   together such points weigh less than ``e^-40`` (float64 cannot see them).
3. The few points within that margin (one or two per query at small ``t``: the logits of different
   training points differ by ``|x_i - x_j|^2 / s_t^2``, far more than the error) are recomputed
   exactly in float64 from the differences ``x - a x_i`` and accumulated with a float64 online
   log-sum-exp of the *energies* ``|x - a x_i|^2 / 2`` (shifted by their running minimum before the
   division by ``s_t^2``: ``exp`` never sees a huge argument, so the result is finite for every
   ``t`` that ``check_time`` accepts). The second matrix product is not needed at all.
4. A query with more than ``num_candidates`` points within the margin of a chunk (large ``t``, where
   the weights are spread and the float32 error ``eps d / s_t^2`` is small) takes that chunk through
   the dense path: ``exp`` of its logits and the second matrix product, in the working dtype, with
   its own running maximum; the two parts are combined in float64 at the end.

So the cost is one matrix product at small and moderate ``t`` and two at large ``t``, plus a few
passes over the ``B x chunk`` logits; memory is one ``B x chunk`` buffer (and its mask) plus small
float64 blocks. :func:`posterior_cov` and the Hessian work from explicit float64 differences.
"""

from __future__ import annotations

import math

import torch

from .process import alpha, sigma
from .validation import check_compatible, check_points, check_positive_int, check_time

__all__ = [
    "empirical_score",
    "empirical_log_prob",
    "posterior_weights",
    "posterior_mean",
    "posterior_cov",
    "empirical_score_hessian",
]

# Memory budget (number of tensor elements) for one chunk of intermediate results.
_CHUNK_ELEMENTS = 1 << 24
# Float64 elements in one block of exactly recomputed (query, point) pairs.
_PAIR_ELEMENTS = 1 << 22
# Logits (in units of 1) below the row maximum beyond which a point is dropped: e^-_DROP_LOGITS / n each.
_DROP_LOGITS = 40.0
_DROP_EXTRA = 1.0
_ENERGY_ELEMENTS = 1 << 22
# Default most points per query and chunk recomputed exactly before the dense path takes over.
_NUM_CANDIDATES = 16


def _check_inputs(x, t, data, *, scan_data: bool = True):
    """Validate the inputs; return ``t`` as a float. ``scan_data=False`` leaves the NaN/inf scan of
    ``data`` to the caller (the streaming kernel sees every squared norm anyway)."""
    if scan_data or not isinstance(data, torch.Tensor) or data.ndim != 2 or data.shape[0] == 0:
        check_points(data, "data")
    else:
        check_points(data[:1], "data")             # type, dtype, shape; the kernel checks the values
    check_points(x, "x", dim=data.shape[1])
    check_compatible(x, data)
    if x.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"x and data must be float32 or float64, got {x.dtype}")
    return check_time(t, dtype=x.dtype)


def _chunk_rows(chunk_size, rows_per_item: int, n: int) -> int:
    if chunk_size is None:
        return max(1, min(n, _CHUNK_ELEMENTS // max(1, rows_per_item)))
    return check_positive_int(chunk_size, "chunk_size")


def _matmul_unit_roundoff(x: torch.Tensor) -> float:
    """Unit roundoff of a matrix product of ``x``'s dtype as torch will run it (TF32 / bf16 if allowed)."""
    eps = torch.finfo(x.dtype).eps / 2
    if x.dtype == torch.float32:
        precision = torch.get_float32_matmul_precision()
        if precision == "medium":
            eps = max(eps, 2.0 ** -9)                      # bfloat16 inputs may be used
        elif precision == "high" or (x.device.type == "cuda" and torch.backends.cuda.matmul.allow_tf32):
            eps = max(eps, 2.0 ** -11)                     # TF32
    return eps


def _finite_in(value: torch.Tensor, dtype: torch.dtype, what: str, t: float) -> torch.Tensor:
    """``value`` (float64) cast to ``dtype``; a clear error instead of inf when it does not fit."""
    out = value.to(dtype)
    lo, hi = torch.aminmax(out)
    if not bool(torch.isfinite(lo) & torch.isfinite(hi)):
        big = value.abs().max().item()
        raise ValueError(f"{what} at t={t!r} is too large for {str(dtype).replace('torch.', '')} (entries up to "
                         f"{big:.3g}, it grows like 1/s_t^2): use a larger t or float64")
    return out


class _ExactPart:
    """Float64 online log-sum-exp over the points whose energies ``E = |x - a x_i|^2 / 2`` are recomputed exactly.

    Per query: ``e_min`` (smallest energy so far), ``z = sum exp(-(E - e_min)/s^2)`` and
    ``s = sum exp(-(E - e_min)/s^2) x_i``. Points arrive as a regular ``(rows, k)`` layout (each row's
    candidates, a prefix of them valid) and are handled in blocks small enough to stay in cache:
    gather, explicit differences, energies, weights, one batched product for ``s``, merge.
    """

    def __init__(self, B: int, d: int, a: float, inv_s2: float, device):
        self.a, self.inv_s2 = a, inv_s2
        f64 = torch.float64
        self.e_min = torch.full((B,), math.inf, dtype=f64, device=device)
        self.z = torch.zeros(B, dtype=f64, device=device)
        self.s = torch.zeros(B, d, dtype=f64, device=device)

    def add(self, x64: torch.Tensor, c: torch.Tensor, rows: torch.Tensor, idx: torch.Tensor,
            valid: torch.Tensor | None = None) -> None:
        """Points ``c[idx[r]]`` for the queries ``rows`` (unique); ``valid`` masks ``idx`` (None: all)."""
        R, k = idx.shape
        d = x64.shape[1]
        kb = max(1, min(k, _ENERGY_ELEMENTS // d))
        rb = max(1, _ENERGY_ELEMENTS // (kb * d))
        for r0 in range(0, R, rb):
            rr = rows[r0:r0 + rb]
            xr = x64.index_select(0, rr)[:, None, :]
            for k0 in range(0, k, kb):
                ii = idx[r0:r0 + rb, k0:k0 + kb]
                pts = c[ii].to(torch.float64)                                  # (b, kb, d)
                energy = 0.5 * torch.sub(xr, pts, alpha=self.a).square_().sum(2)  # explicit differences
                if valid is not None:
                    energy.masked_fill_(~valid[r0:r0 + rb, k0:k0 + kb], math.inf)
                e_loc = energy.amin(1)
                if k0 > 0:                                       # a later block may hold no valid point of a row
                    keep = torch.isfinite(e_loc)
                    if not bool(keep.all()):
                        rr_k, energy, pts, e_loc = rr[keep], energy[keep], pts[keep], e_loc[keep]
                    else:
                        rr_k = rr
                else:
                    rr_k = rr
                w = torch.exp((e_loc[:, None] - energy) * self.inv_s2)          # <= 1, the smallest is 1
                self._merge(rr_k, e_loc, w.sum(1), torch.bmm(w[:, None, :], pts).squeeze(1))

    def _merge(self, rows, e_loc, z_loc, s_loc):
        e_old = self.e_min.index_select(0, rows)
        e_new = torch.minimum(e_old, e_loc)
        f_old = torch.where(torch.isinf(e_old), 0.0, torch.exp((e_new - e_old) * self.inv_s2))
        f_new = torch.exp((e_new - e_loc) * self.inv_s2)
        self.z[rows] = self.z.index_select(0, rows) * f_old + z_loc * f_new
        self.s[rows] = self.s.index_select(0, rows) * f_old[:, None] + s_loc * f_new[:, None]
        self.e_min[rows] = e_new


def _posterior_mean64(x: torch.Tensor, t: float, data: torch.Tensor, chunk_size: int | None,
                      num_candidates: int) -> torch.Tensor:
    """``E[X_0 | X_t = x] = sum_i w_i(x) x_i`` in float64, shape ``(B, d)``, in one pass over chunks of ``data``.

    See the module docstring for the method. Per chunk and query, the ``k = num_candidates`` largest
    logits and the margin decide: a query with at most ``k`` points within the margin has exactly those
    recomputed (exact part; the rest is negligible); a query with more has its top ``k`` recomputed
    and the rest summed in the working dtype (dense part: ``m_d``, the running maximum logit of its
    points, ``Z_d = sum exp((G_i - m_d)/s^2)``, ``S_d = sum exp(...) x_i``) -- unless the float32 error
    bound exceeds a logit (tiny ``t`` with a cluster of near-duplicates), where all of them are recomputed.
    """
    a, s2 = alpha(t), sigma(t) ** 2
    (B, d), n = x.shape, data.shape[0]
    dev, dt = x.device, x.dtype
    f64 = torch.float64
    chunk = min(_chunk_rows(chunk_size, B, n), n)
    k = num_candidates
    inv_s2 = 1.0 / s2
    err_const = _matmul_unit_roundoff(x) * (math.sqrt(d) + 16.0)
    drop = (_DROP_LOGITS + _DROP_EXTRA * math.log(n)) * s2        # in energy units (logits times s^2)
    exp_floor = math.log(torch.finfo(dt).tiny) + 1.0               # exp below this is negligible (and slow)

    x64 = x.to(f64)
    x_norm = torch.linalg.vector_norm(x64, dim=1)
    m = torch.full((B,), -math.inf, dtype=dt, device=dev)        # running max of G over all points
    err = torch.zeros(B, dtype=f64, device=dev)                  # running bound on the error of G
    m_d = z_d = s_d = None                                       # dense part, allocated when first needed
    exact = _ExactPart(B, d, a, inv_s2, dev)
    g_buf = torch.empty(B * chunk, dtype=dt, device=dev)

    for start in range(0, n, chunk):
        c = data[start:start + chunk]
        cs = c.shape[0]
        sq = torch.linalg.vector_norm(c, dim=1).square_()
        c_max = math.sqrt(sq.max().item())
        if not math.isfinite(c_max):                             # NaN and inf propagate into the norms
            raise ValueError("data contains NaN or infinite values (or entries whose squares overflow "
                             f"{str(dt).replace('torch.', '')})")
        g = g_buf[:B * cs].view(B, cs)
        torch.addmm(sq, x, c.T, beta=-0.5 * a * a, alpha=a, out=g)     # G = a x.x_i - a^2 |x_i|^2 / 2
        kc = min(k, cs)
        top, top_idx = g.topk(min(k + 1, cs), dim=1)             # sorted, largest first
        m = torch.maximum(m, top[:, 0])
        err = torch.maximum(err, err_const * (a * c_max * x_norm + 0.5 * a * a * c_max ** 2 + m.to(f64).abs()))
        threshold = (m.to(f64) - drop - 2.0 * err).to(dt)
        over = top[:, k] >= threshold if cs > k else torch.zeros(B, dtype=torch.bool, device=dev)
        force = over & (2.0 * err * inv_s2 > 1.0)                # float32 weights would be off by > 1 logit
        dense = over & ~force

        # exact part: each row's candidates within the margin are a prefix of its sorted top k
        valid = top[:, :kc] >= threshold[:, None]
        count = valid.sum(1)
        count[force] = 0
        rows = (count > 0).nonzero().squeeze(1)
        if rows.shape[0]:
            width = int(count.max())
            exact.add(x64, c, rows, top_idx[rows, :width], None if width == 1 else valid[rows, :width])
        if bool(force.any()):                                    # all points in the margin, however many
            rows = force.nonzero().squeeze(1)
            gf = g.index_select(0, rows)
            width = int((gf >= threshold[rows, None]).sum(1).max())
            vals, idx = gf.topk(width, dim=1)
            exact.add(x64, c, rows, idx, vals >= threshold[rows, None])

        n_dense = int(dense.sum())
        if n_dense:                                              # dense rows: the rest of their points here
            rows = dense.nonzero().squeeze(1)
            idx = top_idx.index_select(0, rows)[:, :k]
            if m_d is None:
                m_d = torch.full((B,), -math.inf, dtype=dt, device=dev)
                z_d = torch.zeros(B, dtype=dt, device=dev)
                s_d = torch.zeros(B, d, dtype=dt, device=dev)
            gd = g if n_dense == B else g.index_select(0, rows)
            md_old = m_d if n_dense == B else m_d[rows]
            md_new = torch.maximum(md_old, top[:, k] if n_dense == B else top[rows, k])
            rescale = torch.exp((md_old - md_new).to(f64) * inv_s2).to(dt)
            gd.sub_(md_new[:, None]).mul_(inv_s2).clamp_min_(exp_floor).exp_()
            gd.scatter_(1, idx, 0.0)                             # the top k are in the exact part
            if n_dense == B:
                m_d = md_new
                z_d = z_d.mul_(rescale).add_(gd.sum(1))
                s_d = torch.addmm(s_d.mul_(rescale[:, None]), gd, c)
            else:
                m_d[rows] = md_new
                z_d[rows] = z_d[rows] * rescale + gd.sum(1)
                s_d[rows] = torch.addmm(s_d[rows] * rescale[:, None], gd, c)

    e_min, z_e, s_e = exact.e_min, exact.z, exact.s
    if m_d is None:
        return s_e.div_(z_e[:, None])

    # Combine: each part's largest term is exactly 1; shift both to the overall smallest energy.
    has_d = z_d > 0
    e_d = torch.where(has_d, 0.5 * x_norm.square() - m_d.to(f64), math.inf)
    e0 = torch.minimum(e_min, e_d)
    f_e = torch.where(torch.isinf(e_min), 0.0, torch.exp((e0 - e_min) * inv_s2))
    f_d = torch.where(has_d, torch.exp((e0 - e_d) * inv_s2), 0.0)
    z = z_e * f_e + z_d.to(f64) * f_d
    s = s_e * f_e[:, None] + s_d.to(f64) * f_d[:, None]
    return s.div_(z[:, None])


def _posterior_mean64_autograd(x: torch.Tensor, t: float, data: torch.Tensor) -> torch.Tensor:
    """The posterior mean in float64 as a differentiable function of ``x`` and ``data`` (any order).

    Values from the exact energies (explicit differences); gradients through the expanded form
    ``|x|^2/2 - a x.x_i + a^2 |x_i|^2/2`` of the same energies (``value + (f - f.detach())`` keeps the
    exact value and takes ``f``'s derivatives). Memory ``O(B n + (B + n) d)``: for small problems.
    """
    a, s2 = alpha(t), sigma(t) ** 2
    x64, data64 = x.to(torch.float64), data.to(torch.float64)
    with torch.no_grad():
        logits, e_min = _exact_logits64(x, t, data)
        exact = e_min[:, None] - logits * s2
    expanded = torch.addmm((0.5 * a * a) * data64.square().sum(1), x64, data64.T, alpha=-a) \
        + 0.5 * x64.square().sum(1, keepdim=True)
    energy = exact + (expanded - expanded.detach())
    w = torch.softmax((e_min[:, None] - energy) / s2, 1)
    return w @ data64


def _mean64(x, t, data, chunk_size, num_candidates):
    if torch.is_grad_enabled() and (x.requires_grad or data.requires_grad):
        check_points(data, "data")
        return _posterior_mean64_autograd(x, t, data)
    return _posterior_mean64(x, t, data, chunk_size, num_candidates)


def empirical_score(x: torch.Tensor, t, data: torch.Tensor, *, chunk_size: int | None = None,
                    num_candidates: int = _NUM_CANDIDATES) -> torch.Tensor:
    """Score of the noised empirical law, ``grad log p^_t(x) = sum_i w_i(x) (a_t x_i - x) / s_t^2``.

    Args:
        x: queries, shape ``(B, d)``.
        t: diffusion time, a finite real ``> 0`` (Python or NumPy scalar, or a one-element tensor), no
            smaller than ``validation.smallest_time(x.dtype)``.
        data: training points ``x_1..x_n``, shape ``(n, d)``, same dtype and device as ``x``.
        chunk_size: rows of ``data`` processed at once (memory ``~ B * chunk_size``); automatic if None.
        num_candidates: per query and chunk, the most points near the top recomputed exactly in float64;
            a query with more such points takes that chunk through the dense (working-dtype) path.

    Returns:
        Tensor of shape ``(B, d)``, dtype of ``x``; always finite (a ``ValueError`` if the true score
        does not fit the dtype). When ``x`` or ``data`` requires grad (and grad mode is on) the result
        is differentiable; it then comes from an explicit float64 path meant for small problems.
    """
    t = _check_inputs(x, t, data, scan_data=False)
    num_candidates = check_positive_int(num_candidates, "num_candidates")
    mean = _mean64(x, t, data, chunk_size, num_candidates)
    # (a m - x) / s^2 in this order: a point sitting on a training point gives 0, not inf - inf
    return _finite_in(mean.mul_(alpha(t)).sub_(x).div_(sigma(t) ** 2), x.dtype, "the empirical score", t)


def posterior_mean(x: torch.Tensor, t, data: torch.Tensor, *, chunk_size: int | None = None) -> torch.Tensor:
    """``E[X_0 | X_t = x] = sum_i w_i(x) x_i`` under the empirical law, shape ``(B, d)``."""
    t = _check_inputs(x, t, data, scan_data=False)
    return _mean64(x, t, data, chunk_size, _NUM_CANDIDATES).to(x.dtype)


def _exact_logits64(x: torch.Tensor, t: float, data: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(-(E_i - E_min) / s_t^2, E_min)`` in float64 with ``E_i = |x - a_t x_i|^2 / 2`` from explicit differences.

    Shape ``(B, n)`` and ``(B,)``; chunked over data. Shifting by the smallest energy before dividing by
    ``s_t^2`` keeps the largest logit of each row at exactly 0 for every ``t`` (no ``-inf - -inf``).
    """
    a = alpha(t)
    x64 = x.to(torch.float64)
    chunk = _chunk_rows(None, x.shape[0] * x.shape[1], data.shape[0])
    parts = []
    for start in range(0, data.shape[0], chunk):
        diff = x64[:, None, :] - a * data[None, start:start + chunk].to(torch.float64)
        parts.append(0.5 * (diff * diff).sum(-1))
    energy = torch.cat(parts, 1)
    e_min = energy.amin(1)
    return (e_min[:, None] - energy) / sigma(t) ** 2, e_min


def empirical_log_prob(x: torch.Tensor, t, data: torch.Tensor) -> torch.Tensor:
    """``log p^_t(x) = logsumexp_i(-|x - a_t x_i|^2 / (2 s_t^2)) - log n - (d/2) log(2 pi s_t^2)``, shape ``(B,)``."""
    t = _check_inputs(x, t, data)
    n, d = data.shape
    s2 = sigma(t) ** 2
    logits, e_min = _exact_logits64(x, t, data)
    return (torch.logsumexp(logits, 1) - e_min / s2 - math.log(n) - 0.5 * d * math.log(2 * math.pi * s2)).to(x.dtype)


def posterior_weights(x: torch.Tensor, t, data: torch.Tensor) -> torch.Tensor:
    """``w_i(x) = P(X_0 = x_i | X_t = x)``, shape ``(B, n)``, rows summing to one."""
    t = _check_inputs(x, t, data)
    return torch.softmax(_exact_logits64(x, t, data)[0], 1).to(x.dtype)


def _posterior_cov64(x: torch.Tensor, t: float, data: torch.Tensor) -> torch.Tensor:
    w = torch.softmax(_exact_logits64(x, t, data)[0], 1)
    data64 = data.to(torch.float64)
    m = w @ data64
    B, d = x.shape
    cov = torch.zeros(B, d, d, dtype=torch.float64, device=x.device)
    chunk = _chunk_rows(None, B * d, data.shape[0])
    for start in range(0, data.shape[0], chunk):
        centred = data64[None, start:start + chunk] - m[:, None, :]          # (B, c, d)
        cov.baddbmm_((centred * w[:, start:start + chunk, None]).transpose(1, 2), centred)
    return cov


def posterior_cov(x: torch.Tensor, t, data: torch.Tensor) -> torch.Tensor:
    """``Cov[X_0 | X_t = x] = sum_i w_i (x_i - m)(x_i - m)^T`` with ``m = E[X_0 | X_t = x]``, shape ``(B, d, d)``.

    Computed in float64 from explicit differences, in centred form (no ``E[XX^T] - mm^T``
    cancellation); memory ``O(B n + B d^2)`` plus chunks of ``B x c x d``, meant for moderate ``d``.
    """
    t = _check_inputs(x, t, data)
    return _posterior_cov64(x, t, data).to(x.dtype)


def empirical_score_hessian(x: torch.Tensor, t, data: torch.Tensor) -> torch.Tensor:
    """``grad^2 log p^_t(x) = -I / s_t^2 + (a_t^2 / s_t^4) Cov[X_0 | X_t = x]``, shape ``(B, d, d)``.

    Computed in float64 as ``((a_t^2 / s_t^2) Cov / s_t^2) - I / s_t^2`` (no ``1/s_t^4`` that could overflow
    on its own); a ``ValueError`` if the Hessian itself does not fit the dtype of ``x``.
    """
    t = _check_inputs(x, t, data)
    a, s2 = alpha(t), sigma(t) ** 2
    hess = _posterior_cov64(x, t, data).div_(s2).mul_(a * a / s2)
    hess.diagonal(dim1=1, dim2=2).sub_(1.0 / s2)
    return _finite_in(hess, x.dtype, "the Hessian of log p^_t", t)
